"""Reading a plan file someone else may have written or edited: every row checked before anything is rendered.

A plan decides each sample's label and AUs, so a bad value (label 7, the string ``'1'``, a 16-value AU vector, an AU
of 6 or NaN, two rows with one ``sample_id``) would become a mislabelled or overwritten sample, or a crash deep
inside synthesis. Each is a :class:`MiexInputError` naming the file, row and field instead.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.core.fileio import read_parquet
from miex.data.sources.triplet import check_sources, check_unique, validate_au_columns, validate_labels

REQUIRED_COLUMNS: tuple[str, ...] = ("sample_id", "face", "label", "source", "onset_au", "apex_au", "seed")
"""What synthesis reads from a plan; the other plan columns (identity, provenance) are carried along."""


def validate_plan(frame: pd.DataFrame, where: str | PathLike[str] = "plan") -> pd.DataFrame:
    """The plan with int64 labels and float32 AU arrays, or a MiexInputError naming ``where``, the row and field."""
    where = str(where)
    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise MiexInputError(
            f"not a synthesis plan: no column {missing[0]!r} (make one with `miex plan`)", file=where, field=missing[0]
        )
    if frame.empty:
        raise MiexInputError(
            "the plan is empty (0 rows): there is nothing to synthesize; make a plan with "
            "`miex plan --faces POOL --pool AU_POOL --out PLAN`",
            file=where,
        )
    frame = frame.reset_index(drop=True)
    for column in ("sample_id", "face"):
        blank = frame[column].isna().to_numpy() | (frame[column].astype(str).str.strip() == "").to_numpy()
        if blank.any():
            raise MiexInputError(f"{column} is empty", file=where, row=int(np.flatnonzero(blank)[0]), field=column)
    check_unique(frame, "sample_id", where)
    check_sources(frame, where)
    _check_seeds(frame["seed"], where)
    return validate_au_columns(validate_labels(frame, where), where)


def _check_seeds(seeds: pd.Series, where: str) -> None:
    """Seeds must be non-negative integers: numpy's generators refuse anything else, late and without a row."""
    for row, value in enumerate(seeds):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
            raise MiexInputError(f"seed {value!r} is not a non-negative integer", file=where, row=row, field="seed")


def read_plan(path: str | PathLike[str]) -> pd.DataFrame:
    """Read and validate a plan file (a missing, corrupt or invalid file is one clear error)."""
    path = Path(path)
    if not path.exists():
        raise MiexInputError("plan not found (make one with `miex plan ...`)", file=path)
    return validate_plan(read_parquet(path, "plan").to_pandas(), path)
