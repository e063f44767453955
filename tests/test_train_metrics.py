"""UF1/UAR: pooled definition (docs/reference.md §Protocols and metrics), sklearn agreement, the offline evaluate
module."""

from __future__ import annotations

import evaluate
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score, recall_score

import miex.train.metrics as metrics
from miex.core.errors import MiexInputError
from miex.train.metrics import per_dataset, per_fold_mean, pool_folds, uf1_uar


@st.composite
def labelled(draw: st.DrawFn) -> tuple[list[int], list[int], int]:
    classes = draw(st.integers(2, 5))
    size = draw(st.integers(1, 40))
    labels = st.lists(st.integers(0, classes - 1), min_size=size, max_size=size)
    return draw(labels), draw(labels), classes


@settings(max_examples=60, deadline=None)
@given(labelled())
def test_pooled_scores_equal_sklearn_macro(case: tuple[list[int], list[int], int]) -> None:
    predictions, references, classes = case
    excluded = uf1_uar(predictions, references, classes)
    assert excluded["uf1"] == pytest.approx(f1_score(references, predictions, average="macro", zero_division=0))
    assert excluded["uar"] == pytest.approx(recall_score(references, predictions, average="macro", zero_division=0))
    assert excluded["num_classes_scored"] == len(set(predictions) | set(references))
    everything = list(range(classes))
    zero = uf1_uar(predictions, references, classes, absent="zero")
    assert zero["uf1"] == pytest.approx(
        f1_score(references, predictions, labels=everything, average="macro", zero_division=0)
    )
    assert zero["uar"] == pytest.approx(
        recall_score(references, predictions, labels=everything, average="macro", zero_division=0)
    )


@settings(max_examples=30, deadline=None)
@given(st.lists(labelled(), min_size=1, max_size=4))
def test_pool_folds_is_the_concatenation(cases: list[tuple[list[int], list[int], int]]) -> None:
    folds = [(p, r) for p, r, _ in cases]
    predictions = [label for p, _ in folds for label in p]
    references = [label for _, r in folds for label in r]
    concatenated = uf1_uar(predictions, references, 5)
    assert pool_folds(folds, 5) == concatenated


def test_per_fold_mean_is_a_different_number() -> None:
    folds = [([0, 0, 0], [0, 0, 1]), ([1, 1, 1, 1], [1, 1, 1, 0])]
    pooled, averaged = pool_folds(folds, 2), per_fold_mean(folds, 2)
    # pooled confusion [[2, 1], [1, 3]]: F1 = 4/6 and 6/8; each fold alone scores 0.8/0 and 0/0.857
    assert pooled["uf1"] == pytest.approx((4 / 6 + 6 / 8) / 2)
    assert averaged["uf1"] == pytest.approx((0.8 / 2 + (6 / 7) / 2) / 2)
    assert abs(pooled["uf1"] - averaged["uf1"]) > 0.05
    assert abs(pooled["uar"] - averaged["uar"]) > 0.05


def test_absent_class_convention_is_explicit() -> None:
    result = uf1_uar([0, 1, 1], [0, 1, 0], 3)
    assert result["num_classes_scored"] == 2 and result["f1_per_class"][2] is None
    assert uf1_uar([0, 1, 1], [0, 1, 0], 3, absent="zero")["uf1"] == pytest.approx(result["uf1"] * 2 / 3)
    with pytest.raises(MiexInputError, match="absent"):
        uf1_uar([0], [0], 3, absent="drop")


def test_per_dataset_restricts_the_pooled_predictions() -> None:
    rng = np.random.default_rng(0)
    predictions, references = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    names = rng.choice(["casme2", "samm", "smic"], 50)
    parts = per_dataset(predictions, references, names, 3)
    assert parts["all"] == uf1_uar(predictions, references, 3)
    for name in ("casme2", "samm", "smic"):
        rows = names == name
        assert parts[name] == uf1_uar(predictions[rows], references[rows], 3)


def test_bad_labels_are_errors() -> None:
    with pytest.raises(MiexInputError, match=r"references must lie in 0\.\.2"):
        uf1_uar([0, 1], [0, -1], 3)
    with pytest.raises(MiexInputError, match="2 predictions but 1 references"):
        uf1_uar([0, 1], [0], 3)


def test_evaluate_module_loads_offline_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    metric = evaluate.load(metrics.UF1_UAR)
    rng = np.random.default_rng(1)
    predictions, references = rng.integers(0, 3, 30).tolist(), rng.integers(0, 3, 30).tolist()
    for start in range(0, 30, 10):  # batches accumulate into one pooled computation
        metric.add_batch(predictions=predictions[start : start + 10], references=references[start : start + 10])
    assert metric.compute(num_classes=3) == uf1_uar(predictions, references, 3)


def test_metric_module_is_package_data() -> None:
    from importlib.resources import files

    assert (files("miex.train.metrics") / "uf1_uar" / "uf1_uar.py").is_file()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=60))
def test_the_class_count_is_inferred_when_not_given(pairs: list[tuple[int, int]]) -> None:
    """`miex.uf1_uar(predictions, references)` as the docs write it: classes 0..max seen, sklearn's macro scores."""
    predictions, references = [p for p, _ in pairs], [r for _, r in pairs]
    scores = uf1_uar(predictions, references)
    labels = sorted(set(references) | set(predictions))  # classes absent from both are left out ("exclude")
    assert scores["uar"] == pytest.approx(
        recall_score(references, predictions, labels=labels, average="macro", zero_division=0)
    )
    assert scores["uf1"] == pytest.approx(
        f1_score(references, predictions, labels=labels, average="macro", zero_division=0)
    )
