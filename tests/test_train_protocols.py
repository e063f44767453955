"""Subject-independent folds: partitions, LOSO/LODO, split files, validation, and no synthetic leakage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miex.core.errors import MiexInputError
from miex.train.protocols import (
    Fold,
    kfold,
    load_folds,
    lodo,
    loso,
    make_fold,
    save_folds,
    subjects_of,
    trainable_synthetic,
    validate_fold,
)


def clip_table(subjects: list[tuple[str, str]], clips_per_subject: int = 2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        {"dataset": d, "subject": s, "clip": f"c{i}", "label": int(rng.integers(0, 3))}
        for d, s in subjects
        for i in range(clips_per_subject)
    ]
    return pd.DataFrame(rows)


subject_lists = st.lists(
    st.tuples(st.sampled_from(["casme2", "samm", "smic"]), st.sampled_from([f"s{i:02d}" for i in range(12)])),
    min_size=3,
    max_size=20,
    unique=True,
)


@settings(max_examples=40, deadline=None)
@given(subject_lists, st.integers(2, 5), st.integers(0, 1000), st.booleans())
def test_kfold_partitions_the_subjects(subjects: list[tuple[str, str]], k: int, seed: int, stratify: bool) -> None:
    table = clip_table(subjects, seed=seed)
    if len(subjects) < k:
        with pytest.raises(MiexInputError, match=f"needs at least {k} subjects"):
            kfold(table, k, seed=seed)
        return
    folds = kfold(table, k, seed=seed, stratify=stratify)
    everyone = set(subjects_of(table))
    assert len(folds) == k
    tested = [set(f.test_subjects) for f in folds]
    assert set().union(*tested) == everyone and sum(len(t) for t in tested) == len(everyone)
    for fold in folds:
        assert set(fold.train_subjects) == everyone - set(fold.test_subjects)
        validate_fold(fold, table)
    assert kfold(table, k, seed=seed, stratify=stratify) == folds  # seeded: same split every time


def test_stratified_kfold_spreads_classes() -> None:
    subjects = [("casme2", f"s{i}") for i in range(9)]
    table = pd.DataFrame(
        [{"dataset": d, "subject": s, "label": i % 3} for i, (d, s) in enumerate(subjects) for _ in range(2)]
    )  # each subject has one class; 3 subjects per class
    for fold in kfold(table, 3, seed=4, stratify=True):
        rows = table[[(d, s) in set(fold.test_subjects) for d, s in zip(table.dataset, table.subject, strict=True)]]
        assert sorted(rows["label"].unique()) == [0, 1, 2]


def test_loso_and_lodo() -> None:
    subjects = [("casme2", "sub01"), ("casme2", "sub02"), ("samm", "006"), ("smic", "s1")]
    table = clip_table(subjects)
    folds = loso(table)
    assert [f.name for f in folds] == ["casme2/sub01", "casme2/sub02", "samm/006", "smic/s1"]
    assert all(len(f.test_subjects) == 1 and len(f.train_subjects) == 3 for f in folds)
    by_dataset = {f.name: f for f in lodo(table)}
    assert set(by_dataset) == {"casme2", "samm", "smic"}
    assert by_dataset["casme2"].test_subjects == (("casme2", "sub01"), ("casme2", "sub02"))
    with pytest.raises(MiexInputError, match="at least 2 datasets"):
        lodo(clip_table(subjects[:2]))


def test_split_files_round_trip(tmp_path: Path) -> None:
    folds = kfold(clip_table([("samm", f"{i:03d}") for i in range(7)]), 3, seed=11)
    path = save_folds(folds, tmp_path / "folds.json", protocol="kfold", seed=11)
    assert load_folds(path) == folds
    assert (
        path.read_bytes()
        == save_folds(load_folds(path), tmp_path / "again.json", protocol="kfold", seed=11).read_bytes()
    )
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "miex.folds/1", "folds": [{"name": "x", "train_subjects": []}]}))
    with pytest.raises(MiexInputError, match="row 0"):
        load_folds(bad)
    with pytest.raises(MiexInputError, match="fold file not found"):
        load_folds(tmp_path / "missing.json")


def test_validation_errors() -> None:
    table = clip_table([("casme2", "sub01"), ("casme2", "sub02")])
    with pytest.raises(MiexInputError, match="both train and test"):
        validate_fold(make_fold("x", [("casme2", "sub01")], [("casme2", "sub01")]), table)
    with pytest.raises(MiexInputError, match="no test samples"):
        validate_fold(Fold("y", (("casme2", "sub01"),), (("samm", "006"),)), table)


@settings(max_examples=30, deadline=None)
@given(subject_lists, st.integers(2, 3), st.integers(0, 1000))
def test_no_training_row_derives_from_a_test_subject(subjects: list[tuple[str, str]], k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = 60
    picks = rng.integers(0, len(subjects), size)
    synthetic = pd.DataFrame(
        {
            "source": rng.choice(["mie", "mae", "expert"], size),
            "source_dataset": [subjects[i][0] for i in picks],
            "source_subject": [subjects[i][1] for i in picks],
            "identity": rng.choice(["id0", "id1"], size),
        }
    )
    for fold in kfold(clip_table(subjects), min(k, len(subjects)), seed=seed):
        kept = trainable_synthetic(fold, synthetic)
        test = set(fold.test_subjects)
        leaked = [(row.source_dataset, row.source_subject) in test for row in synthetic.iloc[kept].itertuples()]
        assert not any(leaked)  # whatever the source: mie and mae samples of a test subject alike
        dropped = synthetic.drop(index=synthetic.index[kept])
        assert all((d, s) in test for d, s in zip(dropped["source_dataset"], dropped["source_subject"], strict=True))


def test_missing_provenance_is_an_error() -> None:
    fold = make_fold("f", [("casme2", "sub01")], [("casme2", "sub02")])
    with pytest.raises(MiexInputError, match=r"lacks provenance column\(s\) \['source_subject'\]"):
        trainable_synthetic(fold, pd.DataFrame({"source": ["mie"], "source_dataset": ["casme2"]}))
