"""The composite flow images of many frame pairs, computed in parallel processes once and cached on disk.

A pair's image (:func:`miex.data.faces.flow_image.pair_to_image`) is cached under the sha256 of its two encoded
frames, the flow settings and the size, in ``$MIEX_FLOW_CACHE`` or ``$XDG_CACHE_HOME/miex/flow_images``
(``~/.cache`` when unset): a second run, another recipe or another fold never computes it again. Entries are
written atomically, so a killed run keeps every finished pair.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np

from miex.core.processes import worker_pool
from miex.data.faces.flow import FlowParams
from miex.data.faces.flow_image import RELEASE_SIZE, pair_to_image

logger = logging.getLogger(__name__)

CACHE_VERSION = "1"
"""Part of every key: bump it when what an entry holds or how it is computed changes."""


def default_cache_dir() -> Path:
    if os.environ.get("MIEX_FLOW_CACHE"):
        return Path(os.environ["MIEX_FLOW_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "miex" / "flow_images"


def settings_key(params: FlowParams, size: int) -> bytes:
    return json.dumps({"v": CACHE_VERSION, "size": size, **params.to_json()}, sort_keys=True).encode()


def pair_key(onset: bytes, apex: bytes, settings: bytes) -> str:
    digest = hashlib.sha256(settings)
    for part in (onset, apex):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _compute(job: tuple[bytes, bytes, FlowParams, int, str]) -> tuple[str, np.ndarray]:
    onset, apex, params, size, key = job
    return key, pair_to_image(_decode(onset), _decode(apex), params, size=size)


def _entry(root: Path, key: str) -> Path:
    return root / key[:2] / f"{key}.npy"


def _store(root: Path, key: str, image: np.ndarray) -> None:
    path = _entry(root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        np.save(handle, image)
    os.replace(temporary, path)


def _load(root: Path, key: str) -> np.ndarray | None:
    path = _entry(root, key)
    if not path.is_file():
        return None
    try:
        image = np.load(path)
    except (OSError, ValueError):  # a damaged entry is computed again
        return None
    return image if image.dtype == np.uint8 and image.ndim == 3 else None


def pairs_to_images(
    pairs: Sequence[tuple[bytes, bytes]],
    params: FlowParams,
    *,
    size: int = RELEASE_SIZE,
    workers: int = 1,
    cache_dir: Path | None = None,
    desc: str = "flow images",
    progress: bool | None = None,
) -> np.ndarray:
    """Encoded (onset, apex) frame pairs -> (N, size, size, 3) uint8 composite flow images, through the cache; the
    pairs not cached are computed in ``workers`` processes (same bytes whatever the count). ``progress``: a bar
    counting them (None: only on a terminal)."""
    from tqdm.auto import tqdm

    root = cache_dir or default_cache_dir()
    settings = settings_key(params, size)
    keys = [pair_key(onset, apex, settings) for onset, apex in pairs]
    images: dict[str, np.ndarray] = {}
    for key in set(keys):
        cached = _load(root, key)
        if cached is not None:
            images[key] = cached
    from_cache = sum(key in images for key in keys)
    todo = {}
    for key, (onset, apex) in zip(keys, pairs, strict=True):
        if key not in images and key not in todo:
            todo[key] = (onset, apex, params, size, key)
    if todo:
        repeats = len(pairs) - from_cache - len(todo)
        logger.info(
            "%s: %d of %d pair(s) to compute (%d cached, %d repeating another pair), %d process(es)",
            desc,
            len(todo),
            len(pairs),
            from_cache,
            repeats,
            workers,
        )
        bar = tqdm(
            total=len(todo), desc=desc, unit="pair", disable=None if progress is None else not progress, mininterval=1.0
        )
        jobs = list(todo.values())
        if workers > 1 and len(jobs) > 1:
            # forkserver, not fork: a process that ran torch or the landmarker holds thread locks a forked child
            # would inherit locked (the flow workers then hang), e.g. `miex.synthesize` then training in one script
            try:
                with worker_pool(workers, "forkserver") as pool:
                    done = pool.map(_compute, jobs, chunksize=max(1, len(jobs) // (8 * workers)))
                    for key, image in done:
                        _store(root, key, image)
                        images[key] = image
                        bar.update()
            except BrokenProcessPool as error:
                raise RuntimeError(
                    f"{desc}: a flow worker process died. In a script, put the code that trains or computes flow "
                    "under `if __name__ == '__main__':` (worker processes import the script), or pass workers=1"
                ) from error
        else:
            for job in jobs:
                key, image = _compute(job)
                _store(root, key, image)
                images[key] = image
                bar.update()
        bar.close()
    if not keys:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    return np.stack([images[key] for key in keys])


def encoded_image(cell: object, what: str, row: int) -> bytes:
    """The encoded bytes of a ``datasets`` image cell read with ``decode=False`` (embedded bytes or a file path)."""
    from miex.core.errors import MiexInputError

    if isinstance(cell, dict):
        if cell.get("bytes"):
            return cell["bytes"]
        if cell.get("path") and Path(cell["path"]).is_file():
            return Path(cell["path"]).read_bytes()
    raise MiexInputError(f"image not readable ({str(cell)[:80]})", row=row, field=what)


def dataset_pairs(dataset) -> list[tuple[bytes, bytes]]:
    """The encoded ``onset`` and ``apex`` bytes of every row of a ``datasets.Dataset``, without decoding them."""
    import datasets

    raw = dataset.select_columns(["onset", "apex"])
    raw = raw.cast_column("onset", datasets.Image(decode=False)).cast_column("apex", datasets.Image(decode=False))
    return [(encoded_image(r["onset"], "onset", i), encoded_image(r["apex"], "apex", i)) for i, r in enumerate(raw)]
