"""The AU triplet record shared by the three sources, and the AU pool file (validated read/write).

A triplet = onset AU vector, apex AU vector (17 floats, 0 to 5 scale, docs/reference.md §Action units) and a 3-class
label
(0 negative, 1 positive, 2 surprise, docs/reference.md §AU sources), plus the provenance the fold filter needs
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

from ..aus.schema import LABEL_NAMES, NUM_AUS, validate_au_array
from ..errors import MiexInputError

SOURCES: tuple[str, ...] = ("mie", "mae", "expert")
VIDEO_FRAMES: int = 10
"""Frames per sample of the video variant (docs/reference.md §AU sources, 'Video variant')."""

POOL_COLUMNS: tuple[str, ...] = (
    "triplet_id", "source", "emotion", "label", "onset_au", "apex_au",
    "source_dataset", "source_subject", "source_clip", "onset_frame", "apex_frame",
)  # fmt: skip
PARAMS_KEY = b"miex.params"


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
    if frame["triplet_id"].duplicated().any():
        dup = frame.loc[frame["triplet_id"].duplicated(), "triplet_id"].iloc[0]
        raise MiexInputError(f"duplicate triplet_id {dup!r}", file=where, field="triplet_id")
    for row, (source, label) in enumerate(zip(frame["source"], frame["label"], strict=True)):
        if source not in SOURCES:
            raise MiexInputError(f"unknown source {source!r} (expected {SOURCES})", file=where, row=row, field="source")
        if int(label) not in range(len(LABEL_NAMES)):
            raise MiexInputError(f"label {label!r} is not 0, 1 or 2", file=where, row=row, field="label")
    au_columns = ["onset_au", "apex_au", *(["frames_au"] if "frames_au" in frame.columns else [])]
    out = frame.copy()
    for column in au_columns:
        values = []
        for row, value in enumerate(frame[column]):
            array = np.stack(list(value)) if column == "frames_au" else value
            try:
                checked = validate_au_array(array, where=f"{where} row {row} field {column!r}")
            except ValueError as error:
                raise MiexInputError(str(error), file=where, row=row, field=column) from error
            if column == "frames_au" and checked.shape != (VIDEO_FRAMES, NUM_AUS):
                raise MiexInputError(f"expected {VIDEO_FRAMES}x{NUM_AUS}, got {checked.shape}", file=where, row=row,
                                     field=column)
            values.append(checked)
        out[column] = values
    out["label"] = out["label"].astype(np.int64)
    return out.reset_index(drop=True)


def au_field(name: str, *, video: bool = False) -> pa.Field:
    inner = pa.list_(pa.float32(), NUM_AUS)
    return pa.field(name, pa.list_(inner, VIDEO_FRAMES) if video else inner)


def to_arrow(frame: pd.DataFrame, fields: list[pa.Field], params: Mapping[str, Any]) -> pa.Table:
    """Build an arrow table column by column (fixed-size AU lists) with the parameters as JSON metadata."""
    arrays = []
    for field in fields:
        values = frame[field.name].tolist()
        if pa.types.is_fixed_size_list(field.type):
            values = [np.asarray(v, np.float32).tolist() for v in values]
        arrays.append(pa.array(values, type=field.type))
    metadata = {PARAMS_KEY: json.dumps(params, sort_keys=True).encode(), b"miex.au_scale": b"0-5"}
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))


def write_parquet(table: pa.Table, path: str | PathLike[str], **options: Any) -> Path:
    """Deterministic bytes (no created_by drift within a pyarrow version, no statistics order issues), atomic.

    ``options`` go to :func:`pyarrow.parquet.write_table` (e.g. ``row_group_size``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    pq.write_table(table, temporary, **{"compression": "zstd", **options})
    temporary.replace(path)
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
    return write_parquet(to_arrow(pool, pool_fields("frames_au" in pool.columns), params or {}), path)


def read_params(path: str | PathLike[str]) -> dict[str, Any]:
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata.get(PARAMS_KEY, b"{}"))


def read_pool(path: str | PathLike[str]) -> pd.DataFrame:
    """Read and validate an AU pool; AU columns come back as float32 arrays ((17,) or (10, 17))."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("AU pool not found (make one with `miex au-pool ...`)", file=path)
    return validate_pool(au_arrays(pq.read_table(path).to_pandas()), where=str(path))


def au_arrays(frame: pd.DataFrame) -> pd.DataFrame:
    """AU list columns read from parquet -> float32 arrays ((17,) each, or (10, 17) for ``frames_au``)."""
    for column in ("onset_au", "apex_au"):
        if column in frame.columns:
            frame[column] = [np.asarray(v, np.float32) for v in frame[column]]
    if "frames_au" in frame.columns:
        frame["frames_au"] = [np.stack([np.asarray(r, np.float32) for r in v]) for v in frame["frames_au"]]
    return frame
