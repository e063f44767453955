"""The tidy AU table: one row per measured image, one column per AU, 0 to 5 scale. Every step reads and writes it.

Columns (in this order):

- ``path``: the image the AUs were measured on, as given to the extractor;
- ``dataset``, ``subject``, ``clip``: provenance when the image is a frame of a corpus clip ('' otherwise);
- ``frame``: the absolute frame number within the clip (-1 when not a sequence frame);
- ``extractor``: which backend measured the AUs (e.g. ``openface``, ``mediapipe``, ``mediapipe+calibration``);
- ``AU01 … AU45``: 17 float32 intensities on OpenFace's 0 to 5 scale.

The parquet file carries ``miex.au_scale = 0-5`` in its schema metadata so a reader can refuse a 0-1 table, and,
when the extractor's agreement with OpenFace was measured (``miex extract-aus``'s default calibrated method),
``miex.au_reliability``: JSON ``{"AU01": r, ...}``, per AU the Pearson r against OpenFace 2.2 on held-out photo sources
(:func:`read_au_reliability`; docs/reference.md §AU extraction). Trust AUs with r >= 0.5; treat the rest as hints.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path, first_line, guard_output_file, read_parquet
from miex.data.aus.schema import AU_MAX, AU_MIN, AU_NAMES

KEY_COLUMNS: tuple[str, ...] = ("path", "dataset", "subject", "clip", "frame", "extractor")
AU_TABLE_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, *AU_NAMES)
KIND_KEY = b"miex.kind"
"""Schema metadata key naming which miex table a parquet file is, so a rerun may replace it and nothing else."""
AU_TABLE_KIND = "au_table"
SCALE_METADATA = {b"miex.au_scale": b"0-5", b"miex.table": b"au", KIND_KEY: AU_TABLE_KIND.encode()}


def parquet_kind(path: str | PathLike[str]) -> str | None:
    """Which miex table ``path`` is (``au_table``, ``au_pool``, ``plan``: its ``miex.kind``), or None for any other
    file."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError, ValueError):  # not a parquet file at all: certainly not one of ours
        return None
    kind = (schema.metadata or {}).get(KIND_KEY)
    return None if kind is None else kind.decode(errors="replace")


def guard_table_output(
    out: str | PathLike[str], kind: str, *, inputs: Iterable[str | PathLike[str] | None] = (), overwrite: bool = False
) -> Path:
    """Refuse an ``--out`` that is one of the inputs, or an existing file that is not a miex ``kind`` table
    (unless ``overwrite``): a rerun replaces its own output, never a user's file."""
    exists = Path(out).is_file()
    return guard_output_file(
        out, inputs=inputs, ours=parquet_kind(out) == kind if exists else None, overwrite=overwrite
    )


def duplicate_measurements(table: pd.DataFrame) -> tuple[int, int] | None:
    """The first pair of rows measuring the same thing: the same (dataset, subject, clip, frame) of a clip, or the
    same image ``path`` outside clips. Such a table (e.g. two extractors' tables concatenated) has no single answer."""
    in_clip = table["clip"] != ""
    keys = pd.Series(
        np.where(
            in_clip,
            table["dataset"] + "\x1f" + table["subject"] + "\x1f" + table["clip"] + "\x1f" + table["frame"].astype(str),
            "\x1e" + table["path"],
        ),
        index=table.index,
    )
    repeated = keys.duplicated(keep=False)
    if not repeated.any():
        return None
    later = int(np.flatnonzero(keys.duplicated().to_numpy())[0])
    first = int(np.flatnonzero(((keys == keys.iloc[later]) & repeated).to_numpy())[0])
    return first, later


def au_table_schema() -> pa.Schema:
    fields = [
        pa.field("path", pa.string()),
        pa.field("dataset", pa.string()),
        pa.field("subject", pa.string()),
        pa.field("clip", pa.string()),
        pa.field("frame", pa.int64()),
        pa.field("extractor", pa.string()),
        *(pa.field(name, pa.float32()) for name in AU_NAMES),
    ]
    return pa.schema(fields, metadata=SCALE_METADATA)


def normalize_au_table(frame: pd.DataFrame, *, where: str = "AU table") -> pd.DataFrame:
    """Return ``frame`` with the canonical columns, dtypes and defaults, or raise naming the bad row and column.

    Missing provenance columns get defaults ('' / -1); missing AU columns, NaN intensities or values off the
    0 to 5 scale are errors, because an AU table is the label source for synthesis.
    """
    missing = [name for name in AU_NAMES if name not in frame.columns]
    if missing:
        raise MiexInputError(f"missing AU columns {missing} (expected {', '.join(AU_NAMES)})", file=where)
    if "path" not in frame.columns:
        raise MiexInputError("missing column 'path' (the image each row was measured on)", file=where)
    table = pd.DataFrame(index=frame.index)
    for column in KEY_COLUMNS:
        if column == "frame":
            table[column] = _frame_numbers(frame[column], where) if column in frame else np.int64(-1)
        else:
            table[column] = frame[column].astype(str) if column in frame else ""
    for name in AU_NAMES:
        values = pd.to_numeric(frame[name], errors="coerce").astype(np.float32)
        bad = ~np.isfinite(values.to_numpy())
        bad |= (values.to_numpy() < AU_MIN - 1e-3) | (values.to_numpy() > AU_MAX + 1e-3)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise MiexInputError(
                f"AU intensity {frame[name].iloc[row]!r} is missing or off the 0 to 5 scale",
                file=where,
                row=row,
                field=name,
            )
        table[name] = values.clip(AU_MIN, AU_MAX)
    table = table.reset_index(drop=True)
    pair = duplicate_measurements(table)
    if pair is not None:
        first, later = pair
        row = table.iloc[later]
        what = (
            f"frame {row['frame']} of clip {row['dataset']}/{row['subject']}/{row['clip']}"
            if row["clip"]
            else f"image {row['path']!r}"
        )
        raise MiexInputError(
            f"{what} is measured twice (rows {first} and {later}, extractors {table.at[first, 'extractor']!r} and "
            f"{row['extractor']!r}): keep one measurement per frame, e.g. one extractor's table",
            file=where,
            row=later,
            field="clip" if row["clip"] else "path",
        )
    return table


def _frame_numbers(values: pd.Series, where: str) -> pd.Series:
    """The ``frame`` column as int64; a blank, fractional or non-numeric frame number is an error naming its row."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna().to_numpy() | (numbers.fillna(0) % 1 != 0).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MiexInputError(
            f"frame number {values.iloc[row]!r} is not an integer (-1 outside clips)",
            file=where,
            row=row,
            field="frame",
        )
    return numbers.astype(np.int64)


RELIABILITY_KEY = b"miex.au_reliability"
"""Parquet metadata: JSON ``{AU: r}``, the extractor's measured agreement with OpenFace per AU (absent when none
was measured, e.g. the openface backend itself)."""


def write_au_table(
    frame: pd.DataFrame, path: str | PathLike[str], *, reliability: Mapping[str, float] | None = None
) -> Path:
    """Validate and write an AU table as parquet (atomically: a temporary file renamed into place); ``reliability``
    (per AU, the extractor's agreement with OpenFace) goes in the file's metadata so users know which AUs to trust."""
    path = Path(path)
    table = normalize_au_table(frame, where=str(path))
    schema = au_table_schema()
    if reliability is not None:
        values = {au: float(reliability[au]) for au in AU_NAMES if au in reliability}
        schema = schema.with_metadata({**schema.metadata, RELIABILITY_KEY: json.dumps(values).encode()})
    arrow = pa.Table.from_pandas(table, schema=schema, preserve_index=False)
    with atomic_path(path) as temporary:
        pq.write_table(arrow, temporary, write_page_checksum=True)
    return path


def read_au_table(path: str | PathLike[str]) -> pd.DataFrame:
    """Read and validate an AU table written by :func:`write_au_table` (or any parquet/CSV with the same columns)."""
    path = Path(path)
    if not path.exists():
        raise MiexInputError("AU table not found (make one with `miex extract-aus ...`)", file=path)
    if path.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(path, keep_default_na=False)
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            reason = first_line(error)
            raise MiexInputError(f"not a readable AU table (CSV, UTF-8): {reason}", file=path) from error
    else:
        parquet = read_parquet(path, "AU table")
        metadata = parquet.schema.metadata or {}
        scale = metadata.get(b"miex.au_scale")
        if scale is not None and scale != b"0-5":
            raise MiexInputError(f"AU table is on scale {scale.decode()!r}, expected '0-5'", file=path)
        frame = parquet.to_pandas()
    return normalize_au_table(frame, where=str(path))


def read_au_reliability(path: str | PathLike[str]) -> dict[str, float] | None:
    """Per-AU agreement with OpenFace recorded by :func:`write_au_table`, or None when the table records none."""
    raw = (pq.read_schema(Path(path)).metadata or {}).get(RELIABILITY_KEY)
    return None if raw is None else {au: float(r) for au, r in json.loads(raw).items()}
