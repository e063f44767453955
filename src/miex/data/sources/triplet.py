"""The AU triplet record shared by the three sources, and the AU pool file (validated read/write).

A triplet = onset AU vector, apex AU vector (17 floats, 0 to 5 scale, docs/reference.md §Action units) and a 3-class
label (0 negative, 1 positive, 2 surprise, docs/reference.md §AU sources), plus the provenance the fold filter needs
(docs/reference.md §AU sources).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path, read_parquet
from miex.data.aus.schema import AU_MAX, AU_MIN, LABEL_NAMES, NUM_AUS, validate_au_array
from miex.data.aus.table import KIND_KEY

SOURCES: tuple[str, ...] = ("mie", "mae", "expert")
VIDEO_FRAMES: int = 10
"""Frames per sample of the video variant (docs/reference.md §AU sources, 'Video variant')."""

POOL_COLUMNS: tuple[str, ...] = (
    "triplet_id",
    "source",
    "emotion",
    "label",
    "onset_au",
    "apex_au",
    "source_dataset",
    "source_subject",
    "source_clip",
    "onset_frame",
    "apex_frame",
)
PARAMS_KEY = b"miex.params"
POOL_KIND = "au_pool"


@dataclass(frozen=True)
class Triplet:
    source: str
    emotion: str
    label: int
    onset_au: np.ndarray
    apex_au: np.ndarray
    source_dataset: str = ""
    source_subject: str = ""
    source_clip: str = ""
    onset_frame: int = -1
    apex_frame: int = -1
    frames_au: np.ndarray | None = None
    """(10, 17) for the video variant, else None."""


def triplets_to_frame(triplets: Iterable[Triplet], *, video: bool = False) -> pd.DataFrame:
    """Triplets -> pool DataFrame with ids ``{source}-{n:06d}`` in the given (deterministic) order."""
    rows: list[dict[str, Any]] = []
    counters: dict[str, int] = {}
    for triplet in triplets:
        n = counters.get(triplet.source, 0)
        counters[triplet.source] = n + 1
        row = {
            "triplet_id": f"{triplet.source}-{n:06d}",
            "source": triplet.source,
            "emotion": triplet.emotion,
            "label": int(triplet.label),
            "onset_au": np.asarray(triplet.onset_au, np.float32),
            "apex_au": np.asarray(triplet.apex_au, np.float32),
            "source_dataset": triplet.source_dataset,
            "source_subject": triplet.source_subject,
            "source_clip": triplet.source_clip,
            "onset_frame": int(triplet.onset_frame),
            "apex_frame": int(triplet.apex_frame),
        }
        if video:
            if triplet.frames_au is None:
                raise ValueError(f"triplet {row['triplet_id']} has no frames_au for the video variant")
            row["frames_au"] = np.asarray(triplet.frames_au, np.float32)
        rows.append(row)
    columns = [*POOL_COLUMNS, *(["frames_au"] if video else [])]
    return pd.DataFrame(rows, columns=columns)


def validate_pool(frame: pd.DataFrame, *, where: str = "AU pool") -> pd.DataFrame:
    """Check columns, sources, labels and every AU vector; raise naming the row and field."""
    missing = [c for c in POOL_COLUMNS if c not in frame.columns]
    if missing:
        raise MiexInputError(f"not an AU pool: missing columns {missing}", file=where)
    frame = frame.reset_index(drop=True)
    check_unique(frame, "triplet_id", where)
    check_sources(frame, where)
    return validate_au_columns(validate_labels(frame, where), where)


def check_unique(frame: pd.DataFrame, column: str, where: str) -> None:
    """Raise naming both rows when ``column`` repeats a value (an id must name one row)."""
    repeated = frame[column].duplicated()
    if repeated.any():
        later = int(np.flatnonzero(repeated.to_numpy())[0])
        value = frame[column].iloc[later]
        first = int(np.flatnonzero((frame[column] == value).to_numpy())[0])
        raise MiexInputError(f"duplicate {column} {value!r} (also in row {first})", file=where, row=later, field=column)


def check_sources(frame: pd.DataFrame, where: str) -> None:
    unknown = ~frame["source"].isin(SOURCES)
    if unknown.any():
        row = int(np.flatnonzero(unknown.to_numpy())[0])
        raise MiexInputError(
            f"unknown source {frame['source'].iloc[row]!r} (expected one of {', '.join(SOURCES)})",
            file=where,
            row=row,
            field="source",
        )


def validate_labels(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """``label`` as int64 class ids 0, 1, 2; a string, fractional or out-of-range label is an error naming its row
    (a label ``'1'`` or ``7`` would otherwise become a mislabelled sample or a crash deep in synthesis)."""
    labels = frame["label"]
    for row, value in enumerate(labels):
        integral = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        if not integral or int(value) not in range(len(LABEL_NAMES)):
            raise MiexInputError(
                f"label {value!r} is not a class id: expected the integer 0, 1 or 2 ({', '.join(LABEL_NAMES)})",
                file=where,
                row=row,
                field="label",
            )
    return frame.assign(label=labels.astype(np.int64))


def validate_au_columns(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check every AU vector (17 finite values on 0 to 5; ``frames_au`` 10 of them) and return float32 arrays,
    raising on the first bad one with its row and column. Vectorised: a 100k-row plan checks in a blink."""
    columns = ["onset_au", "apex_au", *(["frames_au"] if "frames_au" in frame.columns else [])]
    out = frame.copy()
    for column in columns:
        shape = (VIDEO_FRAMES, NUM_AUS) if column == "frames_au" else (NUM_AUS,)
        arrays = []
        for row, value in enumerate(frame[column]):
            try:
                if column == "frames_au":
                    array = np.stack([np.asarray(step, dtype=np.float32) for step in value])
                else:
                    array = np.asarray(value, dtype=np.float32)
            except (TypeError, ValueError) as error:
                raise MiexInputError(
                    f"not an AU vector of numbers: {error}", file=where, row=row, field=column
                ) from error
            if array.shape != shape:
                wanted = "x".join(map(str, shape))
                raise MiexInputError(
                    f"expected {wanted} AU intensities ({NUM_AUS} per vector), got shape {array.shape}",
                    file=where,
                    row=row,
                    field=column,
                )
            arrays.append(array)
        stacked = np.stack(arrays) if arrays else np.zeros((0, *shape), np.float32)
        tolerance = 1e-3
        bad = ~np.isfinite(stacked) | (stacked < AU_MIN - tolerance) | (stacked > AU_MAX + tolerance)
        bad_rows = np.flatnonzero(bad.reshape(len(stacked), -1).any(axis=1) if len(stacked) else [])
        if len(bad_rows):
            row = int(bad_rows[0])
            try:
                validate_au_array(stacked[row], where=f"{where} row {row} field {column!r}")
            except ValueError as error:
                raise MiexInputError(str(error).split(": ", 1)[-1], file=where, row=row, field=column) from error
        out[column] = list(validate_au_array(stacked)) if len(stacked) else []
    return out


def au_field(name: str, *, video: bool = False) -> pa.Field:
    inner = pa.list_(pa.float32(), NUM_AUS)
    return pa.field(name, pa.list_(inner, VIDEO_FRAMES) if video else inner)


def to_arrow(
    frame: pd.DataFrame, fields: list[pa.Field], params: Mapping[str, Any], *, kind: str | None = None
) -> pa.Table:
    """Build an arrow table column by column (fixed-size AU lists) with the parameters as JSON metadata;
    ``kind`` (``au_pool``, ``plan``) marks the file as a miex table so a rerun may replace it."""
    arrays = []
    for field in fields:
        values = frame[field.name].tolist()
        if pa.types.is_fixed_size_list(field.type):
            values = [np.asarray(v, np.float32).tolist() for v in values]
        arrays.append(pa.array(values, type=field.type))
    metadata = {
        PARAMS_KEY: json.dumps(params, sort_keys=True).encode(),
        b"miex.au_scale": b"0-5",
        **({KIND_KEY: kind.encode()} if kind else {}),
    }
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))


def write_parquet(table: pa.Table, path: str | PathLike[str], **options: Any) -> Path:
    """Deterministic bytes (no created_by drift within a pyarrow version, no statistics order issues), atomic.

    ``options`` go to :func:`pyarrow.parquet.write_table` (e.g. ``row_group_size``)."""
    path = Path(path)
    with atomic_path(path) as temporary:
        pq.write_table(table, temporary, **{"compression": "zstd", "write_page_checksum": True, **options})
    return path


def pool_fields(video: bool) -> list[pa.Field]:
    return [
        pa.field("triplet_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("emotion", pa.string()),
        pa.field("label", pa.int64()),
        au_field("onset_au"),
        au_field("apex_au"),
        pa.field("source_dataset", pa.string()),
        pa.field("source_subject", pa.string()),
        pa.field("source_clip", pa.string()),
        pa.field("onset_frame", pa.int64()),
        pa.field("apex_frame", pa.int64()),
        *([au_field("frames_au", video=True)] if video else []),
    ]


def write_pool(frame: pd.DataFrame, path: str | PathLike[str], params: Mapping[str, Any] | None = None) -> Path:
    """Validate and write the AU pool; ``params`` (hyperparameters) go into the schema metadata as JSON."""
    pool = validate_pool(frame, where=str(path))
    if pool.empty:
        raise MiexInputError("the AU pool is empty: give at least one source with triplets", file=path)
    arrow = to_arrow(pool, pool_fields("frames_au" in pool.columns), params or {}, kind=POOL_KIND)
    return write_parquet(arrow, path)


def read_params(path: str | PathLike[str]) -> dict[str, Any]:
    """The JSON parameters a pool or plan carries ({} when none; an unreadable file or JSON is a MiexInputError)."""
    try:
        metadata = pq.read_schema(path).metadata or {}
        return json.loads(metadata.get(PARAMS_KEY, b"{}"))
    except (pa.ArrowException, OSError, ValueError) as error:
        raise MiexInputError(f"unreadable parameters (parquet metadata): {error}", file=path) from error


def read_pool(path: str | PathLike[str]) -> pd.DataFrame:
    """Read and validate an AU pool; AU columns come back as float32 arrays ((17,) or (10, 17))."""
    path = Path(path)
    if not path.exists():
        raise MiexInputError("AU pool not found (make one with `miex au-pool ...`)", file=path)
    return validate_pool(read_parquet(path, "AU pool").to_pandas(), where=str(path))


def au_arrays(frame: pd.DataFrame) -> pd.DataFrame:
    """AU list columns read from parquet -> float32 arrays ((17,) each, or (10, 17) for ``frames_au``)."""
    for column in ("onset_au", "apex_au"):
        if column in frame.columns:
            frame[column] = [np.asarray(v, np.float32) for v in frame[column]]
    if "frames_au" in frame.columns:
        frame["frames_au"] = [np.stack([np.asarray(r, np.float32) for r in v]) for v in frame["frames_au"]]
    return frame
