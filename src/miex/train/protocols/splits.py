"""Fold -> rows: real train/test clips and the leakage-free synthetic training rows.

Synthetic MiE-X samples whose AUs came from a test subject's real clip (``source == "mie"``) would leak that
subject into training, so every fold drops them through :func:`miex.data.plan.folds.filter_trainable` (the one
implementation of that rule, shared with synthesis planning).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.data.plan.folds import PROVENANCE_COLUMNS
from miex.train.protocols.folds import Fold, Subject


def subject_mask(table: pd.DataFrame, subjects: Iterable[Subject]) -> np.ndarray:
    """Rows of ``table`` whose ``(dataset, subject)`` is in ``subjects``."""
    wanted = set(subjects)
    pairs = zip(table["dataset"].astype(str), table["subject"].astype(str), strict=True)
    return np.fromiter((pair in wanted for pair in pairs), dtype=bool, count=len(table))


def validate_fold(fold: Fold, table: pd.DataFrame) -> None:
    """A fold must keep train and test subjects apart and have test and training samples in ``table``."""
    overlap = sorted(set(fold.train_subjects) & set(fold.test_subjects))
    if overlap:
        raise MiexInputError(f"fold {fold.name!r}: subjects in both train and test: {overlap[:5]}", field="subjects")
    if not subject_mask(table, fold.test_subjects).any():
        raise MiexInputError(
            f"fold {fold.name!r} has no test samples: none of its test subjects {list(fold.test_subjects)[:5]} has a "
            "clip in the table (wrong fold file for this table, or all its clips unlabelled?)",
            field="test_subjects",
        )
    if not subject_mask(table, fold.train_subjects).any():
        raise MiexInputError(f"fold {fold.name!r} has no real training samples", field="train_subjects")


def real_split(fold: Fold, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (positions) of the fold's real training and test clips, after :func:`validate_fold`."""
    validate_fold(fold, table)
    return np.flatnonzero(subject_mask(table, fold.train_subjects)), np.flatnonzero(
        subject_mask(table, fold.test_subjects)
    )


_PROVENANCE: dict[str, pd.DataFrame] = {}
"""Provenance of the last MiE-X dataset asked about, by fingerprint (every fold and stage asks for the same rows)."""


def provenance(synthetic: Any) -> pd.DataFrame:
    """``source`` (as names), ``source_dataset`` and ``source_subject`` of every row of a MiE-X table.

    A ``datasets.Dataset`` is read column-wise through Arrow, never row by row and never touching its image columns,
    and only once per fingerprint: a 68-fold LOSO run asks for the same 45k rows several times per fold."""
    if isinstance(synthetic, pd.DataFrame):
        return synthetic
    fingerprint = getattr(synthetic, "_fingerprint", None)
    if fingerprint is not None and fingerprint in _PROVENANCE:
        return _PROVENANCE[fingerprint]
    frame = synthetic.select_columns(list(PROVENANCE_COLUMNS)).to_pandas()
    names = getattr(synthetic.features.get("source"), "names", None)
    if names is not None:  # ClassLabel(mie, mae, expert): the fold filter compares names, not ids
        frame["source"] = np.asarray(names, dtype=object)[frame["source"].to_numpy(dtype=np.int64)]
    if fingerprint is not None:
        _PROVENANCE.clear()  # one dataset at a time: bounded, whatever the number of runs in this process
        _PROVENANCE[fingerprint] = frame
    return frame


def trainable_synthetic(fold: Fold, synthetic: Any) -> np.ndarray:
    """Row positions of a MiE-X table (DataFrame or ``datasets.Dataset``) usable for training in ``fold``."""
    columns = list(synthetic.columns) if isinstance(synthetic, pd.DataFrame) else list(synthetic.column_names)
    missing = [c for c in PROVENANCE_COLUMNS if c not in columns]
    if missing:
        raise MiexInputError(
            f"MiE-X data lacks provenance column(s) {missing}: without them samples derived from fold "
            f"{fold.name!r}'s test subjects cannot be removed from training (re-run synthesis with provenance)",
            field=missing[0],
        )
    from miex.data.plan.folds import trainable_mask

    return np.flatnonzero(trainable_mask(provenance(synthetic), set(fold.test_subjects))).astype(np.int64)
