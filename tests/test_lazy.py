"""``miex.core.lazy``: names that import their module on first use, the one mechanism behind ``import miex``, the
packages' exports and the registries of generators, corpus readers and commands."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import miex
from miex.cli import COMMANDS
from miex.core import lazy
from miex.data.corpora import READERS
from miex.data.generators import GENERATORS

ROOT = Path(__file__).resolve().parents[1]


def test_load_resolves_absolute_relative_and_module_targets() -> None:
    assert lazy.load("miex.core.fileio:atomic_path").__name__ == "atomic_path"
    assert lazy.load(".fileio:atomic_path", "miex.core") is lazy.load("miex.core.fileio:atomic_path")
    assert lazy.load("miex.core.fileio").__name__ == "miex.core.fileio"


def test_every_registered_target_resolves() -> None:
    """A typo in a registry would only show when that generator, reader or command is first used."""
    for target in [*GENERATORS.values(), *(command.module for command in COMMANDS)]:
        assert lazy.load(target) is not None, target
    assert all(callable(READERS[name]) for name in READERS)
    for name in miex.__all__:
        assert getattr(miex, name) is not None, name


PACKAGE = {
    "__init__.py": """
        from miex.core import lazy

        __all__ = ["heavy", "task"]
        __getattr__, __dir__ = lazy.attach(__name__, {"heavy": ".heavy:heavy", "task": ".task:task"})
    """,
    "heavy.py": """
        import sys

        sys.modules[__package__].imported = True
        heavy = "loaded"
    """,
    "task.py": "def task():\n    return 'the function'\n",
}
PROBE = """
import sys, types
import pkg
light = not hasattr(pkg, "imported")
print(light, pkg.heavy, pkg.imported, "heavy" in vars(pkg), sorted(set(dir(pkg)) & {"heavy", "task"}))
from pkg.task import task
print(isinstance(pkg.task, types.FunctionType), pkg.task is task, type(sys.modules["pkg.task"]).__name__)
try:
    pkg.missing
except AttributeError as error:
    print(error)
"""


def test_attach_imports_on_first_use_keeps_the_value_and_the_export_over_its_submodule(tmp_path: Path) -> None:
    """Importing the package runs none of its submodules; a name used once is kept; ``from pkg.task import ...``
    leaves ``pkg.task`` the function, not the submodule of the same name."""
    for name, text in PACKAGE.items():
        (tmp_path / "pkg").mkdir(exist_ok=True)
        (tmp_path / "pkg" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")])}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    first, second, third = done.stdout.splitlines()
    assert first == "True loaded True True ['heavy', 'task']"
    assert second == "True True module"
    assert third == "module 'pkg' has no attribute 'missing' (the API: heavy, task)"


@pytest.mark.parametrize("package", ["miex.data.generators", "miex.data.synthesis", "miex.train.runner"])
def test_each_package_lists_its_lazy_names_in_all(package: str) -> None:
    module = lazy.load(package)
    assert all(getattr(module, name) is not None for name in module.__all__)
