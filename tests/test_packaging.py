"""What a wheel carries: an install from it (``pip install --user``, a Space, CI) finds everything miex reads."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from miex.data.cards import TEMPLATES

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "src")
"""What the build reads; copied, so building writes no build/ or egg-info into the checkout."""


@pytest.mark.slow
def test_the_wheel_carries_the_card_templates(tmp_path: Path) -> None:
    tree = tmp_path / "source"
    for name in SOURCES:
        source, target = ROOT / name, tree / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    build = [sys.executable, "-m", "pip", "wheel", str(tree), "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(tmp_path / "wheels")], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheels").glob("miex-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith(f"miex/data/{TEMPLATES}/")}
    templates = {
        f"miex/data/{TEMPLATES}/{path.name}" for path in (ROOT / "src" / "miex" / "data" / TEMPLATES).glob("*.md")
    }
    assert {f"miex/data/{TEMPLATES}/{name}" for name in ("dataset_card.md", "model_card.md")} <= templates
    assert shipped == templates
