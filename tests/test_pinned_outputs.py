"""Pinned bytes of a small run: synthesized shards, trained weights and every figure miex draws.

A refactor must leave what miex writes byte for byte the same; these hashes say at once when it does not. A change
that is meant to alter outputs (a recalibrated generator, a new figure layout) updates :data:`PINNED` in the same
commit, so the review sees that the bytes changed on purpose: run this file, and paste the new values its failure
message prints.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from miex.cli import main
from miex.core.fileio import sha256_of
from miex.train.api import train_recognizer
from miex.train.data import real_features
from miex.train.runner.outputs import FoldResult, plot_confusion, plot_curves

PINNED: dict[str, str] = {
    # miex synthesize (embedded default faces, warp generator): SYNTHESIS below
    "synthesis/data/train-00000-of-00002.parquet": "d46010b5057240babd6f9d7597eb29b735076172cb1fe182cb07af91bd460a2f",
    "synthesis/data/train-00001-of-00002.parquet": "a25283705e6ecba192b6d60289d41b26d76f9afeb19edf1710d42baac7398c11",
    "synthesis/README.md": "f3c416d53fbce6a20b108c1510b3ad10d35de9f695e07ca7e33bdba12f221b96",
    "synthesis/plan.parquet": "71708aa46c51650dfda9885cecd84d49e234868716a7d5e67a266528ecb774c3",
    "synthesis/images/sample_grid.png": "9b693a07c017137f5429514c23135cc643733a2c5811a5321463a60a56e57f9b",
    "synthesis/images/au_distribution.png": "aea5e0c864e20b730975106aa83d1aa614f212b2f1d59c68509ac27d9fe211c2",
    # miex eval-generator's grid: EVAL_GENERATOR below
    "eval-generator/grid.png": "9d1b96c9e57860b54aea6d64b4c50b68db11b25a859e2e628ac17a17990725a4",
    # train_recognizer on tiny_clips(), seeded, one thread: TRAINING below
    "training/model.safetensors": "b9b34eab1b1f8311bba96dc448fe68d0f42616875ae9805c4c722f9bf400c1d2",
    # the runner's figures drawn from fixed numbers: FIGURES below
    "figures/confusion_matrix.png": "e255d44ad08ee8a689ff8e5f65e91ff65bbd5e843e0278cfcbd08aec3c2bec87",
    "figures/training_curves.png": "4f4bc3914289b78151cda35b13beb99753cfbdc309b177fe17d3049136d2e392",
}
"""sha256 of each pinned output, by ``<run>/<file>``."""

SYNTHESIS = ["synthesize", "--samples-per-identity", "8", "--shard-size", "4", "--batch-size", "4"]
EVAL_GENERATOR = ["eval-generator", "--generator", "warp", "--size", "64", "--aus", "AU12", "--intensities", "0", "5"]
TINY_MODEL = {"encoder": {"hidden_sizes": [4, 4, 4, 4], "depths": [1, 1, 1, 1], "embedding_size": 4}}
TRAINING = {
    "model": "branches",
    "head_hidden": [8],
    "epochs": 1,
    "decay_epochs": 1,
    "batch_size": 4,
    "resize": 72,
    "crop_size": 64,
    "num_workers": 0,
    "seed": 3,
}


def assert_pinned(run: str, folder: Path) -> None:
    """Every pin of ``run`` matches the file under ``folder``; a mismatch names each changed file and its new hash."""
    pins = {key: value for key, value in PINNED.items() if key.startswith(f"{run}/")}
    found = {key: sha256_of(folder / key.removeprefix(f"{run}/")) for key in pins}
    changed = {key: value for key, value in found.items() if value != pins[key]}
    if changed:
        lines = "\n".join(f'    "{key}": "{value}",' for key, value in changed.items())
        pytest.fail(
            f"{run}: the bytes of {', '.join(sorted(changed))} changed. If the change is meant (say, a recalibrated "
            f"generator or a new figure layout), replace these entries of PINNED in {Path(__file__).name}:\n{lines}\n"
            "If it is not, the edit changed output that must stay byte-identical.",
            pytrace=False,
        )


def tiny_clips(count: int = 8) -> datasets.Dataset:
    """Real-clip rows (noise with a bright band whose position is the class), the same on every machine."""
    rng = np.random.default_rng(1)

    def face(label: int) -> Image.Image:
        pixels = rng.integers(0, 120, (32, 32, 3), dtype=np.uint8)
        pixels[label * 32 // 3 : (label + 1) * 32 // 3] += 120
        return Image.fromarray(pixels)

    labels = [(i + 1) % 3 for i in range(count)]
    rows = {
        "onset": [face(0) for _ in labels],
        "apex": [face(label) for label in labels],
        "label": labels,
        "dataset": ["casme2"] * count,
        "subject": [f"sub{i % 2:02d}" for i in range(count)],
        "clip": [f"EP{i:02d}" for i in range(count)],
    }
    return datasets.Dataset.from_dict(rows, features=real_features())


@pytest.mark.usefixtures("private_cache")
def test_synthesized_shards_and_card_figures_are_pinned(tmp_path: Path) -> None:
    assert main([*SYNTHESIS, "--out", str(tmp_path)]) == 0
    card = tmp_path / "README.md"  # names the folder it was written to: the one part that differs between runs
    card.write_bytes(card.read_bytes().replace(str(tmp_path).encode(), b"OUT"))
    assert_pinned("synthesis", tmp_path)


@pytest.mark.usefixtures("private_cache")
def test_eval_generator_grid_is_pinned(tmp_path: Path) -> None:
    assert main([*EVAL_GENERATOR, "--out", str(tmp_path / "report.json"), "--grid", str(tmp_path / "grid.png")]) == 0
    assert_pinned("eval-generator", tmp_path)


def test_trained_weights_are_pinned(tmp_path: Path) -> None:
    torch.set_num_threads(1)  # a sum split over threads may round differently
    train_recognizer(tiny_clips(), output_dir=tmp_path, **TRAINING, **TINY_MODEL)
    assert_pinned("training", tmp_path)


def test_runner_figures_are_pinned(tmp_path: Path) -> None:
    names = ["negative", "positive", "surprise"]
    plot_confusion(np.array([[5, 1, 0], [2, 3, 1], [0, 0, 4]]), names, tmp_path / "confusion_matrix.png", "LOSO")
    history = [
        {"epoch": 1.0, "loss": 1.1},
        {"epoch": 1.0, "eval_loss": 1.0, "eval_uf1": 0.4},
        {"epoch": 2.0, "loss": 0.7},
        {"epoch": 2.0, "eval_loss": 0.9, "eval_uf1": 0.6},
    ]
    results = [
        FoldResult(
            seed=seed,
            fold="fold0",
            test_subjects=[("casme2", "sub01")],
            datasets=["casme2"],
            subjects=["sub01"],
            clips=["EP01"],
            truth=np.array([0]),
            last=np.array([0]),
            history={"train": [{**h, "loss": h["loss"] + seed} if "loss" in h else h for h in history]},
        )
        for seed in (0, 1)
    ]
    plot_curves(results, ["train"], tmp_path / "training_curves.png")
    assert_pinned("figures", tmp_path)
