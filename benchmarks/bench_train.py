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

Usage: ``python benchmarks/bench_train.py [--miex DIR] [--batch B] [--steps S] [--workers N] [--samples K]``
(without ``--miex`` a temporary MiE-X folder of astronaut-face frames is written first).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import datasets
import numpy as np
import torch
from PIL import Image
from timing import best_seconds
from torch.utils.flop_counter import FlopCounterMode

from miex_train.data import Collator, load_miex, with_model_inputs
from miex_train.models import create_model

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
    rows: dict[str, list] = {"onset": [], "apex": [], "label": [], "source": [], "source_dataset": [],
                             "source_subject": []}  # fmt: skip
    for index in range(samples):
        left, top = (int(v) for v in rng.integers(0, 16, 2))
        crop = face.crop((left, top, left + 128, top + 128))
        rows["onset"].append(crop)
        rows["apex"].append(crop.rotate(float(rng.uniform(-3, 3))))
        rows["label"].append(index % 3)
        rows["source"].append(index % 3)
        rows["source_dataset"].append("")
        rows["source_subject"].append("")
    features = datasets.Features({
        "onset": datasets.Image(), "apex": datasets.Image(),
        "label": datasets.ClassLabel(names=["negative", "positive", "surprise"]),
        "source": datasets.ClassLabel(names=["mie", "mae", "expert"]),
        "source_dataset": datasets.Value("string"), "source_subject": datasets.Value("string"),
    })  # fmt: skip
    (folder / "data").mkdir(parents=True, exist_ok=True)
    shard = folder / "data" / "train-00000-of-00001.parquet"
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(shard))
    return folder


def _loader_rate(dataset: datasets.Dataset, batch: int, workers: int, batches: int) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers,
                                         collate_fn=Collator(), generator=torch.Generator().manual_seed(0),
                                         persistent_workers=False)  # fmt: skip
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
    args = parser.parse_args()
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
