"""Check a MiE-X folder's shards against the receipts `miex synthesize` wrote, before anything reads them.

A shard whose bytes changed after it was written (a flipped bit, a truncated copy, an edit) still loads: the damage
shows only when an image fails to decode mid-training, or never, as wrong pixels. The receipt in
``.miex/shards/<name>.json`` records each shard's size and sha256 (:mod:`.shards`); :func:`verify_shards` compares
them, through the same :func:`~.shards.shard_problem` that resuming synthesis and ``miex push`` use, and refuses the
first damaged shard by name. Hashing reads each shard once at disk speed (about a second per GB).

A folder without receipts (a Hub download, a hand-made folder) has nothing to compare against and is left as it is;
``load_dataset`` on a Hub repo id has the Hub's own checksums.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

from miex.core.errors import MiexInputError
from miex.core.fileio import first_line
from miex.data.layout import DATA_DIR, STATE_DIR, receipt_of, shard_problem

logger = logging.getLogger(__name__)

REPAIR = (
    "run the same `miex synthesize` command again to re-render it (it redoes only damaged shards), or download "
    "the dataset again"
)


def receipts_dir(folder: str | PathLike[str]) -> Path:
    return Path(folder) / STATE_DIR / "shards"


def verify_shards(folder: str | PathLike[str]) -> int:
    """Compare every ``data/*.parquet`` of the MiE-X ``folder`` with its receipt; returns how many were verified
    (0 when the folder has no receipts). Raises :class:`MiexInputError` naming the first shard that is damaged or
    that has no receipt among shards that do (``load_dataset`` would read it as rows nobody wrote)."""
    root = Path(folder)
    receipts = receipts_dir(root)
    if not receipts.is_dir() or not any(receipts.glob("*.json")):
        logger.debug("%s has no shard receipts (not written here by `miex synthesize`); shards not verified", root)
        return 0
    shards = sorted((root / DATA_DIR).rglob("*.parquet"))
    for path in shards:
        receipt = receipt_of(path, root)
        if not receipt.is_file():
            raise MiexInputError(
                "this file under data/ has no receipt in .miex/shards/: it was not written by `miex synthesize` "
                "for this folder, yet it would be loaded as MiE-X rows; remove it, or " + REPAIR,
                file=path,
            )
        problem = shard_problem(path, receipt)
        if problem is not None:
            raise MiexInputError(f"damaged MiE-X shard: {problem}; {REPAIR}", file=path)
    return len(shards)


def find_damaged_shard(folder: str | PathLike[str]) -> tuple[Path, str] | None:
    """The first shard under ``data/`` whose parquet does not read or one of whose images does not decode, with
    what failed; None when every one is sound. Reads and decodes everything: only for after a read has failed, in a
    folder without receipts, to say which file to replace."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in sorted((Path(folder) / DATA_DIR).rglob("*.parquet")):
        try:
            parquet = pq.ParquetFile(path)
            offset = 0
            for group in range(parquet.num_row_groups):
                table = parquet.read_row_group(group)
                problem = _undecodable(table.to_pylist(), offset)
                if problem is not None:
                    return path, problem
                offset += table.num_rows
        except (pa.ArrowException, OSError, ValueError) as error:
            return path, f"the parquet file does not read ({first_line(error)})"
    return None


def _undecodable(rows: list[dict], offset: int) -> str | None:
    """The first image (a ``{"bytes": ...}`` cell, also inside a list of frames) that PIL cannot decode."""
    from io import BytesIO

    from PIL import Image

    for number, row in enumerate(rows, offset):
        for column, value in row.items():
            cells = value if isinstance(value, list) else [value]
            for cell in cells:
                if not isinstance(cell, dict) or not isinstance(cell.get("bytes"), bytes):
                    continue
                try:
                    with Image.open(BytesIO(cell["bytes"])) as image:
                        image.load()
                except (OSError, ValueError, SyntaxError) as error:
                    return f"row {number}: its {column} image does not decode ({first_line(error)})"
    return None


@contextlib.contextmanager
def naming_damaged_shard(folder: str | PathLike[str] | None) -> Iterator[None]:
    """Turn a failure while reading the MiE-X ``folder`` (an image that does not decode mid-training, a parquet
    page that does not decompress: errors that name no file) into a :class:`MiexInputError` naming the damaged shard,
    when :func:`find_damaged_shard` finds one; any other failure passes through unchanged."""
    try:
        yield
    except MiexInputError:
        raise
    except Exception as error:
        if isinstance(error, OSError) and error.errno is not None:  # disk full, permissions: not the data
            raise
        found = find_damaged_shard(folder) if folder is not None and Path(folder).is_dir() else None
        if found is None:
            raise
        path, problem = found
        raise MiexInputError(f"damaged MiE-X shard: {problem}; {REPAIR}", file=path) from error
