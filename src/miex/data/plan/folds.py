"""Fold-aware use of synthetic data (docs/reference.md §AU sources): a sample whose AUs come from a test-fold subject's
real clip must never be trained on in that fold, whatever its source: ``mie`` samples carry a micro-expression
subject, ``mae`` samples a macro-expression subject (the same people when MMEW's macro clips feed a run tested on
MMEW's micro clips), ``expert`` samples none (they are always trainable).

Subjects are named as the clip table names them (corpus folder names: ``sub01``, ``006``, ``s1``). A test subject is
a ``(dataset, subject)`` pair; a plain subject string is accepted only when exactly one dataset among the table's
mie rows has that subject, because e.g. ``s1`` could otherwise exist in two corpora.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.data.sources.triplet import SOURCES

PROVENANCE_COLUMNS: tuple[str, ...] = ("source", "source_dataset", "source_subject")
"""The columns that tell whether a synthetic sample derives from a real subject; the one definition (the
recognizers' fold filter, ``miex.train.protocols``, reads the same tuple)."""
TestSubject = tuple[str, str] | str


def _columns(table: Any) -> dict[str, np.ndarray]:
    """The three provenance columns of a DataFrame or a ``datasets.Dataset`` (no datasets import needed)."""
    names = list(table.columns) if isinstance(table, pd.DataFrame) else list(getattr(table, "column_names", []))
    missing = [c for c in PROVENANCE_COLUMNS if c not in names]
    if missing:
        raise MiexInputError(
            f"cannot tell which samples derive from test subjects: missing provenance column(s) {missing}"
        )
    columns = {c: np.asarray([str(v) for v in table[c]], dtype=object) for c in PROVENANCE_COLUMNS}
    names = getattr(getattr(table, "features", {}).get("source"), "names", None)
    if names is not None:  # a MiE-X dataset stores ``source`` as ClassLabel(mie, mae, expert): compare names, not ids
        columns["source"] = np.asarray([names[int(v)] for v in columns["source"]], dtype=object)
    unknown = sorted(set(columns["source"]) - set(SOURCES))
    if unknown:  # e.g. bare class ids: they would never equal "mie", so test-subject samples would leak into training
        raise MiexInputError(f"'source' holds {unknown[:5]}, expected names among {list(SOURCES)}", field="source")
    return columns


def _pairs(test_subjects: Iterable[TestSubject], datasets: np.ndarray, subjects: np.ndarray) -> set[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for entry in test_subjects:
        if isinstance(entry, str):
            owners = sorted(set(datasets[subjects == entry]))
            if len(owners) > 1:
                raise MiexInputError(
                    f"test subject {entry!r} is ambiguous: it exists in datasets {owners}; "
                    "pass (dataset, subject) pairs"
                )
            pairs.update((owner, entry) for owner in owners)
        else:
            dataset, subject = entry
            pairs.add((str(dataset), str(subject)))
    return pairs


def trainable_mask(table: Any, test_subjects: Iterable[TestSubject]) -> np.ndarray:
    """Boolean mask: False exactly for samples, of any source, whose (source_dataset, source_subject) is a test
    subject."""
    columns = _columns(table)
    named = columns["source_subject"] != ""
    pairs = _pairs(test_subjects, columns["source_dataset"][named], columns["source_subject"][named])
    in_test = np.fromiter(
        ((d, s) in pairs for d, s in zip(columns["source_dataset"], columns["source_subject"], strict=True)),
        dtype=bool,
        count=len(named),
    )
    return ~(named & in_test)


def filter_trainable(table: Any, test_subjects: Iterable[TestSubject]) -> Any:
    """The rows of ``table`` that may be trained on in a fold with ``test_subjects`` (same type as ``table``)."""
    mask = trainable_mask(table, test_subjects)
    if isinstance(table, pd.DataFrame):
        return table.loc[mask].reset_index(drop=True)
    return table.select(np.flatnonzero(mask).tolist())
