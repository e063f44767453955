"""Bounded memory over a protocol's folds (a 68-fold LOSO run trains every fold in one process).

- MiE-X stays memory-mapped: each fold's training rows are a view of the same Arrow cache files, no image bytes are
  copied into memory, whatever the fold filter removes.
- The provenance the fold filter reads is taken column-wise, once per dataset, without decoding a single image, and
  keeps exactly the rows the row-by-row rule keeps.
- Nothing of a finished stage or fold outlives it: its Trainer and model are gone when the next one starts, and a
  stage's optimizer state is dropped as soon as it has trained.

Absolute RSS figures are measured by ``benchmarks/bench_train.py --loso-rss``, not here.
"""

from __future__ import annotations

import importlib
import weakref
from pathlib import Path
from typing import Any

import corpus_fixtures as cf
import datasets
import miex_fixtures as mf
import numpy as np
import pytest
from datasets.table import ConcatenationTable, InMemoryTable

from miex.cli import main
from miex.data.plan.folds import trainable_mask
from miex.train.data import load_miex
from miex.train.protocols import make_fold, trainable_synthetic
from miex.train.protocols import splits as splits_module
from miex.train.runner import parse_recipe, preflight, run
from miex.train.runner.sources import training_set

run_module = importlib.import_module("miex.train.runner.run")  # the package exports a function of the same name

MIE_SUBJECTS = [("casme2", "sub01"), ("samm", "006"), ("smic", "s1")]
TINY_BRANCHES = {
    "encoder": {"hidden_sizes": [4, 4, 4, 4], "depths": [1, 1, 1, 1], "embedding_size": 4},
    "head_hidden": [8],
}


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``load_dataset`` caches under a temporary folder, never the user's."""
    cache = tmp_path_factory.getbasetemp() / "hf_datasets_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A composite clip table (3 corpora x 2 subjects x 3 classes) read by ``miex corpus`` and a 90-row MiE-X."""
    root = tmp_path_factory.mktemp("memory_data")
    emotions = {
        "casme2": ["disgust", "happiness", "surprise"],
        "samm": ["Anger", "Happiness", "Surprise"],
        "smic": ["negative", "positive", "surprise"],
    }
    subjects = {"casme2": [1, 2], "samm": [6, 7], "smic": [1, 2]}
    clips = []
    for dataset, numbers in subjects.items():
        for subject in numbers:
            for label, emotion in enumerate(emotions[dataset]):
                name = {
                    "casme2": f"EP{subject:02d}_{label:02d}",
                    "samm": f"{subject:03d}_{label}_1",
                    "smic": f"s{subject}_{emotion[:2]}_{label:02d}",
                }[dataset]
                clips.append(cf.CompositeClip(dataset, subject, name, emotion, label))
    megc = cf.build_composite(root / "megc", clips)
    assert main(["corpus", "megc2019", str(megc), "--out", str(root / "compmie.parquet")]) == 0
    mf.build_miex(root / "miex", MIE_SUBJECTS, identities=10, size=32)
    return {"clips": root / "compmie.parquet", "miex": root / "miex"}


def recipe(data: dict[str, Path], out: Path, protocol: dict[str, Any]) -> Any:
    return parse_recipe(
        {
            "name": "memory",
            "model": {"name": "branches", "config": TINY_BRANCHES},
            "data": {
                "real": {"clips": str(data["clips"]), "alignment": "none"},
                "miex": str(data["miex"]),
                "image": {"resize": 72, "crop_size": 64},
            },
            "protocol": protocol,
            "training": {"epochs": 1, "decay_epochs": 0, "batch_size": 32, "eval_batch_size": 32, "num_workers": 0},
            "stages": [{"name": "pretrain", "train": ["miex"]}, {"name": "finetune", "train": ["real"]}],
            "seeds": [0],
            "output": {"dir": str(out), "final_model": False},
        }
    )


def in_memory_bytes(dataset: datasets.Dataset) -> int:
    """Bytes of the dataset's Arrow blocks held in process memory (memory-mapped blocks cost none)."""
    table = dataset.data
    blocks = table.blocks if isinstance(table, ConcatenationTable) else [[table]]
    return sum(block.nbytes for row in blocks for block in row if isinstance(block, InMemoryTable))


def data_files(dataset: datasets.Dataset) -> set[str]:
    return {entry["filename"] for entry in dataset.cache_files}


def test_fold_training_rows_are_views_of_the_memory_mapped_miex(data: dict[str, Path], tmp_path: Path) -> None:
    plan = preflight(recipe(data, tmp_path / "run", {"kind": "loso"}))
    miex = plan.sources.miex
    assert data_files(miex) and in_memory_bytes(miex) == 0
    removed = []
    for fold in plan.folds:
        train, counts = training_set(fold, plan.sources, ["miex"])
        removed.append(counts["miex"]["removed"])
        assert len(train) == len(miex) - counts["miex"]["removed"]
        assert data_files(train) == data_files(miex), fold.name  # the same Arrow files, mapped, not copied
        assert in_memory_bytes(train) == 0, fold.name
        model_inputs = run_module.inputs(plan, train, run_module.new_model(plan, 0), train=True)
        assert data_files(model_inputs) == data_files(miex) and in_memory_bytes(model_inputs) == 0
    assert sum(removed) > 0  # the fold filter did select rows (each mie subject's test fold drops its samples)


@pytest.mark.parametrize("subject", [*MIE_SUBJECTS, ("casme2", "sub02"), ("smic", "s9")])
def test_provenance_is_read_once_without_images_and_keeps_the_same_rows(
    data: dict[str, Path], subject: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    miex = load_miex(data["miex"])
    expected = np.flatnonzero(trainable_mask(miex, {subject}))  # the row-by-row rule on the dataset itself
    splits_module._PROVENANCE.clear()

    def no_decoding(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("reading provenance decoded an image")

    monkeypatch.setattr(datasets.Image, "decode_example", no_decoding)
    fold = make_fold("f", [s for s in MIE_SUBJECTS if s != subject], [subject])
    kept = trainable_synthetic(fold, miex)
    assert np.array_equal(kept, expected)
    assert splits_module.provenance(miex) is splits_module.provenance(miex)  # one read per dataset
    assert len(splits_module._PROVENANCE) == 1


def test_nothing_of_a_finished_fold_outlives_it(
    data: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trainers: list[weakref.ref] = []
    models: list[weakref.ref] = []
    alive_at_fold_start: list[int] = []
    alive_at_stage_start: list[int] = []
    real_train_stage, real_run_fold = run_module.train_stage, run_module.run_fold

    def tracked_stage(model: Any, *args: Any, **kwargs: Any) -> Any:
        alive_at_stage_start.append(sum(ref() is not None for ref in trainers))  # not the previous stage's either
        outcome = real_train_stage(model, *args, **kwargs)
        assert outcome.trainer.optimizer is None and outcome.trainer.accelerator._optimizers == []
        trainers.append(weakref.ref(outcome.trainer))
        models.append(weakref.ref(model))
        return outcome

    def tracked_fold(*args: Any, **kwargs: Any) -> Any:
        alive_at_fold_start.append(sum(ref() is not None for ref in trainers + models))
        return real_run_fold(*args, **kwargs)

    monkeypatch.setattr(run_module, "train_stage", tracked_stage)
    monkeypatch.setattr(run_module, "run_fold", tracked_fold)
    run(recipe(data, tmp_path / "run", {"kind": "kfold", "k": 2, "seed": 0}), progress=False)
    assert len(trainers) == 4  # 2 folds x 2 stages
    assert alive_at_fold_start == [0, 0]
    assert alive_at_stage_start == [0, 0, 0, 0]
    assert all(ref() is None for ref in trainers + models)
