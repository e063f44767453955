"""Run one function over many items on all cores, resumably, in a deterministic output order.

The mediapipe landmarker cannot be pickled, so each worker process builds its own tool once (``factory``, via the pool
initializer) and items travel alone. Results come back in input order whatever the number of workers. ``spawn`` is
used because forking a process that already holds mediapipe/OpenCV threads can deadlock.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from miex.core.fileio import read_json, write_json_atomic
from miex.core.processes import die_with_parent, worker_pool

Item = TypeVar("Item")

_TOOL: dict[str, Any] = {}


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _close_tool() -> None:
    tool = _TOOL.pop("tool", None)
    getattr(tool, "close", lambda: None)()


def _initialize(factory: Callable[[], Any], parent_pid: int) -> None:
    """Worker start: tie the worker's life to the parent's, build its tool, and close the tool when the worker ends
    (multiprocessing's exit hooks run before interpreter shutdown, unlike atexit, so mediapipe closes quietly)."""
    from multiprocessing import util

    die_with_parent(parent_pid)
    _TOOL["tool"] = factory()
    util.Finalize(None, _close_tool, exitpriority=10)


FAILURE_KEY = "__failure__"
OPTIONS_NAME = "options.json"
"""The file in a parts folder that records the options its parts were made with."""


def _guarded(function: Callable[[Any, Any], Any], tool: Any, item: Any) -> Any:
    """One item's unexpected error (a library bug, a decoder crash) becomes a report line, not a dead run."""
    try:
        return function(tool, item)
    except Exception as error:  # reported per item by the caller
        return {FAILURE_KEY: f"unexpected error {type(error).__name__}: {error}"}


def failure(result: Any) -> str | None:
    """The reason an item failed unexpectedly (its part was not stored, so a rerun retries it), else None."""
    return result.get(FAILURE_KEY) if isinstance(result, dict) else None


def _call(job: tuple[Callable[[Any, Any], Any], Any]) -> Any:
    function, item = job
    return _guarded(function, _TOOL["tool"], item)


def map_items(
    function: Callable[[Any, Item], Any],
    items: Sequence[Item],
    *,
    factory: Callable[[], Any],
    workers: int,
    desc: str,
) -> Iterator[tuple[Item, Any]]:
    """Yield ``(item, function(tool, item))`` in input order, with a tqdm bar; one ``tool = factory()`` per process."""
    from tqdm import tqdm

    bar = tqdm(total=len(items), desc=desc, unit="item", disable=not items)
    try:
        if workers <= 1 or len(items) <= 1:
            tool = factory() if items else None
            try:
                for item in items:
                    yield item, _guarded(function, tool, item)
                    bar.update()
            finally:
                getattr(tool, "close", lambda: None)()
            return
        # An executor (not multiprocessing.Pool): a worker whose initializer fails breaks the run with an error
        # instead of being respawned forever.
        with worker_pool(
            min(workers, len(items)), "spawn", initializer=_initialize, initargs=(factory, os.getpid())
        ) as executor:
            for item, result in zip(items, executor.map(_call, [(function, item) for item in items]), strict=True):
                yield item, result
                bar.update()
    finally:
        bar.close()


def part_path(parts_dir: Path, key: str) -> Path:
    """One small JSON per finished item, named by a digest of its key (keys may hold any characters)."""
    import hashlib

    return parts_dir / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.json"


def check_options(parts_dir: Path, options: dict[str, Any]) -> None:
    """Refuse to resume with different options: mixing parts made two ways would give an inconsistent output."""
    from miex.core.errors import MiexInputError

    path = parts_dir / OPTIONS_NAME
    if path.is_file():
        previous = read_json(path)
        if previous != json.loads(json.dumps(options, sort_keys=True)):
            raise MiexInputError(
                f"finished parts were made with other options {previous}; rerun with those or delete {parts_dir}",
                file=path,
            )
        return
    write_json_atomic(path, options)


def content_key(name: str, files: Sequence[str | Path]) -> str:
    """A resume key that changes when any of ``files`` changes: ``name`` plus the sha256 of each file's bytes (a
    missing file keys as missing, so it is tried again once it appears). An edited frame or photo is measured anew
    instead of keeping the part made from its old pixels."""
    from miex.core.fileio import sha256_of

    digests = [sha256_of(path) if Path(path).is_file() else "missing" for path in files]
    return "\n".join([name, *digests])


def run_resumable(
    function: Callable[[Any, Item], Any],
    jobs: Sequence[tuple[str, Item]],
    *,
    parts_dir: Path,
    options: dict[str, Any],
    factory: Callable[[], Any],
    workers: int,
    desc: str,
) -> list[Any]:
    """Run ``function`` on the ``(key, item)`` jobs whose part is missing, store each result as its part, and return
    every job's result (finished earlier or now) in job order. A rerun only fills in what is missing; an item that
    failed unexpectedly keeps no part and comes back as a :func:`failure` result."""
    check_options(parts_dir, options)
    todo = [(key, item) for key, item in jobs if not part_path(parts_dir, key).is_file()]
    keys = [key for key, _ in todo]
    failed: dict[str, Any] = {}
    for key, (_, result) in zip(
        keys, map_items(function, [item for _, item in todo], factory=factory, workers=workers, desc=desc), strict=True
    ):
        if failure(result):
            failed[key] = result
        else:
            write_json_atomic(part_path(parts_dir, key), result)
    return [failed[key] if key in failed else read_json(part_path(parts_dir, key)) for key, _ in jobs]
