"""``import miex``: the public API resolves, mirrors the command line, and the README's Python example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import miex

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python_example() -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- python-example -->\n```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its <!-- python-example --> block"
    return match.group(1)


def test_every_public_name_resolves_and_is_documented() -> None:
    for name in miex.__all__:
        value = getattr(miex, name)
        if name != "__version__":
            assert (value.__doc__ or "").strip(), f"miex.{name} has no docstring"
    with pytest.raises(AttributeError, match="the API"):
        miex.not_a_step  # noqa: B018


@pytest.mark.slow
def test_the_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code = readme_python_example()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    uf1, uar = (float(v) for v in re.search(r"UF1 ([\d.]+)\s+UAR ([\d.]+)", done.stdout).groups())
    assert 0.6 < uf1 <= 1.0 and 0.6 < uar <= 1.0, done.stdout  # it learns: chance is 0.33 (seen: 0.96 to 1.0)
    shards = sorted((tmp_path / "miex" / "data").glob("*.parquet"))
    assert shards, "the example wrote no shards"
    import pyarrow.parquet as pq

    assert sum(pq.read_metadata(shard).num_rows for shard in shards) == 300  # the embedded default's size
