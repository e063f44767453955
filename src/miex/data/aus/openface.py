"""Reader for the CSV files that OpenFace 2.x writes (FeatureExtraction and FaceLandmarkImg).

Columns are found by NAME after stripping spaces (docs/reference.md §Action units): older builds separate fields with
``", "`` so names carry a leading space, optional blocks (gaze, pose, landmarks, shape) shift positions, and some builds
have no ``face_id``. Slicing by position, as the MiE-X authors did, silently reads the wrong columns on such files.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.core.fileio import first_line
from miex.data.aus.schema import AU_MAX, AU_MIN, AU_NAMES

logger = logging.getLogger(__name__)

_ID_COLUMNS = ("frame", "face_id", "face", "timestamp")
_HEADER_LINE = 1  # rows are reported as 1-based line numbers of the file; the header is line 1
SCALE_TOLERANCE = 1e-3
"""Rounding allowed beyond 0 and 5 (as in :func:`miex.data.aus.table.normalize_au_table`)."""


def read_openface_csv(
    path: str | PathLike[str], *, keep_failed: bool = False, keep_text: Sequence[str] = ()
) -> pd.DataFrame:
    """Read one OpenFace CSV into a frame table with canonical ``AU01 … AU45`` intensity columns (0 to 5).

    The result keeps whichever of ``frame``, ``face_id``, ``face``, ``timestamp`` the file has, plus
    ``confidence`` and ``success`` when present, the 17 intensity columns, and the columns named in ``keep_text``
    that the file has, as stripped text (a judge's file-name or tool column). Rows with ``success == 0`` are
    failed tracks whose AUs are meaningless: they are dropped unless ``keep_failed`` and their number is logged and
    stored in ``result.attrs["failed_rows"]``. Each kept row's 1-based line number is in ``result["line"]``.
    """
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("OpenFace CSV not found", file=path)
    if path.stat().st_size == 0:
        raise MiexInputError("file is empty: expected an OpenFace CSV with a header row", file=path)
    try:
        raw = pd.read_csv(path, skipinitialspace=True, dtype=str, keep_default_na=False, encoding="utf-8")
    except pd.errors.EmptyDataError as error:
        raise MiexInputError("file has no header row: expected OpenFace CSV output", file=path) from error
    except UnicodeDecodeError as error:
        raise MiexInputError(
            f"not UTF-8 text ({first_line(error)}); OpenFace writes UTF-8 (ASCII) CSVs: use the "
            "file OpenFace wrote, or save this one as UTF-8",
            file=path,
        ) from error
    except pd.errors.ParserError as error:
        raise MiexInputError(f"not a readable CSV: {first_line(error)}", file=path) from error
    raw.columns = [str(column).strip() for column in raw.columns]
    if raw.empty:
        raise MiexInputError("file has a header but no rows", file=path)

    intensity_columns = [f"{name}_r" for name in AU_NAMES]
    missing = [column for column in intensity_columns if column not in raw.columns]
    if missing:
        raise MiexInputError(
            f"missing AU intensity columns {missing}; run OpenFace with -aus (or without -pose/-gaze-only flags)",
            file=path,
            row=_HEADER_LINE,
            field=missing[0],
        )

    numeric_columns = [c for c in (*_ID_COLUMNS, "confidence", "success") if c in raw.columns] + intensity_columns
    table = pd.DataFrame(index=raw.index)
    for column in numeric_columns:
        text = raw[column].str.strip()
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna()
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0])
            raise MiexInputError(
                f"not a number: {raw[column].iloc[first]!r}", file=path, row=first + _HEADER_LINE + 1, field=column
            )
        table[column] = values
    for column in ("frame", "face_id", "face", "success"):
        if column in table:
            table[column] = table[column].astype(np.int64)
    for column in keep_text:
        if column in raw.columns and column not in table:
            table[column] = raw[column].str.strip()
    table = table.rename(columns={f"{name}_r": name for name in AU_NAMES})
    table[list(AU_NAMES)] = table[list(AU_NAMES)].astype(np.float32)
    table.insert(0, "line", table.index.to_numpy() + _HEADER_LINE + 1)

    failed = 0
    if "success" in table and not keep_failed:
        ok = table["success"] == 1
        failed = int((~ok).sum())
        table = table[ok].reset_index(drop=True)
        if failed:
            logger.warning("%s: dropped %d failed frame(s) (success == 0)", path, failed)
    _check_scale(table, path)
    table.attrs["failed_rows"] = failed
    table.attrs["source"] = str(path)
    return table


def _check_scale(table: pd.DataFrame, path: Path) -> None:
    """Refuse, naming the CSV's line and column, an intensity of a tracked frame off OpenFace's 0 to 5 scale (a
    failed frame's values are not AUs and are left as they are)."""
    tracked = table if "success" not in table else table[table["success"] == 1]
    for name in AU_NAMES:
        values = tracked[name].to_numpy()
        bad = ~np.isfinite(values) | (values < AU_MIN - SCALE_TOLERANCE) | (values > AU_MAX + SCALE_TOLERANCE)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise MiexInputError(
                f"AU intensity {float(values[first]):g} is off OpenFace's 0 to 5 scale: not an "
                "OpenFace AU intensity (AU*_r) column",
                file=path,
                row=int(tracked["line"].iloc[first]),
                field=f"{name}_r",
            )
