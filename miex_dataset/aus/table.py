"""The tidy AU table: one row per measured image, one column per AU, 0 to 5 scale. Every step reads and writes it.

Columns (in this order):

- ``path``: the image the AUs were measured on, as given to the extractor;
- ``dataset``, ``subject``, ``clip``: provenance when the image is a frame of a corpus clip ('' otherwise);
- ``frame``: the absolute frame number within the clip (-1 when not a sequence frame);
- ``extractor``: which backend measured the AUs (e.g. ``openface``, ``mediapipe``, ``mediapipe+calibration``);
- ``AU01 … AU45``: 17 float32 intensities on OpenFace's 0 to 5 scale.

The parquet file carries ``miex.au_scale = 0-5`` in its schema metadata so a reader can refuse a 0-1 table.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import MiexInputError
from .schema import AU_MAX, AU_MIN, AU_NAMES

KEY_COLUMNS: tuple[str, ...] = ("path", "dataset", "subject", "clip", "frame", "extractor")
AU_TABLE_COLUMNS: tuple[str, ...] = (*KEY_COLUMNS, *AU_NAMES)
SCALE_METADATA = {b"miex.au_scale": b"0-5", b"miex.table": b"au"}


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
            table[column] = frame[column].astype(np.int64) if column in frame else np.int64(-1)
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
    return table.reset_index(drop=True)


def write_au_table(frame: pd.DataFrame, path: str | PathLike[str]) -> Path:
    """Validate and write an AU table as parquet (atomically: a temporary file renamed into place)."""
    path = Path(path)
    table = normalize_au_table(frame, where=str(path))
    arrow = pa.Table.from_pandas(table, schema=au_table_schema(), preserve_index=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    pq.write_table(arrow, temporary)
    temporary.replace(path)
    return path


def read_au_table(path: str | PathLike[str]) -> pd.DataFrame:
    """Read and validate an AU table written by :func:`write_au_table` (or any parquet/CSV with the same columns)."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("AU table not found", file=path)
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, keep_default_na=False)
    else:
        parquet = pq.read_table(path)
        metadata = parquet.schema.metadata or {}
        scale = metadata.get(b"miex.au_scale")
        if scale is not None and scale != b"0-5":
            raise MiexInputError(f"AU table is on scale {scale.decode()!r}, expected '0-5'", file=path)
        frame = parquet.to_pandas()
    return normalize_au_table(frame, where=str(path))
