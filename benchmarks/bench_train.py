"""Recognizer training throughput and MiE-X loading throughput, printed as JSON.

- training: Branches (two ResNet-18 encoders, docs/reference.md §Recognizers) at 224², one optimiser step = forward +
backward + gradient
  clipping + Adam, as the Trainer runs it. Reports samples/s, FLOPs per sample (``FlopCounterMode``) and the achieved
  fraction of the machine's conv throughput measured in the same run on a representative layer (128 -> 128 3x3 conv at
  56x56, ResNet-18's second stage) and of its matmul throughput. CPU in fp32; with CUDA also bf16 autocast +
  channels_last.
- loading: samples/s of the training input pipeline from a MiE-X folder (parquet shards of 128² PNG frames): decode
  both frames, resize to 256, rotation, colour jitter, random 224 crop, normalise, collate, through a ``DataLoader``
  with 0 and N workers. Ratios: per-worker pipeline rate over the rate of PNG decoding alone (the floor cost), and
  loader rate over the training rate measured above (>= 1: the loader does not starve training on that device).

- LOSO memory (``--loso-rss``): the recipe runner over all 68 leave-one-subject-out folds of a MEGC2019-sized corpus
  (442 clips: CASME II 145 clips / 24 subjects, SAMM 133 / 28, SMIC 164 / 16; classes 250 / 109 / 83; onset and apex
  frames on disk at the real resolutions, an off-centre face in each) with a MiE-X pre-training stage on a
  45k-sample MiE-X folder, batch 32 on CPU, a few optimiser steps per stage (memory over the whole protocol, not
  accuracy). Reports the peak memory of the process tree (main + DataLoader workers; RSS and PSS, sampled in a
  thread), the main process's memory after each fold (growth per fold), wall time and the aligned-clip cache
  counters. Corpus and MiE-X are written once under ``--cache-dir`` and reused. The runner bounds glibc's heap
  (``src/miex/train/memory.py``); ``--loso-unbounded-heap`` measures without that, for comparison.

Usage: ``python benchmarks/bench_train.py [--miex DIR] [--batch B] [--steps S] [--workers N] [--samples K]``
(without ``--miex`` a temporary MiE-X folder of astronaut-face frames is written first);
``python benchmarks/bench_train.py --loso-rss [--loso-steps S] [--loso-encoder tiny|resnet18] [--loso-folds N]
[--loso-unbounded-heap]``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import psutil
import torch
from PIL import Image
from timing import best_seconds
from torch.utils.flop_counter import FlopCounterMode

from miex.train.data import Collator, load_miex, with_model_inputs
from miex.train.models import create_model

SIZE = 224


def _peaks(device: torch.device, dtype: torch.dtype, repeats: int, sync: Callable[[], None]) -> dict[str, float]:
    """Measured conv and matmul FLOP/s on this device and dtype (the limits the training rate is compared with)."""
    memory = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    conv = torch.nn.Conv2d(128, 128, 3, 1, 1, bias=False).to(device, dtype, memory_format=memory)
    x = torch.randn(8, 128, 56, 56, device=device, dtype=dtype).to(memory_format=memory)
    side = 2048 if device.type == "cuda" else 1024
    a = torch.randn(side, side, device=device, dtype=dtype)
    with torch.inference_mode():
        conv_rate = 2 * 8 * 128 * 128 * 9 * 56 * 56 / best_seconds(lambda: conv(x), repeats, sync)
        matmul_rate = 2 * side**3 / best_seconds(lambda: a @ a, repeats, sync)
    return {"conv": conv_rate, "matmul": matmul_rate}


def bench_training(device: torch.device, batch: int, steps: int, bf16: bool) -> dict[str, object]:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(0)
    model = create_model("branches").to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=5e-4)
    inputs = {
        "pixel_values_onset": torch.randn(batch, 3, SIZE, SIZE, device=device),
        "pixel_values_apex": torch.randn(batch, 3, SIZE, SIZE, device=device),
        "labels": torch.arange(batch, device=device) % 3,
    }

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    counter = FlopCounterMode(display=False)
    with counter:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs).loss
        loss.backward()
    optimizer.zero_grad(set_to_none=True)
    flops = counter.get_total_flops()
    seconds = best_seconds(step, steps, sync)
    peaks = _peaks(device, torch.bfloat16 if bf16 else torch.float32, 3, sync)
    achieved = flops / seconds
    return {
        "device": str(device),
        "dtype": "bf16 autocast" if bf16 else "fp32",
        "threads": torch.get_num_threads(),
        "batch": batch,
        "samples_per_s": round(batch / seconds, 2),
        "gflop_per_sample": round(flops / batch / 1e9, 2),
        "achieved_gflops": round(achieved / 1e9, 1),
        "conv_gflops_measured": round(peaks["conv"] / 1e9, 1),
        "matmul_gflops_measured": round(peaks["matmul"] / 1e9, 1),
        "fraction_of_conv_throughput": round(achieved / peaks["conv"], 3),
        "fraction_of_matmul_throughput": round(achieved / peaks["matmul"], 3),
    }


def write_miex(folder: Path, samples: int) -> Path:
    """A MiE-X-format folder (onset/apex 128² PNG frames in a parquet shard) made from shifted astronaut faces."""
    from skimage.data import astronaut

    face = Image.fromarray(astronaut()[20:220, 150:350]).resize((144, 144), Image.BILINEAR)
    rng = np.random.default_rng(0)
    rows: dict[str, list] = {
        "onset": [],
        "apex": [],
        "label": [],
        "source": [],
        "source_dataset": [],
        "source_subject": [],
    }
    for index in range(samples):
        left, top = (int(v) for v in rng.integers(0, 16, 2))
        crop = face.crop((left, top, left + 128, top + 128))
        rows["onset"].append(crop)
        rows["apex"].append(crop.rotate(float(rng.uniform(-3, 3))))
        rows["label"].append(index % 3)
        rows["source"].append(index % 3)
        rows["source_dataset"].append("")
        rows["source_subject"].append("")
    features = datasets.Features(
        {
            "onset": datasets.Image(),
            "apex": datasets.Image(),
            "label": datasets.ClassLabel(names=["negative", "positive", "surprise"]),
            "source": datasets.ClassLabel(names=["mie", "mae", "expert"]),
            "source_dataset": datasets.Value("string"),
            "source_subject": datasets.Value("string"),
        }
    )
    (folder / "data").mkdir(parents=True, exist_ok=True)
    shard = folder / "data" / "train-00000-of-00001.parquet"
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(shard))
    return folder


def _loader_rate(dataset: datasets.Dataset, batch: int, workers: int, batches: int) -> float:
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        collate_fn=Collator(),
        generator=torch.Generator().manual_seed(0),
        persistent_workers=False,
    )
    iterator = iter(loader)
    next(iterator)  # start-up (worker spawn, first decode) is not throughput
    start = time.perf_counter()
    count = 0
    for _ in range(batches):
        try:
            count += len(next(iterator)["labels"])
        except StopIteration:
            break
    return count / (time.perf_counter() - start)


def bench_loading(folder: Path, batch: int, workers: int, batches: int) -> dict[str, object]:
    miex = load_miex(folder)
    config = create_model("branches", encoder={"hidden_sizes": [4, 4, 4, 4], "depths": [1, 1, 1, 1]}).config
    train = with_model_inputs(miex, config, train=True, seed=0)
    raw = miex.cast_column("onset", datasets.Image(decode=False)).cast_column("apex", datasets.Image(decode=False))
    pngs = [raw[i][c]["bytes"] for i in range(min(len(raw), 64)) for c in ("onset", "apex")]
    decode = best_seconds(lambda: [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in pngs], 3, lambda: None)
    decode_rate = len(pngs) / 2 / decode  # samples (2 frames) per second, one core
    single = _loader_rate(train, batch, 0, batches)
    result: dict[str, object] = {
        "samples_in_folder": len(miex),
        "frame_size": list(miex[0]["apex"].size),
        "batch": batch,
        "decode_only_samples_per_s_1core": round(decode_rate, 1),
        "pipeline_samples_per_s_0workers": round(single, 1),
        "pipeline_over_decode_only": round(single / decode_rate, 3),
    }
    if workers > 0:
        result[f"pipeline_samples_per_s_{workers}workers"] = round(_loader_rate(train, batch, workers, batches), 1)
    return result


# --------------------------------------------------------------------------------------------------------------
# LOSO memory over the whole protocol


@dataclass(frozen=True)
class CorpusPart:
    """One MEGC2019 corpus as the composite uses it: subjects, clips per class and how its frames are stored."""

    name: str
    subjects: list[str]
    per_class: tuple[int, int, int]  # negative, positive, surprise
    emotions: tuple[str, str, str]
    size: tuple[int, int]  # width, height of a raw frame
    grayscale: bool
    suffix: str
    fps: float


MEGC2019_PARTS = (
    CorpusPart(
        "casme2",
        [f"sub{i:02d}" for i in range(1, 25)],
        (88, 32, 25),
        ("disgust", "happiness", "surprise"),
        (640, 480),
        False,
        ".jpg",
        200.0,
    ),
    CorpusPart(
        "samm",
        [f"{i:03d}" for i in range(6, 34)],
        (92, 26, 15),
        ("anger", "happiness", "surprise"),
        (960, 650),
        True,
        ".jpg",
        200.0,
    ),
    CorpusPart(
        "smic",
        [f"s{i}" for i in range(1, 17)],
        (70, 51, 43),
        ("negative", "positive", "surprise"),
        (640, 480),
        False,
        ".bmp",
        100.0,
    ),
)
"""442 clips, 68 subjects (24 + 28 + 16), classes 250 / 109 / 83: MEGC2019 (docs/reference.md §Corpora)."""
CLIP_FRAMES = 30
"""Frames listed per clip; only the onset and apex files exist (all a frame model reads)."""
TINY_ENCODER = {"embedding_size": 4, "hidden_sizes": [4, 4, 4, 4], "depths": [1, 1, 1, 1]}
FIXTURE_VERSION = "1"


def _astronaut_face() -> Image.Image:
    from skimage.data import astronaut

    return Image.fromarray(astronaut()[0:260, 110:390])


def _raw_frame(face: Image.Image, part: CorpusPart, corner: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A raw corpus frame: textured background, the face (half the frame height) with its top-left at ``corner``."""
    width, height = part.size
    texture = rng.integers(70, 150, (height // 16, width // 16, 3), dtype=np.uint8)
    canvas = Image.fromarray(texture).resize(part.size, Image.BILINEAR)
    side = height // 2
    canvas.paste(face.resize((side, side), Image.BILINEAR), corner)
    return canvas.convert("L") if part.grayscale else canvas


def write_megc_corpus(root: Path, seed: int = 0) -> Path:
    """A MEGC2019-sized clip table (``root/compmie.parquet``) whose onset/apex frames sit under ``root/frames``."""
    from miex.data.corpora.clips import Clip, clips_to_frame, write_clip_table

    face, rng, clips = _astronaut_face(), np.random.default_rng(seed), []
    for part in MEGC2019_PARTS:
        labels = [label for label, count in enumerate(part.per_class) for _ in range(count)]
        for index, label in enumerate(labels):
            subject = part.subjects[index % len(part.subjects)]
            name = f"{subject}_{part.emotions[label][:3]}_{index:03d}"
            folder = root / "frames" / part.name / subject / name
            folder.mkdir(parents=True, exist_ok=True)
            first = int(rng.integers(1, 5000))
            numbers = list(range(first, first + CLIP_FRAMES))
            paths = [str(folder / f"img{number}{part.suffix}") for number in numbers]
            apex = int(rng.integers(8, CLIP_FRAMES - 5))
            width, height = part.size
            corner = (int(rng.integers(0, width - height // 2)), int(rng.integers(0, height // 2)))
            for frame, shift in ((0, 0), (apex, 2)):
                _raw_frame(face, part, (corner[0] + shift, corner[1]), rng).save(paths[frame])
            clips.append(
                Clip(
                    dataset=part.name,
                    subject=subject,
                    clip=name,
                    frames=paths,
                    frame_numbers=numbers,
                    onset=0,
                    apex=apex,
                    offset=CLIP_FRAMES - 1,
                    emotion=part.emotions[label],
                    label=label,
                    fps=part.fps,
                )
            )
    return write_clip_table(clips_to_frame(clips), root / "compmie.parquet")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_large_miex(folder: Path, samples: int, subjects: list[tuple[str, str]], *, shard_size: int = 1000) -> Path:
    """A MiE-X folder in the synthesis format (parquet shards with the MiE-X schema + a card whose YAML the library
    reads) with ``samples`` rows: a pool of 128² PNG onset/apex pairs is reused across rows (memory is the question,
    not image content), every row has its own ``sample_id`` and provenance; a third are ``mie`` rows naming the
    real ``subjects`` in turn, so each LOSO fold removes its test subject's rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from miex.data.aus.schema import NUM_AUS
    from miex.data.sources.triplet import SOURCES
    from miex.data.synthesis.card import card_data
    from miex.data.synthesis.schema import miex_features
    from miex.data.synthesis.shards import ROW_GROUP_SIZE, plan_shards

    face = _astronaut_face().resize((144, 144), Image.BILINEAR)
    rng = np.random.default_rng(0)
    pool = []
    for _ in range(48):
        left, top = (int(v) for v in rng.integers(0, 16, 2))
        crop = face.crop((left, top, left + 128, top + 128))
        pool.append((_png(crop), _png(crop.rotate(float(rng.uniform(-3, 3))))))
    features = miex_features()
    for shard in plan_shards(samples, shard_size):
        rows: dict[str, list] = {name: [] for name in features}
        for index in range(shard.start, shard.stop):
            source, label = SOURCES[index % 3], (index // 3) % 3
            dataset, subject = subjects[(index // 3) % len(subjects)] if source == "mie" else ("", "")
            if source == "mae":
                dataset, subject = "ckplus", f"S{100 + index % 50:03d}"
            onset, apex = pool[index % len(pool)]
            rows["onset"].append({"bytes": onset, "path": None})
            rows["apex"].append({"bytes": apex, "path": None})
            rows["label"].append(label)
            rows["source"].append(SOURCES.index(source))
            rows["emotion"].append(("disgust", "happiness", "surprise")[label])
            rows["onset_au"].append([0.0] * NUM_AUS)
            rows["apex_au"].append(rng.uniform(0, 5, NUM_AUS).astype(np.float32).tolist())
            rows["identity"].append(f"celeba-{index % 500:05d}")
            rows["source_dataset"].append(dataset)
            rows["source_subject"].append(subject)
            rows["source_clip"].append(f"{subject}_clip{index}" if subject else "")
            rows["generator"].append('{"name": "warp"}')
            rows["sample_id"].append(f"celeba-{index % 500:05d}-{source}-{label}-{index}")
            rows["seed"].append(index)
        path = shard.path(folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pydict(rows, schema=features.arrow_schema), path, row_group_size=ROW_GROUP_SIZE)
    card = card_data(folder, features, video=False).to_yaml()
    (folder / "README.md").write_text(f"---\n{card}\n---\n\n# MiE-X benchmark fixture\n", encoding="utf-8")
    return folder


def loso_fixtures(cache: Path, samples: int) -> tuple[Path, Path]:
    """Clip table and MiE-X folder under ``cache`` (written once; a marker file says a build finished)."""
    from miex.data.corpora.clips import read_clip_table

    root = cache / f"v{FIXTURE_VERSION}-miex{samples}"
    table, miex, done = root / "corpus" / "compmie.parquet", root / "miex", root / "complete"
    if not done.is_file():
        shutil.rmtree(root, ignore_errors=True)
        write_megc_corpus(root / "corpus")
        clips = read_clip_table(table)
        subjects = sorted({(str(d), str(s)) for d, s in clips[["dataset", "subject"]].itertuples(index=False)})
        write_large_miex(miex, samples, subjects)
        load_miex(miex)  # the Arrow cache datasets builds on first load, so the measured run starts warm
        done.write_text("ok\n", encoding="utf-8")
    return table, miex


class TreeMemory(threading.Thread):
    """Samples the memory of this process and all its descendants (DataLoader workers) until stopped.

    ``rss``: resident set summed over processes (counts pages shared by forked workers once per process, an upper
    bound); ``pss``: proportional set size summed (shared pages split between their users: the honest total);
    ``pss_anon``: its anonymous part (heap, tensors), without the file pages of memory-mapped Arrow data, which the
    kernel reclaims under pressure (Linux ``smaps_rollup``; None elsewhere)."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval, self.halt = interval, threading.Event()
        self.peak = {
            "rss_tree_mb": 0.0,
            "pss_tree_mb": 0.0,
            "pss_anon_tree_mb": 0.0,
            "rss_main_mb": 0.0,
            "processes": 0,
        }

    @staticmethod
    def snapshot() -> dict[str, float]:
        main = psutil.Process()
        rss = pss = anon = 0.0
        processes = [main, *main.children(recursive=True)]
        for process in processes:
            try:
                info = process.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            rss += info.rss
            pss += info.pss
            anon += _pss_anon(process.pid)
        mb = 1024.0 * 1024.0
        return {
            "rss_tree_mb": rss / mb,
            "pss_tree_mb": pss / mb,
            "pss_anon_tree_mb": anon / mb,
            "rss_main_mb": main.memory_info().rss / mb,
            "processes": len(processes),
        }

    def run(self) -> None:
        while not self.halt.wait(self.interval):
            for key, value in self.snapshot().items():
                self.peak[key] = max(self.peak[key], value)


def _pss_anon(pid: int) -> float:
    """Bytes of anonymous proportional memory of ``pid`` (0 where the kernel does not say)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss_Anon:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return 0.0


def aligned_cache_counters() -> dict[str, int] | None:
    """Hits and misses of the aligned-clip cache, where this installation has one (else None)."""
    try:
        from miex.train.aligned_clips import cache_stats
    except ImportError:
        return None
    return cache_stats()


def measure_loso(
    table: Path,
    miex: Path,
    out: Path,
    *,
    batch: int,
    steps: int,
    encoder: str,
    folds: int,
    aligned: Path,
    unbounded_heap: bool = False,
) -> dict[str, object]:
    """Run the recipe runner over the LOSO folds with ``steps`` optimiser steps per stage; memory and time."""
    from miex.data.corpora.clips import read_clip_table
    from miex.train.protocols import loso, save_folds
    from miex.train.runner import parse_recipe, stages

    runner = importlib.import_module("miex.train.runner.run")  # the package exports a function of the same name

    protocol: dict[str, object] = {"kind": "loso"}
    if folds:
        protocol = {"kind": "file", "file": str(save_folds(loso(read_clip_table(table))[:folds], out / "folds.json"))}
    model: dict[str, object] = {"name": "branches", "backbone": "random"}
    if encoder == "tiny":
        model["config"] = {"encoder": TINY_ENCODER}
    recipe = parse_recipe(
        {
            "name": "bench-loso-memory",
            "model": model,
            "data": {"real": {"clips": str(table), "alignment": {"cache": str(aligned)}}, "miex": str(miex)},
            "protocol": protocol,
            "training": {"epochs": 1, "decay_epochs": 0, "batch_size": batch, "eval_batch_size": batch},
            "stages": [{"name": "pretrain", "train": ["miex"]}, {"name": "finetune", "train": ["real"]}],
            "seeds": [0],
            "output": {"dir": str(out / "run"), "final_model": False},
        }
    )
    full_arguments, full_fold = stages.training_arguments, runner.run_fold

    def few_steps(*args: object, **kwargs: object) -> object:
        arguments = full_arguments(*args, **kwargs)
        arguments.max_steps = steps
        return arguments

    after_fold: list[dict[str, float]] = []

    def measured_fold(*args: object, **kwargs: object) -> object:
        result = full_fold(*args, **kwargs)
        gc.collect()
        after_fold.append(TreeMemory.snapshot())
        progress = {
            "fold": len(after_fold),
            "s": round(time.perf_counter() - start, 1),
            **after_fold[-1],
            "peak_pss_tree_mb": sampler.peak["pss_tree_mb"],
            "peak_rss_tree_mb": sampler.peak["rss_tree_mb"],
        }
        print(json.dumps(progress), file=sys.stderr, flush=True)  # a run cut short still shows the trend
        return result

    stages.training_arguments, runner.run_fold = few_steps, measured_fold
    if unbounded_heap:  # the allocator as glibc leaves it: the "before" figure of docs/reference.md §Training memory
        runner.bound_heap, runner.release_free_heap = (lambda: False), (lambda: None)
    sampler = TreeMemory()
    before = TreeMemory.snapshot()
    sampler.start()
    start = time.perf_counter()
    interrupted = False
    try:
        runner.run(recipe, overwrite=True, progress=False)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (a time limit): report the folds done so far
        interrupted = True
    finally:
        sampler.halt.set()
        sampler.join()
        stages.training_arguments, runner.run_fold = full_arguments, full_fold
    seconds = time.perf_counter() - start
    main = np.array([m["rss_main_mb"] for m in after_fold])
    tail = main[len(main) // 4 :]  # after the first folds (allocator warm-up, first worker forks)
    slope = float(np.polyfit(np.arange(len(tail)), tail, 1)[0]) if len(tail) > 1 else 0.0
    usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "clips": len(read_clip_table(table)),
        "miex_samples": len(load_miex(miex)),
        "folds": len(after_fold),
        "interrupted": interrupted,
        "batch": batch,
        "steps_per_stage": steps,
        "encoder": encoder,
        "heap": "unbounded" if unbounded_heap else "bounded (miex.train.memory)",
        "workers": recipe.stages[0].training.num_workers,
        "wall_s": round(seconds, 1),
        "s_per_fold": round(seconds / max(1, len(after_fold)), 2),
        "before_run": {k: round(v, 1) for k, v in before.items()},
        "peak": {k: round(v, 1) for k, v in sampler.peak.items()},
        "maxrss_main_mb": round(usage[0].ru_maxrss / 1024, 1),
        "maxrss_largest_child_mb": round(usage[1].ru_maxrss / 1024, 1),
        "main_rss_after_fold_mb": [round(float(v), 1) for v in main],
        "main_rss_growth_mb_per_fold": round(slope, 2),
        "main_rss_last_minus_first_fold_mb": round(float(main[-1] - main[0]), 1) if len(main) else 0.0,
        "aligned_clip_cache": aligned_cache_counters(),
    }


def loso_rss(args: argparse.Namespace) -> dict[str, object]:
    """Build (or reuse) the fixtures, then measure in a fresh interpreter so fixture writing is not in its memory."""
    cache = args.cache_dir
    datasets.config.HF_DATASETS_CACHE = cache / "hf-datasets"
    table, miex = loso_fixtures(cache, args.loso_samples)
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable,
            __file__,
            "--loso-measure",
            str(table),
            str(miex),
            scratch,
            "--loso-batch",
            str(args.loso_batch),
            "--loso-steps",
            str(args.loso_steps),
            "--loso-encoder",
            args.loso_encoder,
            "--loso-folds",
            str(args.loso_folds),
            "--cache-dir",
            str(cache),
            *(["--loso-unbounded-heap"] if args.loso_unbounded_heap else []),
        ]
        done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--miex", type=Path, help="a MiE-X folder (default: write a temporary one)")
    parser.add_argument("--samples", type=int, default=256, help="samples in the temporary MiE-X folder")
    parser.add_argument("--batch", type=int, default=8, help="training batch on CPU (GPU: --gpu-batch)")
    parser.add_argument("--gpu-batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=3, help="timed training steps (best of)")
    parser.add_argument("--loader-batch", type=int, default=64)
    parser.add_argument("--loader-batches", type=int, default=3)
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="DataLoader workers")
    parser.add_argument("--loso-rss", action="store_true", help="only the LOSO memory benchmark (see above)")
    parser.add_argument("--loso-batch", type=int, default=32)
    parser.add_argument("--loso-steps", type=int, default=1, help="optimiser steps per stage and fold")
    parser.add_argument(
        "--loso-encoder",
        choices=("tiny", "resnet18"),
        default="tiny",
        help="Branches encoders: tiny (memory of the data path and the fold loop) or the paper's "
        "ResNet-18 (adds its activations: use --loso-folds to keep the run short)",
    )
    parser.add_argument("--loso-folds", type=int, default=0, help="only the first N LOSO folds (0: all 68)")
    parser.add_argument("--loso-samples", type=int, default=45_000, help="MiE-X samples")
    parser.add_argument(
        "--loso-unbounded-heap",
        action="store_true",
        help="leave glibc's allocator as it is (the runner bounds it: src/miex/train/memory.py)",
    )
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "miex" / "bench_train"
    parser.add_argument("--cache-dir", type=Path, default=default_cache, help="where the LOSO fixtures are kept")
    parser.add_argument("--loso-measure", nargs=3, type=Path, help=argparse.SUPPRESS)  # TABLE MIEX SCRATCH (child)
    args = parser.parse_args()
    if args.loso_measure:
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # a time limit ends the run like Ctrl-C: reported
        datasets.config.HF_DATASETS_CACHE = args.cache_dir / "hf-datasets"
        table, miex, scratch = args.loso_measure
        print(
            json.dumps(
                measure_loso(
                    table,
                    miex,
                    scratch,
                    batch=args.loso_batch,
                    steps=args.loso_steps,
                    encoder=args.loso_encoder,
                    folds=args.loso_folds,
                    aligned=args.cache_dir / "aligned-clips",
                    unbounded_heap=args.loso_unbounded_heap,
                )
            )
        )
        return
    if args.loso_rss:
        print(json.dumps({"torch": torch.__version__, "cpu_count": os.cpu_count(), "loso": loso_rss(args)}, indent=2))
        return
    report: dict[str, object] = {"torch": torch.__version__, "image_size": SIZE, "cpu_count": os.cpu_count()}
    report["training_cpu"] = bench_training(torch.device("cpu"), args.batch, args.steps, bf16=False)
    if torch.cuda.is_available():
        report["cuda_device"] = torch.cuda.get_device_name()
        report["training_cuda"] = bench_training(torch.device("cuda"), args.gpu_batch, args.steps, bf16=True)
    with tempfile.TemporaryDirectory() as scratch:
        datasets.config.HF_DATASETS_CACHE = Path(scratch) / "cache"
        folder = args.miex or write_miex(Path(scratch) / "miex", args.samples)
        loading = bench_loading(folder, args.loader_batch, args.workers, args.loader_batches)
    best = max(v for k, v in loading.items() if k.startswith("pipeline_samples_per_s"))
    for name in ("training_cpu", "training_cuda"):
        if name in report:
            loading[f"loader_over_{name}"] = round(best / report[name]["samples_per_s"], 2)
    report["loading"] = loading
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
