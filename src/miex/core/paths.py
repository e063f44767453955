"""How miex files store the paths they hold, so that every file works from any working folder.

The rule (recorded in a parquet file's schema metadata as ``miex.paths = relative-to-file``): a path is stored
relative to the folder of the file that holds it when the target lies inside that folder, else absolute. Readers
resolve a stored path against the holding file's folder, whatever the current folder is.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from os import PathLike
from pathlib import Path, PurePosixPath

PATHS_KEY = b"miex.paths"
RELATIVE_TO_FILE = b"relative-to-file"

StrPath = str | PathLike[str]


def absolute(path: StrPath) -> str:
    """``path`` made absolute against the current folder and normalized; links are kept as spelled (not resolved)."""
    return os.path.abspath(os.fspath(path))


def store_path(path: StrPath, folder: StrPath) -> str:
    """How a file in ``folder`` records ``path`` (given relative to the current folder, or absolute): relative to
    ``folder`` with ``/`` separators when it lies inside, else absolute."""
    target, base = absolute(path), absolute(folder)
    if target != base and os.path.commonpath([target, base]) == base:
        return PurePosixPath(*Path(os.path.relpath(target, base)).parts).as_posix()
    return target


def store_paths(paths: Iterable[StrPath], folder: StrPath) -> list[str]:
    return [store_path(path, folder) for path in paths]


def resolve_path(stored: StrPath, folder: StrPath) -> str:
    """The absolute path a file in ``folder`` means by ``stored`` (absolute as stored, else joined to ``folder``)."""
    text = os.fspath(stored)
    if os.path.isabs(text):
        return os.path.normpath(text)
    return os.path.normpath(os.path.join(absolute(folder), text))


def resolve_paths(stored: Iterable[StrPath], folder: StrPath) -> list[str]:
    return [resolve_path(path, folder) for path in stored]


def with_paths_rule(metadata: dict[bytes, bytes] | None) -> dict[bytes, bytes]:
    """Schema metadata plus the record that this file's paths follow the rule."""
    return {**(metadata or {}), PATHS_KEY: RELATIVE_TO_FILE}
