"""How every command touches the file system: atomic writes, an output lock, containment, safe reads.

One place for the rules of the flow's file contract (docs/reference.md §File contract):

- a file appears complete or not at all (:func:`atomic_path`: write a temporary beside it, rename into place;
  the one implementation of that rule, also behind :func:`write_json_atomic`);
- one run at a time writes an output folder (:class:`OutputLock`);
- nothing is written outside the output folder (:func:`contained`);
- a file the command did not make is not overwritten unless the user says so (:func:`guard_output_file`);
- a parquet input that is not a table is reported by name, never as a pyarrow traceback (:func:`read_parquet`).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any

from .errors import MiexInputError

RUN_STATE = ".miex"
"""Hidden folder of run state inside an output folder (receipts, parts, the lock); never published."""
LOCK_NAME = "lock"


@contextlib.contextmanager
def atomic_path(
    path: str | PathLike[str], suffix: str = "", *, staging: str | PathLike[str] | None = None
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on any error it is removed.

    ``suffix`` keeps writers that choose their format by extension happy (``".npz"``). ``staging``: a folder (on the
    same file system) to hold the temporary instead, so that nothing half-written ever appears in ``path``'s folder
    (shards: ``data/`` is what loaders and uploads read)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = path.parent if staging is None else Path(staging)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f"{path.name}.tmp{os.getpid()}{suffix}"
    try:
        yield temporary
        temporary.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_json_atomic(path: str | PathLike[str], payload: object) -> None:
    """``payload`` as compact, key-sorted JSON through :func:`atomic_path`: an interrupted run never leaves a
    half-written receipt, part or settings file."""
    import json

    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(payload, sort_keys=True), encoding="utf-8")


def read_json(path: str | PathLike[str]) -> Any:
    """A JSON file miex wrote (receipts, parts, settings); the reader of :func:`write_json_atomic`."""
    import json

    return json.loads(Path(path).read_text(encoding="utf-8"))


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none): libraries' multi-line messages
    become the one line a command prints."""
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def sha256_of(path: str | PathLike[str]) -> str:
    """The sha256 of a file's bytes, read in blocks (shards, checkpoints and model bundles are large)."""
    import hashlib

    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_parquet(path: str | PathLike[str], what: str, columns: list[str] | None = None) -> Any:
    """The parquet file ``path`` as a pyarrow Table; a missing, folder, empty or corrupt file is a MiexInputError
    that says what the file was supposed to be (``what``: "clip table", "AU table", "plan", ...)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        raise MiexInputError(f"expected a {what} (a parquet file), got a folder", file=path)
    if not path.is_file():
        raise MiexInputError(f"{what} not found", file=path)
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise MiexInputError(f"not a readable {what} (parquet): {first_line(error)}", file=path) from error


def contained(
    root: str | PathLike[str], relative: str | PathLike[str], *, what: str = "path", follow_links: bool = True
) -> Path:
    """``root / relative``, refused when it would lie outside ``root`` (``..`` parts, absolute paths and, with
    ``follow_links``, links that lead out). Used for every path built from data (sheet rows, file names in a
    release)."""
    if follow_links:
        root_path = Path(root).resolve()
        candidate = (root_path / relative).resolve()
    else:
        root_path = Path(os.path.abspath(root))
        candidate = Path(os.path.normpath(root_path / relative))
    if candidate != root_path and root_path not in candidate.parents:
        raise MiexInputError(f"{what} {str(relative)!r} leads outside {root_path}; refusing to use it")
    return candidate


def same_file(first: str | PathLike[str], second: str | PathLike[str]) -> bool:
    """Whether two paths name the same file (also through links or different spellings)."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return Path(first).resolve() == Path(second).resolve()


def guard_output_file(
    out: str | PathLike[str],
    *,
    inputs: Iterable[str | PathLike[str] | None] = (),
    ours: bool | None = None,
    overwrite: bool = False,
    option: str = "--out",
) -> Path:
    """Check an output file before anything is computed.

    - ``out`` naming one of ``inputs`` is always refused (the input would be destroyed by its own output);
    - an existing ``out`` that is not ours (``ours`` False: another kind of file, or not made by miex) is refused
      unless ``overwrite``; ``ours`` None means "any existing file is ours to replace" (a rerun)."""
    out = Path(out)
    if out.is_dir():
        raise MiexInputError(f"{option} names a folder; give a file path", file=out)
    for given in inputs:
        if given is not None and out.exists() and same_file(out, given):
            raise MiexInputError(f"{option} is the input file itself; choose another output path", file=out)
    if out.exists() and ours is False and not overwrite:
        raise MiexInputError(
            f"{option} exists and was not written by this command; pass --overwrite to replace it", file=out
        )
    return out


def guard_output_folder(
    out: str | PathLike[str], overwrite: bool, *, ours: Iterable[str] = (RUN_STATE,), replaced: str = "its contents"
) -> None:
    """Refuse an output folder that is a file, or an existing non-empty folder that miex did not make (none of the
    entries ``ours`` marks a miex output), unless ``overwrite``: a user's own files are never replaced unasked.
    ``replaced`` says what an ``--overwrite`` would replace."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MiexInputError("--out names a file; give a folder (it is created when missing)", file=out)
    if overwrite or not out.is_dir() or any((out / marker).exists() for marker in ours) or not any(out.iterdir()):
        return
    raise MiexInputError(
        f"output folder is not empty and was not made by miex (it has no {' or '.join(ours)}): choose a new or empty "
        f"--out, or pass --overwrite to write into it ({replaced} are then replaced)",
        file=out,
    )


class OutputLock:
    """An exclusive, non-blocking lock on an output folder, held for the whole run (``fcntl.flock`` on
    ``<folder>/.miex/lock``; the kernel drops it when the process dies, so a killed run never leaves it stuck)."""

    def __init__(self, folder: str | PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / RUN_STATE / LOCK_NAME
        self._handle: Any = None

    def __enter__(self) -> OutputLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise MiexInputError(
                    f"another miex run ({holder}) is writing this folder; wait for it to finish or choose another "
                    "output folder",
                    file=self.folder,
                ) from error
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def describe_os_error(error: OSError) -> str:
    """One line for a file-system failure, with what to do next."""
    name = error.filename or ""
    where = f" ({name})" if name else ""
    if error.errno == errno.ENOSPC:
        return f"the disk is full{where}; free space and run the same command again (finished work is kept)"
    if error.errno == errno.EROFS:
        return f"the output location is read-only{where}; choose a writable --out"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}; choose a location you can write"
    if error.errno == errno.EISDIR:
        return f"expected a file but found a folder{where}"
    if error.errno == errno.ENOTDIR:
        return f"a path component is not a folder{where}"
    if error.errno == errno.ENOENT:
        return f"no such file or folder{where}"
    return f"{error.strerror or error}{where}"
