"""Layers only look down: core < data < train < app < cli, and the public API (``miex``) above them all.

Each module under ``src/miex/`` is parsed, not imported, so an import placed inside a function counts as much as one at
the top of the file (such an import hides a wrong-way dependency until the function runs). Importing ``a.b.c`` runs
``a/__init__.py`` and ``a/b/__init__.py`` too, so those count as imported as well. The root ``miex/__init__.py`` is
the API: every import of a submodule runs it, so ``test_import_miex_loads_only_the_core`` keeps it light instead.

The package lives in ``src/`` so that the ``./miex`` dataset folder ``miex synthesize`` writes in the repository root
never meets a package folder of the same name; the last tests check that.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import miex

PACKAGE_DIR = Path(miex.__file__).parent
SRC = PACKAGE_DIR.parent
"""The folder on ``sys.path`` that holds the package: ``src/`` of the checkout."""
REGISTERED = re.compile(r"miex(\.\w+)+(:\w+)?")
"""A module named in a lazy registry (``"miex.data.steps:load"``, ``"miex.cli.train"``): imported when used."""
LAYERS = ("miex.core", "miex.data", "miex.train", "miex.app", "miex.cli")
"""Lowest first: a module may import its own layer and the ones before it."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def layer(name: str) -> int:
    """The rank of ``name``'s layer; the API (``miex``, ``miex.__main__``) ranks above every layer."""
    for rank, prefix in enumerate(LAYERS):
        if name == prefix or name.startswith(prefix + "."):
            return rank
    return len(LAYERS)


def imported_names(name: str) -> Iterator[tuple[int, str]]:
    """``(line, dotted name)`` for every import statement of module ``name``, at any depth of the file; for
    ``from X import y`` both ``X`` and ``X.y`` (``y`` may be a submodule), relative imports made absolute; and every
    string that is a registry entry naming a miex module."""
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
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and REGISTERED.fullmatch(node.value):
            yield node.lineno, node.value.partition(":")[0]


def loaded_modules(name: str) -> set[str]:
    """The miex modules an import of ``name`` executes: the module and its parent packages below the API."""
    parts = name.split(".")
    prefixes = (".".join(parts[:end]) for end in range(2, len(parts) + 1))
    return {prefix for prefix in prefixes if prefix in modules()}


def upward_imports(name: str) -> list[str]:
    """``file:line imported-module`` for each import of ``name`` that loads a module of a higher layer."""
    return [
        f"{modules()[name].relative_to(SRC.parent)}:{line} {loaded}"
        for line, imported in imported_names(name)
        if imported == "miex" or imported.startswith("miex.")
        for loaded in sorted(loaded_modules(imported) | ({"miex"} if imported == "miex" else set()))
        if layer(loaded) > layer(name)
    ]


def test_every_module_belongs_to_a_layer() -> None:
    assert set(modules()) >= {*LAYERS, "miex"}
    assert [name for name in modules() if layer(name) == len(LAYERS) and name not in ("miex", "miex.__main__")] == []


def test_the_parser_sees_imports_inside_functions() -> None:
    """The check below can fail: the datasets builder is imported inside a function of the synthesis API, the
    command line names its commands' modules as strings, and importing ``miex.data.faces.pool`` loads
    ``miex/data/faces/__init__.py``."""
    api = [imported for _, imported in imported_names("miex.data.synthesis.api")]
    assert "miex.data.builder" in api
    assert "miex.cli.train" in [imported for _, imported in imported_names("miex.cli")]  # a registry string
    assert "miex.data.faces" in loaded_modules("miex.data.faces.pool")
    assert layer("miex.core.errors") < layer("miex.data.hub") < layer("miex.train.api") < layer("miex.app.ui")
    assert layer("miex.app.ui") < layer("miex.cli.train") < layer("miex")


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_imports_a_higher_layer(name: str) -> None:
    assert upward_imports(name) == []


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def reachable(start: str) -> set[str]:
    """Every miex module that importing ``start`` can load, following imports inside functions too."""
    seen = {start}
    queue = [start]
    while queue:
        for _, imported in imported_names(queue.pop()):
            for module in loaded_modules(imported) - seen:
                seen.add(module)
                queue.append(module)
    return seen


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("miex.data.synthesis.config", "miex.data.synthesis.engine"),  # EngineConfig.from_config builds it
        ("miex.data.builder", "miex.data.synthesis.api"),  # load_configured_generator lives in config
        ("miex.data.hub", "miex.data.synthesis"),  # the folder's names and receipts live in layout
        ("miex.data.layout", "miex.data.synthesis"),
        ("miex.app.options", "miex.app.ui"),  # build_app, launch and their kwargs live in ui
    ],
)
def test_within_a_layer_the_lower_module_never_loads_the_upper_one(lower: str, upper: str) -> None:
    """Neither directly nor through another module, so ``upper -> lower`` is the only direction left (and the
    upper one does use the lower one: the pair is layered, not cut apart)."""
    assert sorted(module for module in reachable(lower) if within(module, upper)) == []
    uppers = [name for name in modules() if within(name, upper)]
    assert any(within(module, lower) for name in uppers for module in reachable(name))


def test_import_miex_loads_only_the_core_and_no_torch(tmp_path: Path) -> None:
    """``import miex`` is instant (a notebook's first cell): the API resolves its names on first use."""
    code = "import sys, miex; print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('miex.')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert all(name.startswith("miex.core") for name in ast.literal_eval(done.stdout)), done.stdout


def test_import_miex_beside_a_synthesized_miex_folder_is_the_api(tmp_path: Path) -> None:
    """``miex synthesize`` writes ``./miex`` by default (shards, card, run state, no ``__init__.py``): ``import
    miex`` there is still the installed package, and ``python -m miex`` still the command line."""
    folder = tmp_path / "miex"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1")
    (folder / "README.md").write_text("---\nlicense: cc-by-nc-4.0\n---\n", encoding="utf-8")
    (folder / ".miex").mkdir()
    code = "import miex; print(callable(miex.synthesize), miex.__file__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    is_api, where = done.stdout.split()
    assert is_api == "True" and Path(where) == PACKAGE_DIR / "__init__.py", done.stdout
    usage = subprocess.run([sys.executable, "-m", "miex", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert usage.returncode == 0 and "synthesize" in usage.stdout, usage.stderr


def test_the_repository_keeps_the_package_in_src() -> None:
    """The repository root holds no ``miex`` package folder for ``./miex`` to collide with, and git ignores that
    dataset folder there."""
    root = Path(__file__).resolve().parents[1]
    assert (root / "src" / "miex" / "__init__.py").is_file() and not (root / "miex" / "__init__.py").exists()
    assert "/miex/" in (root / ".gitignore").read_text(encoding="utf-8").splitlines()


def listing(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()} - {"__pycache__"}


@pytest.mark.slow
def test_synthesize_in_the_repository_root_writes_miex_beside_src(tmp_path: Path) -> None:
    """The README's first command runs ``miex synthesize`` in the repository root: the dataset lands in ``./miex``
    beside ``src/miex``, ``load_dataset("miex")`` reads it, and ``import miex`` and ``python -m miex`` there are still
    the package (here a copy of it in a checkout-like folder, first on the path as an editable install puts it)."""
    checkout = tmp_path / "checkout"
    package = checkout / "src" / "miex"
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__"))
    path = os.pathsep.join(filter(None, [str(checkout / "src"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, cwd=checkout, env=env, timeout=600, check=False
        )

    done = run("-m", "miex", "synthesize", "--samples-per-identity", "3", "--batch-size", "3")
    assert done.returncode == 0, done.stderr
    assert list((checkout / "miex" / "data").glob("*.parquet")) and (checkout / "miex" / "README.md").is_file()
    assert listing(package) == listing(PACKAGE_DIR)  # nothing written into the package
    where = run("-c", "import miex; print(miex.__file__)")
    assert Path(where.stdout.strip()) == package / "__init__.py", where.stderr
    usage = run("-m", "miex", "--help")
    assert usage.returncode == 0 and "synthesize" in usage.stdout, usage.stderr
    rows = run("-c", "from datasets import load_dataset; print(load_dataset('miex', split='train').num_rows)")
    assert rows.returncode == 0 and int(rows.stdout.split()[-1]) > 0, rows.stderr
