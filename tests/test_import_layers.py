"""Imports between miex_dataset's modules point one way only, for the pairs that used to import each other.

Each module is parsed, not imported, so an import placed inside a function counts as much as one at the top of the
file: such an import hides a cycle until the function runs. Importing ``a.b.c`` runs ``a/__init__.py`` and
``a/b/__init__.py`` too, so those count as imported as well.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import miex_dataset

PACKAGE_DIR = Path(miex_dataset.__file__).parent
ROOT = PACKAGE_DIR.parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def imported_names(name: str) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` for every import statement of module ``name``, at any depth of the file; for
    ``from X import y`` both ``X`` and ``X.y`` (``y`` may be a submodule), relative imports made absolute."""
    path = modules()[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            yield node.lineno, source
            for alias in node.names:
                yield node.lineno, f"{source}.{alias.name}"


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def loaded_modules(name: str) -> set[str]:
    """The miex_dataset modules an import of ``name`` executes (its own and its parents' ``__init__`` included)."""
    loaded: set[str] = set()
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if prefix in modules():
            loaded.add(prefix)
    return loaded


def direct_imports(source: str, target: str) -> list[str]:
    """``file:line imported-name`` for every import under package/module ``source`` that reaches into ``target``."""
    return [
        f"{modules()[name].relative_to(ROOT)}:{line} {imported}"
        for name in modules()
        if within(name, source)
        for line, imported in imported_names(name)
        if within(imported, target)
    ]


def reachable(start: str) -> set[str]:
    """Every miex_dataset module that importing ``start`` can load, following imports inside functions too."""
    seen = {start}
    queue = [start]
    while queue:
        for _, imported in imported_names(queue.pop()):
            for module in loaded_modules(imported) - seen:
                seen.add(module)
                queue.append(module)
    return seen


def test_the_parser_sees_imports_inside_functions() -> None:
    """The checks below can fail: ``miex_dataset.builder`` imports the engine, ``api`` (inside a function) the
    builder, and the face pipeline the clip table."""
    assert direct_imports("miex_dataset.builder", "miex_dataset.synthesis.engine")
    assert direct_imports("miex_dataset.synthesis.api", "miex_dataset.builder")
    assert direct_imports("miex_dataset.faces", "miex_dataset.corpora.clips")
    assert "miex_dataset.builder" in reachable("miex_dataset.synthesis.api")


@pytest.mark.parametrize(
    "forbidden",
    [
        "miex_dataset.corpora.common",  # IMAGE_SUFFIXES and name_problem live in miex_dataset.fileio
        "miex_dataset.corpora.report",  # ValidationReport lives in miex_dataset.report
        "miex_dataset.corpora.IMAGE_SUFFIXES",
        "miex_dataset.corpora.Problem",
        "miex_dataset.corpora.ValidationReport",
        "miex_dataset.corpora.name_problem",
    ],
)
def test_the_face_pipeline_takes_reports_suffixes_and_names_from_below_corpora(forbidden: str) -> None:
    assert direct_imports("miex_dataset.faces", forbidden) == []


def test_no_module_imports_the_report_from_corpora() -> None:
    assert "miex_dataset.corpora.report" not in modules()
    assert direct_imports("miex_dataset", "miex_dataset.corpora.report") == []


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("miex_dataset.synthesis.config", "miex_dataset.synthesis.engine"),  # EngineConfig.from_config builds it
        ("miex_dataset.builder", "miex_dataset.synthesis.api"),  # load_configured_generator lives in config
        ("miex_dataset.app.options", "miex_dataset.app.ui"),  # build_app, launch and their kwargs live in ui
        ("miex_dataset.hub", "miex_dataset.synthesis"),  # the folder's names and receipts live in layout
        ("miex_dataset.layout", "miex_dataset.synthesis"),
    ],
)
def test_the_lower_module_never_loads_the_upper_one(lower: str, upper: str) -> None:
    """Neither directly nor through another module, so ``upper -> lower`` is the only direction left."""
    assert direct_imports(lower, upper) == []
    assert sorted(module for module in reachable(lower) if within(module, upper)) == []


def test_the_upper_modules_still_use_the_lower_ones() -> None:
    """The pairs above are layered, not cut apart: each upper module still imports the lower one."""
    assert direct_imports("miex_dataset.synthesis.engine", "miex_dataset.synthesis.config")
    assert direct_imports("miex_dataset.synthesis.api", "miex_dataset.builder")
    assert direct_imports("miex_dataset.app.ui", "miex_dataset.app.options")
    assert direct_imports("miex_dataset.generators", "miex_dataset.hub")
    assert direct_imports("miex_dataset.synthesis", "miex_dataset.generators")
