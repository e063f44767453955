"""The files a recipe reads, checked before anything heavy loads.

``miex train`` (and ``train.py``, ``python -m miex train``) calls :func:`check_inputs` right after the recipe is
validated and before the runner imports torch and transformers or builds a model, whose backbone may come from the
Hub: a missing or unreadable clip table, MiE-X folder or fold file is reported in about a second, naming the recipe
field to change. This module imports no training code; :func:`~.checks.preflight` reads the same files fully later
(frames, labels, provenance).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from miex.core.errors import MiexInputError
from miex.train.runner.specs import Recipe


def clip_tables(recipe: Recipe) -> dict[str, Path]:
    """Recipe field -> clip table file (or MiE-X folder): the real corpus first, then every extra set."""
    tables = {"data.real.clips": recipe.data.real.clips}
    tables.update({f"data.extra.{name}.clips": spec.clips for name, spec in recipe.data.extra.items()})
    return tables


def check_clip_table(path: Path, where: str) -> None:
    """The clip table exists, is parquet and has a clip table's columns (:func:`read_clip_table`'s checks); a folder,
    or a missing path without a file suffix (``miex``), is a MiE-X folder tested on (:mod:`.miex_test`)."""
    from miex.data.corpora.clips import read_clip_table

    if path.is_dir() or (not path.suffix and not path.exists()):
        check_miex_folder(path, where)
        return
    try:
        read_clip_table(path)
    except MiexInputError as error:
        raise _naming_field(error, where) from None


def check_miex_folder(path: Path, where: str = "data.miex") -> None:
    """The MiE-X folder exists, can be listed and holds files; whether they load is :func:`~..data.load_miex`'s
    check, in the runner."""
    if not path.is_dir():
        what = "is a file, not a MiE-X folder" if path.exists() else "MiE-X folder not found"
        raise MiexInputError(f"{what} (make one with `miex synthesize ...`){_elsewhere(where)}", file=path, field=where)
    try:
        empty = not any(os.scandir(path))
    except OSError as error:
        raise MiexInputError(
            f"cannot read the MiE-X folder ({error.strerror or error})", file=path, field=where
        ) from None
    if empty:
        raise MiexInputError(
            f"the MiE-X folder is empty (make one with `miex synthesize ...`){_elsewhere(where)}",
            file=path,
            field=where,
        )


def check_fold_file(path: Path, where: str = "protocol.file") -> None:
    if not path.is_file():
        raise MiexInputError(
            f"fold file not found (write one with miex.train.protocols.save_folds){_elsewhere(where)}",
            file=path,
            field=where,
        )
    if not os.access(path, os.R_OK):
        raise MiexInputError("fold file is not readable", file=path, field=where)


def input_problems(recipe: Recipe) -> list[MiexInputError]:
    """What is wrong with each input file of ``recipe`` (clip tables, MiE-X folder, fold file); empty: all usable."""
    problems: list[MiexInputError] = []

    def attempt(check: Callable[..., None], *args: Any) -> None:
        try:
            check(*args)
        except MiexInputError as error:
            problems.append(error)

    for where, path in clip_tables(recipe).items():
        attempt(check_clip_table, path, where)
    if recipe.data.miex is not None:
        attempt(check_miex_folder, recipe.data.miex.path)
    if recipe.protocol.kind == "file" and recipe.protocol.file is not None:
        attempt(check_fold_file, recipe.protocol.file)
    return problems


def check_inputs(recipe: Recipe) -> None:
    """Every input file of ``recipe`` exists and is readable; one :class:`MiexInputError` names all that are not."""
    problems = input_problems(recipe)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        listed = "; ".join(str(problem) for problem in problems)
        raise MiexInputError(f"{len(problems)} input files of the recipe are unusable: {listed}")


def _elsewhere(where: str) -> str:
    """How to point the recipe at a file in another place (relative paths are taken from the current folder)."""
    return f"; run in the folder that holds it, or --set {where}=PATH"


def _naming_field(error: MiexInputError, where: str) -> MiexInputError:
    """``error`` with the recipe field that named the file (and, for a missing file, how to name another)."""
    hint = _elsewhere(where) if "not found" in error.reason else ""
    return MiexInputError(f"{error.reason}{hint}", file=error.file, row=error.row, field=error.field or where)
