"""LOSO of a flow recognizer on a MEGC2019-sized flow-image corpus, end to end through the recipe runner; JSON.

The benchmark writes a flat composite flow release of the composite's shape (442 clips; CASME II 145 / 24 subjects,
SAMM 133 / 28, SMIC 164 / 16; classes 250 / 109 / 83; 28 x 28 u/v/strain PNGs with the releases' space before
``.png``), reads it with the flow-image reader and runs the recipe runner's leave-one-subject-out over it with
STSTNet's published schedule (Adam, lr 5e-5, batch 256, 500 epochs; ``--epochs`` and ``--folds`` scale it down).
The images carry a class-dependent motion blob in noise, so the run is timed on learnable data; its scores say
nothing about real micro-expressions.

Reported: wall time of the run (flow images read, every fold trained in ``--workers`` processes, pooled scores),
the time extrapolated to all 68 folds when fewer ran, the FLOPs of the training (forward + backward per sample,
counted by ``FlopCounterMode``, times samples seen) over the wall time, and that rate's fraction of the machine's
conv throughput measured in the same run on STSTNet's own first layer (a 3 -> 16, 3x3 conv at 28 x 28, batch 256,
forward + backward, one thread) times the workers. Target: all 68 folds at the published schedule in <= 600 s.

Usage: ``python benchmarks/bench_flow_loso.py [--model ststnet] [--epochs 500] [--folds 68] [--workers N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from bench_train import MEGC2019_PARTS
from timing import best_seconds
from torch.utils.flop_counter import FlopCounterMode

from miex.data.corpora import READERS, clips_to_frame
from miex.data.corpora.clips import FLOW_IMAGES, write_clip_table
from miex.data.faces.flow_image import scale_per_channel, write_flow_png
from miex.train.models import create_model
from miex.train.runner import run as run_recipe
from miex.train.runner.recipe import load_recipe
from miex.train.runner.specs import default_fold_workers

TARGET_SECONDS = 600.0
CENTRES = {0: (9, 14), 1: (20, 9), 2: (20, 19)}
"""Where each class's motion blob sits in the 28 x 28 image (brows; a mouth corner; the other corner)."""


def write_release(root: Path, seed: int = 0) -> Path:
    """A flat release of the composite's shape under ``root/release`` and its label CSV; returns the CSV."""
    rng = np.random.default_rng(seed)
    release = root / "release"
    release.mkdir(parents=True, exist_ok=True)
    rows = ["dataset,sub,filename_o,label"]
    yy, xx = np.mgrid[:28, :28]
    for part in MEGC2019_PARTS:
        subjects = [s if part.name != "smic" else f"s{int(s[1:]):02d}" for s in part.subjects]
        labels = [label for label, count in enumerate(part.per_class) for _ in range(count)]
        for index, label in enumerate(labels):
            subject = subjects[index % len(subjects)]
            clip = f"{subject}_{index:03d}"
            y, x = CENTRES[label]
            blob = np.exp(-((yy - y - rng.normal(0, 1.5)) ** 2 + (xx - x - rng.normal(0, 1.5)) ** 2) / 10.0)
            field = rng.normal(0.0, 0.6, (28, 28, 3))
            field[..., 0] += rng.uniform(0.5, 2.0) * blob
            field[..., 1] -= rng.uniform(0.5, 2.0) * blob
            field[..., 2] = np.abs(field[..., 2]) + blob
            write_flow_png(release / f"{subject}_{clip} .png", scale_per_channel(field))
            rows.append(f"{part.name},{subject},{clip},{label}")
    labels_csv = root / "labels.csv"
    labels_csv.write_text("\n".join(rows) + "\n")
    return labels_csv


def conv_peak(batch: int = 256) -> float:
    """FLOP/s of STSTNet's first layer (3 -> 16, 3x3, padding 2, 28 x 28), forward + backward, on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    conv = torch.nn.Conv2d(3, 16, 3, padding=2)
    x = torch.rand(batch, 3, 28, 28, requires_grad=True)

    def step() -> None:
        conv(x).sum().backward()

    seconds = best_seconds(step, 5, lambda: None)
    torch.set_num_threads(threads)
    forward = 2 * batch * 16 * 3 * 9 * 30 * 30
    return 3 * forward / seconds  # backward: gradients of the input and of the weights


def flops_per_sample(model_name: str) -> float:
    """Forward + backward FLOPs of one training sample (batch 256)."""
    model = create_model(model_name)
    model.train()
    x = torch.rand(256, 3, 28, 28) * 255
    labels = torch.randint(0, 3, (256,))
    counter = FlopCounterMode(display=False)
    with counter:
        model(pixel_values=x, labels=labels).loss.backward()
    return counter.get_total_flops() / 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="ststnet", choices=("ststnet", "offapexnet"))
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--folds", type=int, default=68)
    parser.add_argument("--workers", type=int, default=default_fold_workers())
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="miex-flow-loso-") as scratch:
        root = Path(scratch)
        labels = write_release(root)
        corpus = READERS["flow-images"](root / "release", labels=labels)
        table = write_clip_table(clips_to_frame(corpus.clips), root / "flows.parquet", holds=FLOW_IMAGES)
        recipe = {
            "name": "bench",
            "model": {"name": args.model},
            "data": {"real": {"clips": str(table)}},
            "protocol": {"kind": "loso", "workers": args.workers, "max_folds": args.folds},
            "training": {
                "epochs": args.epochs,
                "decay_epochs": 0,
                "learning_rate": 5.0e-5,
                "batch_size": 256,
                "eval_batch_size": 512,
                "weight_decay": 0,
                "max_grad_norm": 0,
            },
            "seeds": [0],
            "output": {"dir": str(root / "run"), "final_model": False},
        }
        (root / "recipe.yaml").write_text(yaml.safe_dump(recipe))
        os.environ.setdefault("MIEX_FLOW_CACHE", str(root / "cache"))
        started = time.perf_counter()
        payload = run_recipe(load_recipe(root / "recipe.yaml"), progress=False)
        seconds = time.perf_counter() - started
    folds = payload["protocol"]["folds"]
    samples = 442 * folds - payload["last_epoch"]["all"]["num_samples"]  # training samples over the folds run
    flops = flops_per_sample(args.model) * samples * args.epochs
    peak = conv_peak() * args.workers
    full = seconds * 68 / folds
    print(
        json.dumps(
            {
                "benchmark": "flow_loso",
                "model": args.model,
                "epochs": args.epochs,
                "folds_run": folds,
                "folds_defined": payload["protocol"]["folds_defined"],
                "workers": args.workers,
                "torch_threads_per_worker": 1,
                "wall_s": round(seconds, 1),
                "all_68_folds_s_extrapolated": round(full, 1),
                "target_s": TARGET_SECONDS,
                "within_target": full <= TARGET_SECONDS,
                "train_flops": flops,
                "achieved_flop_per_s": flops / seconds,
                "conv_peak_flop_per_s (STSTNet first layer, fwd+bwd, x workers)": peak,
                "fraction_of_conv_peak": flops / seconds / peak,
                "uf1_last_epoch (synthetic data, not a result)": payload["last_epoch"]["all"]["uf1"]["mean"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
