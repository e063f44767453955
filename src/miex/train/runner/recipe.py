"""Recipe files (YAML): what one experiment trains and how it is evaluated, validated strictly before anything runs.

A recipe names the model, the data (the real corpus to test on, MiE-X, extra real sets such as CK+ early frames or a
corpus used for pre-training), the protocol, the training stages (e.g. pre-train on MiE-X -> fine-tune on real) and
the seeds. The sections are declared once, as dataclasses (:mod:`.specs`); :mod:`.schema` checks every section and
key against them: an unknown key is an error that names the closest known one (a typo would otherwise silently fall
back to a default). Relative paths are taken from the current directory, after expanding ``~`` and ``$VARIABLES``:
the shipped recipes (this package's ``recipes/``, addressed by name) read the files the README's whole flow writes
(``clips.parquet``, ``miex``), so they run in that folder without ``--set``. Hyperparameter defaults are the paper's
(docs/reference.md §Recognizers)::

    name: table1-branches-miex-finetune
    reproduces: {paper: Table 1, row: ..., datasets: [casme2, samm, smic], protocol: 3-fold, scores: ...}
    model: {name: branches, backbone: microsoft/resnet-18}
    data:
      real: {clips: clips.parquet}
      miex: miex
      magnify: {alpha: 4}         # optional motion magnification of every input (absent: off)
    protocol: {kind: kfold, k: 3, seed: 0}
    stages:
      - {name: pretrain, train: [miex]}
      - {name: finetune, train: [real]}
    seeds: [0, 1, 2]
"""

from __future__ import annotations

import copy
import difflib
import importlib.resources
import re
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from miex.core.errors import MiexInputError
from miex.train.runner.schema import Reader
from miex.train.runner.specs import (
    FLOW_METHODS,
    FRAME_CHOICES,
    OPTIMIZERS,
    PRECISIONS,
    PROTOCOLS,
    RESERVED_SOURCES,
    THREE_CLASS,
    DataSpec,
    MiexSpec,
    ModelSpec,
    OutputSpec,
    ProtocolSpec,
    RealSpec,
    Recipe,
    ReproducesSpec,
    StageSpec,
    TrainingSpec,
    default_num_workers,
)

__all__ = [
    "FLOW_METHODS",
    "FRAME_CHOICES",
    "OPTIMIZERS",
    "PRECISIONS",
    "PROTOCOLS",
    "RESERVED_SOURCES",
    "THREE_CLASS",
    "DataSpec",
    "MiexSpec",
    "ModelSpec",
    "OutputSpec",
    "ProtocolSpec",
    "RealSpec",
    "Recipe",
    "ReproducesSpec",
    "StageSpec",
    "TrainingSpec",
    "apply_overrides",
    "default_num_workers",
    "find_recipe",
    "load_recipe",
    "parse_recipe",
    "recipe_list",
    "shipped_recipes",
    "yaml_problem",
]


def parse_recipe(raw: Mapping[str, Any], *, file: str | PathLike[str] | None = None) -> Recipe:
    """A validated :class:`Recipe` from a mapping (the parsed YAML); errors name the file and the key path."""
    file = Path(file) if file is not None else None
    defaults: dict[str, Any] = {"source": file, "raw": copy.deepcopy(dict(raw)) if isinstance(raw, Mapping) else {}}
    if file is not None:
        defaults["name"] = file.stem
    return Reader(file).read(Recipe, raw, "", defaults=defaults)


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``KEY.PATH=VALUE`` settings (VALUE parsed as YAML; list items by index: ``stages.1.epochs=2``)."""
    result = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise MiexInputError(f"--set expects KEY.PATH=VALUE, got {item!r}", field="--set")
        try:
            value = read_yaml(text)
        except yaml.YAMLError as error:
            raise MiexInputError(f"--set {key}: value is not YAML ({yaml_problem(error)})", field="--set") from error
        parts = key.strip().split(".")
        node: Any = result
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise MiexInputError(
                        f"--set {key}: {part!r} is not an index of a {len(node)}-item list", field="--set"
                    )
                index = int(part)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if not isinstance(node.get(part), dict | list):
                        node[part] = {}
                    node = node[part]
            else:
                raise MiexInputError(f"--set {key}: {'.'.join(parts[:depth])} is not a mapping", field="--set")
    return result


MAX_DEPTH = 64
"""Deepest nesting of mappings and lists a recipe (or a ``--set`` value) may have: the deepest real section is 5
levels; parsing thousands of levels would exhaust Python's stack."""


class RecipeProblem(yaml.YAMLError):
    """A recipe YAML miex refuses although it parses: a repeated key, too deep a nesting. ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message, self.line = message, line


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data, no tags that run code) that also refuses a key given twice in one mapping
    (YAML would silently keep the last value: ``epochs: 1`` then ``epochs: 30`` trains 30) and nesting deeper than
    :data:`MAX_DEPTH` (checked while composing, before recursion could overflow)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise RecipeProblem(f"nested more than {MAX_DEPTH} levels deep (a recipe needs 5)", line)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: its keys may be overridden here
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
                seen.setdefault(key, line)
            except TypeError:  # an unhashable key: the constructor below reports it
                continue
            if first is not None:
                where = f"lines {first} and {line}" if first != line else f"both on line {line}"
                raise RecipeProblem(
                    f"key {key!r} is given twice ({where}); YAML would silently keep the last value: remove one", line
                )
        return super().construct_mapping(node, deep=deep)


RecipeLoader.add_implicit_resolver(  # YAML 1.2 floats: PyYAML (YAML 1.1) reads 1e-4 as the string '1e-4'
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def read_yaml(text: str) -> Any:
    """``text`` parsed by :class:`RecipeLoader`: a recipe file or a ``--set`` value."""
    return yaml.load(text, Loader=RecipeLoader)  # a SafeLoader: plain data only


def yaml_problem(error: yaml.YAMLError) -> str:
    """One line for a YAML syntax error: where (line, column; 1-based) and what, without PyYAML's source excerpt."""
    if isinstance(error, RecipeProblem):
        return f"line {error.line}: {error.message}"
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


RECIPES_PACKAGE = "miex.train.recipes"
LIST_HINT = "`miex train --list-recipes` lists the shipped recipes"


def shipped_recipes() -> dict[str, Path]:
    """Name (file stem) -> file of every recipe installed with the package (package data, so pip users have them)."""
    folder = Path(str(importlib.resources.files(RECIPES_PACKAGE)))
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def find_recipe(reference: str | PathLike[str]) -> Path:
    """The recipe file ``--recipe`` means: an existing path, else a shipped recipe's name (``table1_branches_compmie``
    or its ``name:`` spelling with dashes). Anything else is an error with the closest shipped names."""
    path = Path(reference)
    if path.is_dir():
        raise MiexInputError(f"--recipe names a folder; give a recipe file or a recipe name ({LIST_HINT})", file=path)
    if path.is_file():
        return path
    shipped = shipped_recipes()
    key = path.name.removesuffix(".yaml").removesuffix(".yml").replace("-", "_")
    is_name = len(path.parts) == 1 and path.suffix not in (".yaml", ".yml")
    if is_name and key in shipped:
        return shipped[key]
    if key in shipped:
        raise MiexInputError(
            f"recipe file not found; the shipped recipe of that name runs with --recipe {key}", file=path
        )
    close = difflib.get_close_matches(key, list(shipped), n=3, cutoff=0.5)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    what = f"no shipped recipe named {key!r}" if is_name else "recipe file not found"
    raise MiexInputError(f"{what}{hint}; {LIST_HINT}, or give the path of a recipe file", file=path)


def recipe_list() -> list[str]:
    """One line per shipped recipe: its name and what it reproduces (paper table and row, datasets, protocol)."""
    recipes = {name: load_recipe(path) for name, path in shipped_recipes().items()}
    width = max(map(len, recipes), default=0)
    return [
        f"{name:<{width}}  {recipe.reproduces.describe() if recipe.reproduces else recipe.description}"
        for name, recipe in recipes.items()
    ]


def load_recipe(reference: str | PathLike[str], overrides: Sequence[str] = ()) -> Recipe:
    """Read and validate a recipe (a file, or a shipped recipe's name: :func:`find_recipe`) after applying ``--set``
    overrides."""
    path = find_recipe(reference)
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise MiexInputError(
            f"not a UTF-8 text file (byte {error.start}); save the recipe as UTF-8 YAML", file=path
        ) from error
    except RecipeProblem as error:
        raise MiexInputError(f"recipe refused: {yaml_problem(error)}", file=path) from error
    except yaml.YAMLError as error:
        raise MiexInputError(f"not valid YAML: {yaml_problem(error)}", file=path) from error
    if not isinstance(raw, Mapping):
        raise MiexInputError(
            f"a recipe is a YAML mapping (name, model, data, protocol, stages, seeds), got {type(raw).__name__}",
            file=path,
        )
    return parse_recipe(apply_overrides(raw, overrides), file=path)
