"""How every command touches the file system: atomic writes, an output lock, containment, safe reads.

One place for the rules of the flow's file contract (docs/reference.md §File contract):

- a file appears complete or not at all (:func:`atomic_path`: write a temporary beside it, rename into place;
  the one implementation of that rule, also behind :func:`write_json_atomic`);
- one run at a time writes an output folder (:class:`OutputLock`);
- a folder is a command's own only when its marker says so (:func:`mark_output`, :func:`output_kind`), and its
  output never is, or lies inside, one of its inputs (:func:`guard_output_folder`);
- nothing is written outside the output folder (:func:`contained`), nor through a link inside it
  (:func:`refuse_links`);
- a file the command did not make is not overwritten unless the user says so (:func:`guard_output_file`);
- a parquet input that is not a table is reported by name, never as a pyarrow traceback (:func:`read_parquet`);
  miex writes every parquet file with page checksums and reads with verification, so a damaged file is refused by
  name instead of yielding changed values (:func:`parquet_error`).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miex.core.errors import MiexInputError

if TYPE_CHECKING:
    import argparse

RUN_STATE = ".miex"
"""Hidden folder of run state inside an output folder (receipts, parts, the lock); never published."""
LOCK_NAME = "lock"
MARKER_NAME = "output.json"
"""``.miex/output.json``: which kind of output a folder is and which command made it. A folder counts as a command's
own only through this marker: a user's file that happens to be called ``index.parquet`` or ``.miex`` never does."""
DATASET_KIND = "MiE-X dataset"
FACE_POOL_KIND = "face pool"
FLOW_KIND = "flow set"
GENERATOR_KIND = "generator checkpoint"
RUN_KIND = "recognizer run"
SPACE_KIND = "Hugging Face Space"
EVAL_EXPORT_KIND = "generator evaluation"
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
"""Suffixes (lower case) of the image files a corpus folder of frames is listed by."""
_PATH_SEPARATORS = ("/", "\\", "\0")


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
    """The sha256 of a file's bytes, streamed (shards, checkpoints and model bundles are large)."""
    import hashlib

    with Path(path).open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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
        return pq.read_table(path, columns=columns, page_checksum_verification=True)
    except (pa.ArrowException, OSError, ValueError) as error:
        raise parquet_error(path, what, error) from error


PARQUET_MAKERS = {
    "clip table": "miex corpus",
    "AU table": "miex extract-aus",
    "AU pool": "miex au-pool",
    "plan": "miex plan",
    "face-pool index": "miex faces",
    "flow index": "miex flow",
    "MiE-X shard": "miex synthesize",
}
"""Which command re-creates each kind of parquet file miex writes (for the "damaged" message)."""
CHECKSUM_FAILURE = "checksum verification failed"
"""What pyarrow says when a page's CRC (every parquet miex writes has them: ``write_page_checksum=True``) does not
match its bytes: the file changed on disk after it was written (a flipped bit, a bad copy)."""


def parquet_error(path: str | PathLike[str], what: str, error: BaseException) -> MiexInputError:
    """The one-line error for a parquet file pyarrow could not read: "damaged" when a page checksum failed (its
    values are not to be trusted, even where they would still decode), else "not a readable ..."."""
    if CHECKSUM_FAILURE in str(error):
        command = PARQUET_MAKERS.get(what, "the command that made it")
        return MiexInputError(
            f"the {what} is damaged (a page checksum does not match: the file changed after it "
            f"was written); re-create it with `{command}`",
            file=path,
        )
    return MiexInputError(f"not a readable {what} (parquet): {first_line(error)}", file=path)


def name_problem(text: str) -> str | None:
    """Why a subject/clip name taken from a sheet or ground-truth row cannot be a folder name, or None.

    Row data becomes folder names (frames are looked up there, ``miex flow`` writes ``<subject>/<clip>.npz``), so a
    ``..``, a path separator or an absolute path would reach outside the corpus or the output folder.
    """
    if text == "." or ".." in text or any(sep in text for sep in _PATH_SEPARATORS) or Path(text).is_absolute():
        return f"{text!r} is not a plain folder name (no '.', '..', '/', '\\' or absolute paths); fix the cell"
    return None


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


def refuse_links(out: str | PathLike[str], relatives: Iterable[str], *, trees: Iterable[str] = ()) -> None:
    """Refuse, naming the path, when a path miex is about to write or delete inside ``out`` (``relatives``), or any
    folder on the way to it, is a link or resolves outside ``out``; each of ``trees`` (folders whose contents miex
    rewrites or prunes) is also searched for linked folders. ``out`` itself may be a link: it is where the user
    asked for the output."""
    root = Path(out)
    base = root.resolve()
    for relative in relatives:
        path = root
        for part in Path(relative).parts:
            path = path / part
            if path.is_symlink():
                _refuse_link(root, path)
            if not path.exists():
                break
        if path.exists() and not path.resolve().is_relative_to(base):
            raise MiexInputError(
                f"leads outside the output folder {base}; miex writes only inside it: remove it or "
                "choose another --out",
                file=path,
            )
    for tree in trees:
        top = root / tree
        if not top.is_dir() or top.is_symlink():
            continue
        for folder, names, _ in os.walk(top):  # os.walk never enters linked folders: they are reported here
            for name in names:
                if os.path.islink(os.path.join(folder, name)):
                    _refuse_link(root, Path(folder, name))


def _refuse_link(root: Path, path: Path) -> None:
    raise MiexInputError(
        f"a link (to {os.readlink(path)}) inside the output folder {root}: miex never writes or deletes through a "
        "link there; remove the link or choose another --out",
        file=path,
    )


def output_kind(out: str | PathLike[str]) -> str | None:
    """The kind of output ``out`` holds according to its marker (see :data:`MARKER_NAME`); None when it has none.
    A marker that is not a regular file or not miex's JSON counts as none."""
    marker = Path(out) / RUN_STATE / MARKER_NAME
    if marker.is_symlink() or not marker.is_file():
        return None
    try:
        payload = read_json(marker)
    except (OSError, ValueError):
        return None
    kind = payload.get("kind") if isinstance(payload, dict) else None
    return kind if isinstance(kind, str) else None


def mark_output(out: str | PathLike[str], kind: str, command: str) -> None:
    """Record that ``out`` holds a ``kind`` output made by ``command``; written once the folder is claimed (guarded
    and locked), before anything else is written into it."""
    from miex.core import __version__

    write_json_atomic(Path(out) / RUN_STATE / MARKER_NAME, {"kind": kind, "command": command, "miex": __version__})


def _holds_nothing(out: Path) -> bool:
    """Empty, or holding only the lock a run takes before it checks the folder."""
    for entry in out.iterdir():
        if entry.name != RUN_STATE or entry.is_symlink() or not entry.is_dir():
            return False
        if any(inner.name != LOCK_NAME for inner in entry.iterdir()):
            return False
    return True


def _overlap(out: Path, inputs: Iterable[str | PathLike[str] | None], writes: Iterable[str]) -> None:
    """Refuse an output folder that is, or lies inside, an input folder, and an input file miex would rewrite."""
    target = out.resolve()
    written = {(target / name).resolve() for name in writes}
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if source.is_dir() and (target == source or target.is_relative_to(source)):
            where = "the input folder" if target == source else "inside the input folder"
            raise MiexInputError(
                f"--out is {where} {given}: writing there would mix the output into an input; "
                "choose an --out outside it",
                file=out,
            )
        if source in written:
            raise MiexInputError(
                f"the input {given} is a file this command writes into --out; copy it elsewhere "
                "or choose another --out",
                file=out,
            )


def guard_output_folder(
    out: str | PathLike[str],
    overwrite: bool,
    *,
    kind: str,
    command: str,
    writes: Iterable[str] = (),
    trees: Iterable[str] = (),
    inputs: Iterable[str | PathLike[str] | None] = (),
    replaced: str = "its contents",
) -> None:
    """Check an output folder before anything is computed or written.

    Always refused: a file; a folder that is, or lies inside, one of ``inputs``; a Python package (a checkout's own
    source, e.g. ``miex`` run where a package of that name lies); a link at any of ``writes`` (the paths the command
    writes or deletes, relative to ``out``) or inside ``trees`` (see :func:`refuse_links`).
    Refused unless ``overwrite``: a non-empty folder whose marker does not say ``kind`` -- another kind of miex output
    or a user's own files, which are never replaced unasked. ``replaced`` says what an ``--overwrite`` replaces."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise MiexInputError("--out names a file; give a folder (it is created when missing)", file=out)
    writes = [RUN_STATE, f"{RUN_STATE}/{LOCK_NAME}", f"{RUN_STATE}/{MARKER_NAME}", *writes]
    _overlap(out, inputs, writes)
    if not out.is_dir():
        return
    if (out / "__init__.py").is_file():  # source code is never output, whatever --overwrite says
        raise MiexInputError(
            "--out is a Python package (it holds __init__.py), not an output folder: choose another --out", file=out
        )
    refuse_links(out, writes, trees=trees)
    found = output_kind(out)
    if overwrite or found == kind or _holds_nothing(out):
        return
    what = f"it holds a {found}, not a {kind}" if found else f"it has no {RUN_STATE}/{MARKER_NAME} marker"
    raise MiexInputError(
        f"output folder is not empty and was not made by {command} ({what}): choose a new or empty --out, or pass "
        f"--overwrite to write into it ({replaced} are then replaced)",
        file=out,
    )


def overwrite_help(replaced: str, *, option: str = "--out") -> str:
    """The help of ``--overwrite``, one sentence for every command: ``replaced`` says what it replaces (``"its
    crops/ and index.parquet"``, ``"it with the plan"``), ``option`` names the output it applies to."""
    return (
        f"write to {option} even when it holds something else, replacing {replaced}; without it miex refuses such "
        "an output and changes nothing"
    )


def add_overwrite_option(parser: argparse.ArgumentParser, replaced: str, *, option: str = "--out") -> None:
    """Declare ``--overwrite`` (the only way past the refusals of :func:`guard_output_file` and
    :func:`guard_output_folder`) with :func:`overwrite_help`."""
    parser.add_argument("--overwrite", action="store_true", help=overwrite_help(replaced, option=option))


class OutputLock:
    """An exclusive, non-blocking lock on an output folder, held for the whole run: ``filelock``'s kernel lock
    (``flock``) on ``<folder>/.miex/lock``, so the kernel drops it when the process dies and a killed run never leaves
    it stuck. The lock file is opened without following links and names its holder for the refusal of a second run."""

    def __init__(self, folder: str | PathLike[str]) -> None:
        self.folder = Path(folder)
        self.path = self.folder / RUN_STATE / LOCK_NAME
        self._lock: Any = None

    def __enter__(self) -> OutputLock:
        from filelock import FileLock, Timeout  # imported here: it costs ~50 ms of every `miex --help`

        refuse_links(self.folder, (RUN_STATE, f"{RUN_STATE}/{LOCK_NAME}"))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(
            self.path,
            timeout=0,
            thread_local=False,
            preserve_lock_file=True,  # the kernel lock or none: never the soft lock a killed run would leave behind
            fallback_to_soft=False,
            on_acquired=_name_the_holder,
        )
        try:  # filelock opens without following links: one put there after the check is refused, never truncated
            lock.acquire()
        except Timeout as error:
            raise MiexInputError(
                f"another miex run ({self._holder()}) is writing this folder; wait for it to finish or choose another "
                "output folder",
                file=self.folder,
            ) from error
        except OSError as error:
            if error.errno == errno.ELOOP:
                _refuse_link(self.folder, self.path)
            raise
        self._lock = lock
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _holder(self) -> str:
        """What the lock file says about the run holding it (``pid N``)."""
        try:
            with os.fdopen(os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW), encoding="utf-8") as handle:
                return handle.read().strip() or "another process"
        except (OSError, ValueError):
            return "another process"


def _name_the_holder(descriptor: int) -> None:
    """Write ``pid N`` into the lock file just acquired (filelock has emptied it)."""
    os.write(descriptor, f"pid {os.getpid()}\n".encode())


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
