"""The README's whole flow, copied from the README itself, runs through the installed `miex` command on a CASME II
release laid out like the real one (a MEGC2019 folder holding only CASME II: the composite from the parts you have),
and its later steps work from another folder."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_robust_paths import CLIPS, build_casme2_corpus, build_photos

ROOT = Path(__file__).resolve().parents[1]
NEEDS_MORE = {
    "torchrun": "two ranks are tested in tests/test_synthesis.py",
    "accelerate": "needs a GANimation checkpoint",
    "push": "needs a Hub (the loopback Hub tests push)",
    "import-legacy": "needs the authors' release (tests/test_import_legacy.py)",
    "train": "trains a recognizer (tests/test_train_runner.py)",
}


def readme_flow() -> list[list[str]]:
    """The commands of the README's "The whole flow" block, comments stripped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("## The whole flow") :]
    block = block[block.index("```bash") + len("```bash") : block.index("```", block.index("```bash") + 7)]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


def miex_command() -> list[str]:
    """The installed console script beside this interpreter, else the module (an unactivated environment)."""
    script = Path(sys.executable).with_name("miex")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "miex_dataset"]


def run_miex(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*miex_command(), *argv], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, check=False)  # fmt: skip
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    return done


def build_megc_casme2_only(data: Path) -> None:
    build_casme2_corpus(data / "CASME2")
    labels = {"happiness": 1, "disgust": 0, "surprise": 2}
    rows = [f"casme2,{subject},{clip},{labels[emotion]}" for subject, clip, _, emotion in CLIPS]
    (data / "combined_3class_gt.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode())


def test_the_readme_flow_runs_verbatim_and_from_another_folder(tmp_path: Path) -> None:
    made, other = tmp_path / "project", tmp_path / "elsewhere"
    build_megc_casme2_only(made / "DATA")
    build_photos(made / "PHOTOS")
    other.mkdir()
    ran = []
    for argv in readme_flow():
        words = [word for word in argv if word != "launch"]
        skip = next((why for key, why in NEEDS_MORE.items() if key in words[:2]), None)
        if skip:
            continue
        assert argv[0] == "miex", argv
        if argv[1] == "au-pool":  # the README's 500 expert triplets: the same command, a test-sized count
            argv = [word if word != "500" else "30" for word in argv]
        done = run_miex(argv[1:], made)
        ran.append(argv[1])
        if argv[1] == "corpus":
            assert "the ground truth has no smic rows" in done.stdout  # SMIC is missing, and it says so
    assert ran == ["corpus", "faces", "extract-aus", "au-pool", "plan", "synthesize"]
    assert pq.read_metadata(made / "clips.parquet").num_rows == len(CLIPS)
    shards = sorted((made / "miex" / "data").glob("*.parquet"))
    assert shards and sum(pq.read_metadata(path).num_rows for path in shards) == 3 * 3 * 2  # ids x classes x 2 src

    # the same steps from another folder, with paths to the project's files
    project = os.path.relpath(made, other)
    run_miex(["extract-aus", f"{project}/clips.parquet", "--out", "aus.parquet"], other)
    assert pq.read_table(other / "aus.parquet").drop(["path"]).equals(
        pq.read_table(made / "aus.parquet").drop(["path"])
    )
    run_miex(["synthesize", "--plan", f"{project}/plan.parquet", "--faces", f"{project}/pool/", "--out", "miex"], other)
    assert [p.read_bytes() for p in sorted((other / "miex" / "data").glob("*.parquet"))] == [
        p.read_bytes() for p in shards
    ]


@pytest.mark.parametrize("name", sorted(NEEDS_MORE))
def test_the_skipped_readme_steps_are_still_in_the_readme(name: str) -> None:
    """The steps this test does not run are named on purpose; if the README drops one, this list must follow."""
    assert any(name in argv[:3] for argv in readme_flow()), name
