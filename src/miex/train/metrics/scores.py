"""UF1 / UAR exactly as docs/reference.md §Protocols and metrics defines them: per-class counts pooled over every test
fold, then averaged.

``F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)`` and ``recall_c = TP_c / N_c`` are computed from ONE confusion matrix of
all out-of-fold predictions, so UF1/UAR equal macro F1 / macro recall on the concatenated predictions. Averaging
per-fold scores (:func:`per_fold_mean`) is a different, lower number, kept only to show the difference.

Absent classes (``absent=``): a class with no sample in the truth AND no prediction has 0/0 for both F1 and recall.
``"exclude"`` (default) leaves it out of the mean, like scikit-learn's macro average over the labels that occur;
``"zero"`` counts it as 0, like scikit-learn with ``labels=range(num_classes), zero_division=0``. Either way the
result states ``num_classes_scored``. A class predicted but absent from the truth is always scored: its F1 and its
recall are 0 (false positives only), as in scikit-learn with ``zero_division=0``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np

from miex.core.errors import MiexInputError

Absent = Literal["exclude", "zero"]
ABSENT_CHOICES: tuple[str, ...] = ("exclude", "zero")


def confusion(predictions: Sequence[int], references: Sequence[int], num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts, rows = truth, columns = prediction; out-of-range labels are an error."""
    predictions = np.asarray(predictions, dtype=np.int64).ravel()
    references = np.asarray(references, dtype=np.int64).ravel()
    if predictions.shape != references.shape:
        raise MiexInputError(f"{len(predictions)} predictions but {len(references)} references", field="predictions")
    for name, values in (("predictions", predictions), ("references", references)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise MiexInputError(
                f"{name} must lie in 0..{num_classes - 1}, found {values.min()}..{values.max()} "
                "(drop unlabelled -1 clips before scoring)",
                field=name,
            )
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (references, predictions), 1)
    return matrix


def scores_from_confusion(matrix: np.ndarray, *, absent: Absent = "exclude") -> dict[str, Any]:
    """UF1, UAR, per-class F1 / recall (None for an absent class) and the matrix itself."""
    if absent not in ABSENT_CHOICES:
        raise MiexInputError(f"absent must be one of {ABSENT_CHOICES}, got {absent!r}", field="absent")
    matrix = np.asarray(matrix, dtype=np.int64)
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)  # N_c = TP + FN
    predicted = matrix.sum(axis=0).astype(np.float64)  # TP + FP
    present = (support + predicted) > 0
    scored = present if absent == "exclude" else np.ones_like(present)
    denominator = support + predicted  # 2 TP + FP + FN
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    count = int(scored.sum())
    return {
        "uf1": float(f1[scored].mean()) if count else 0.0,
        "uar": float(recall[scored].mean()) if count else 0.0,
        "f1_per_class": [float(v) if p else None for v, p in zip(f1, present, strict=True)],
        "recall_per_class": [float(v) if s > 0 else None for v, s in zip(recall, support, strict=True)],
        "support": [int(v) for v in support],
        "confusion_matrix": matrix.tolist(),
        "num_classes_scored": count,
        "absent": absent,
    }


def uf1_uar(
    predictions: Sequence[int],
    references: Sequence[int],
    num_classes: int | None = None,
    *,
    absent: Absent = "exclude",
) -> dict[str, Any]:
    """UF1 and UAR of one pooled set of predictions (concatenate folds first, or use :func:`pool_folds`).
    ``num_classes`` defaults to the largest class id seen plus one; give it when a class may be missing from both
    the predictions and the references (MiE-X's 3 classes: 3)."""
    if num_classes is None:
        seen = [int(v) for v in (*predictions, *references)]
        num_classes = max(seen) + 1 if seen else 0
    return scores_from_confusion(confusion(predictions, references, num_classes), absent=absent)


def pool_folds(
    folds: Iterable[tuple[Sequence[int], Sequence[int]]], num_classes: int, *, absent: Absent = "exclude"
) -> dict[str, Any]:
    """The protocol's number: confusion matrices of all ``(predictions, references)`` folds SUMMED, then scored."""
    total = np.zeros((num_classes, num_classes), dtype=np.int64)
    for predictions, references in folds:
        total += confusion(predictions, references, num_classes)
    return scores_from_confusion(total, absent=absent)


def per_fold_mean(
    folds: Iterable[tuple[Sequence[int], Sequence[int]]], num_classes: int, *, absent: Absent = "exclude"
) -> dict[str, float]:
    """Mean of per-fold UF1/UAR: NOT the protocol's metric (docs/reference.md §Protocols and metrics); for comparison
    with papers that did this."""
    results = [uf1_uar(p, r, num_classes, absent=absent) for p, r in folds]
    if not results:
        raise MiexInputError("no folds given", field="folds")
    return {key: float(np.mean([r[key] for r in results])) for key in ("uf1", "uar")}


def per_dataset(
    predictions: Sequence[int],
    references: Sequence[int],
    datasets: Sequence[str],
    num_classes: int,
    *,
    absent: Absent = "exclude",
) -> dict[str, dict[str, Any]]:
    """Scores of each dataset of a composite from the SAME pooled predictions restricted to its rows, plus ``all``."""
    predictions = np.asarray(predictions, dtype=np.int64).ravel()
    references = np.asarray(references, dtype=np.int64).ravel()
    names = np.asarray(datasets, dtype=object).ravel()
    if names.shape != predictions.shape:
        raise MiexInputError(f"{len(names)} dataset names for {len(predictions)} predictions", field="datasets")
    result = {"all": uf1_uar(predictions, references, num_classes, absent=absent)}
    for name in sorted(set(names.tolist())):
        rows = names == name
        result[str(name)] = uf1_uar(predictions[rows], references[rows], num_classes, absent=absent)
    return result
