"""The files of a MiE-X dataset folder and the receipts that vouch for its shards.

What ``miex synthesize`` writes and ``miex push`` publishes: the card (``README.md``) and its figures under
``images/``, the plan, and the parquet shards under ``data/``, each with a receipt ``.miex/shards/<name>.json``
(rows, bytes, sha256, run fingerprint). The names live here, below both synthesis and the Hub upload, so either can
check a folder without importing the other.
"""

from __future__ import annotations

from pathlib import Path

from miex.core.fileio import read_json, sha256_of

CARD_NAME = "README.md"
IMAGES_DIR = "images"
CARD_IMAGES = ("sample_grid.png", "au_distribution.png")
"""The card's figures under ``images/``: with the card and the shards, the files ``miex push`` publishes."""
PLAN_NAME = "plan.parquet"
DATA_DIR = "data"
STATE_DIR = ".miex"


def receipt_of(path: Path, out: Path) -> Path:
    """Where the receipt of the shard file ``path`` (any name under ``data/``) lives."""
    return out / STATE_DIR / "shards" / f"{path.name}.json"


def shard_problem(path: Path, receipt: Path, *, rows: int | None = None, fingerprint: str | None = None) -> str | None:
    """Why the shard file does not match its receipt (None when it does): missing, unreadable receipt, other run,
    other row count, other size (truncated, empty) or other sha256 (edited, bit flips). Cheapest checks first."""
    if not path.is_file():
        return "the shard file is missing"
    if not receipt.is_file():
        return "it has no receipt (not written by `miex synthesize`, or its write never finished)"
    try:
        expected = read_json(receipt)
    except (OSError, ValueError):
        return "its receipt is unreadable"
    if not isinstance(expected, dict):
        return "its receipt is unreadable"
    if fingerprint is not None and expected.get("fingerprint") != fingerprint:
        return "it belongs to another run"
    if not isinstance(expected.get("rows"), int) or (rows is not None and expected["rows"] != rows):
        return f"its receipt says {expected.get('rows')} rows, the plan {rows}"
    size = path.stat().st_size
    if expected.get("bytes") != size:
        return f"it has {size} bytes, its receipt {expected.get('bytes')} (truncated or replaced)"
    if expected.get("sha256") != sha256_of(path):
        return "its sha256 differs from its receipt (the file was changed or corrupted)"
    return None
