"""Fixed shards of a plan and their on-disk state: written atomically, verified on resume.

Shard *i* always holds plan rows ``[i * size, (i + 1) * size)``, whatever the number of processes. A finished shard
is ``data/train-XXXXX-of-YYYYY.parquet`` plus a receipt ``.miex/shards/<name>.json`` (rows, bytes, sha256, run
fingerprint) written after the rename: a shard without a matching receipt (killed mid-write, truncated, edited, or
from another run) is rendered again; one with a matching receipt is kept untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path, sha256_of, write_json_atomic
from miex.data.layout import DATA_DIR, STATE_DIR, receipt_of, shard_problem

STAGING_DIR = "staging"
"""Under ``.miex/``: shards are written here and renamed into ``data/`` only when complete, so no half-written file
ever matches the card's ``data/train-*`` pattern (a kill or a full disk leaves nothing there)."""
SPLIT = "train"
ROW_GROUP_SIZE = 100
"""Rows per parquet row group: small enough for streaming image rows, large enough for fast scans."""


@dataclass(frozen=True)
class Shard:
    index: int
    count: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"{SPLIT}-{self.index:05d}-of-{self.count:05d}.parquet"

    def path(self, out: Path) -> Path:
        return out / DATA_DIR / self.name

    def receipt(self, out: Path) -> Path:
        return receipt_of(self.path(out), out)


def plan_shards(rows: int, shard_size: int) -> list[Shard]:
    """Cut ``rows`` plan rows into fixed shards of ``shard_size`` (the last may be shorter)."""
    if shard_size < 1:
        raise MiexInputError(
            f"the shard size must be at least 1 sample, got {shard_size} (--shard-size)", field="shard_size"
        )
    count = max(1, math.ceil(rows / shard_size))
    return [Shard(i, count, i * shard_size, min(rows, (i + 1) * shard_size)) for i in range(count)]


def is_finished(shard: Shard, out: Path, fingerprint: str) -> bool:
    """True when the shard file matches its receipt (rows, size, sha256) and the receipt is of this run."""
    problem = shard_problem(shard.path(out), shard.receipt(out), rows=shard.stop - shard.start, fingerprint=fingerprint)
    return problem is None


def write_shard(
    shard: Shard, out: Path, rows: list[dict[str, Any]], features: datasets.Features, fingerprint: str
) -> dict[str, Any]:
    """Encode ``rows`` with ``features``, write the shard atomically, then its receipt; returns the receipt.

    The bytes are written under ``.miex/staging/`` and renamed into ``data/`` once complete; on any error (full disk,
    read-only folder) the staged file is removed and ``data/`` is left as it was."""
    table = pa.Table.from_pylist([features.encode_example(row) for row in rows], schema=features.arrow_schema)
    path = shard.path(out)
    with atomic_path(path, staging=out / STATE_DIR / STAGING_DIR) as temporary:
        pq.write_table(table, temporary, row_group_size=ROW_GROUP_SIZE, compression="zstd", write_page_checksum=True)
    receipt = {
        "rows": table.num_rows,
        "bytes": path.stat().st_size,
        "sha256": sha256_of(path),
        "fingerprint": fingerprint,
    }
    write_json_atomic(shard.receipt(out), receipt)
    return receipt


def shard_files(out: Path) -> list[Path]:
    return sorted((out / DATA_DIR).glob(f"{SPLIT}-*-of-*.parquet"))


def shard_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows
