"""The README's whole flow, copied from the README itself, runs through the `miex` command line (as
``python -m miex``, which is what the console script runs, so nothing depends on PATH) on a CASME II
release laid out like the real one (a MEGC2019 folder holding only CASME II: the composite from the parts you have),
and its later steps work from another folder."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from test_robust_paths import CLIPS, build_casme2_corpus, build_photos

ROOT = Path(__file__).resolve().parents[1]
MIEX = [sys.executable, "-m", "miex"]
NEEDS_MORE = {
    "torchrun": "two ranks are tested in tests/test_synthesis.py",
    "accelerate": "needs a GANimation checkpoint",
    "push": "needs a Hub (the loopback Hub tests push)",
    "import-legacy": "needs the authors' release (tests/test_import_legacy.py)",
    "train": "trains a recognizer (tests/test_train_runner.py)",
}


def readme_block(heading: str) -> list[list[str]]:
    """The commands of the first bash block under the README's ``heading``, comments stripped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index(heading) :]
    block = block[block.index("```bash") + len("```bash") : block.index("```", block.index("```bash") + 7)]
    return [words for line in block.splitlines() if (words := shlex.split(line, comments=True))]


def readme_flow() -> list[list[str]]:
    """The commands of the README's "The whole flow" block."""
    return readme_block("## The whole flow")


def run_miex(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*MIEX, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr
    return done


def build_megc_casme2_only(data: Path) -> None:
    build_casme2_corpus(data / "CASME2")
    labels = {"happiness": 1, "disgust": 0, "surprise": 2}
    rows = [f"casme2,{subject},{clip},{labels[emotion]}" for subject, clip, _, emotion in CLIPS]
    (data / "combined_3class_gt.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode())


@pytest.fixture(scope="module")
def readme_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A project folder after the README's flow, run verbatim (skipping the steps named in NEEDS_MORE): the folder
    and each command's stdout."""
    made = tmp_path_factory.mktemp("readme") / "project"
    build_megc_casme2_only(made / "DATA")
    build_photos(made / "PHOTOS")
    printed = {}
    for argv in readme_flow():
        words = [word for word in argv if word != "launch"]
        if any(key in words[:2] for key in NEEDS_MORE):
            continue
        assert argv[0] == "miex", argv
        if argv[1] == "au-pool":  # the README's 500 expert triplets: the same command, a test-sized count
            argv = [word if word != "500" else "30" for word in argv]
        printed[argv[1]] = run_miex(argv[1:], made).stdout
    return made, printed


@pytest.mark.slow
def test_the_readme_flow_runs_verbatim(readme_project: tuple[Path, dict[str, str]]) -> None:
    made, printed = readme_project
    assert list(printed) == ["corpus", "faces", "extract-aus", "au-pool", "plan", "synthesize"]
    assert "the ground truth has no smic rows" in printed["corpus"]  # SMIC is missing, and it says so
    assert pq.read_metadata(made / "clips.parquet").num_rows == len(CLIPS)
    shards = sorted((made / "miex" / "data").glob("*.parquet"))
    assert shards and sum(pq.read_metadata(path).num_rows for path in shards) == 3 * 3 * 2  # ids x classes x 2 src


@pytest.mark.slow
def test_its_steps_work_from_another_folder(readme_project: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    made, _ = readme_project
    project = os.path.relpath(made, tmp_path)
    run_miex(["extract-aus", f"{project}/clips.parquet", "--out", "aus.parquet"], tmp_path)
    assert (
        pq.read_table(tmp_path / "aus.parquet")
        .drop(["path"])
        .equals(pq.read_table(made / "aus.parquet").drop(["path"]))
    )
    run_miex(
        ["synthesize", "--plan", f"{project}/plan.parquet", "--faces", f"{project}/pool/", "--out", "miex"], tmp_path
    )
    ours, theirs = (sorted((root / "miex" / "data").glob("*.parquet")) for root in (tmp_path, made))
    assert [path.read_bytes() for path in ours] == [path.read_bytes() for path in theirs]


@pytest.mark.parametrize("name", sorted(NEEDS_MORE))
def test_the_skipped_readme_steps_are_still_in_the_readme(name: str) -> None:
    """The steps this test does not run are named on purpose; if the README drops one, this list must follow."""
    assert any(name in argv[:3] for argv in readme_flow()), name


@pytest.mark.slow
def test_a_shipped_recipe_trains_on_the_readme_flow_files_by_name(readme_project: tuple[Path, dict[str, str]]) -> None:
    """After the README's flow, `miex train --recipe NAME` finds clips.parquet and miex/ in the project folder with no
    path override; the card names what ran (CASME II only here), not the recipe's CompMiE."""
    made, _ = readme_project
    train = next(argv for argv in readme_flow() if argv[:2] == ["miex", "train"])
    assert train[2:] == ["--recipe", "table1_branches_miex_finetune"]
    tiny = (
        "model.backbone=random",
        "model.config={encoder: {hidden_sizes: [4, 4, 4, 4], depths: [1, 1, 1, 1], "
        "embedding_size: 4}, head_hidden: [8]}",
        "data.image={resize: 72, crop_size: 64}",
        "seeds=[0]",
        "training={epochs: 1, decay_epochs: 0, batch_size: 4, eval_batch_size: 8, num_workers: 0}",
    )
    run_miex([*train[1:], "--no-progress", *(word for setting in tiny for word in ("--set", setting))], made)
    out = made / "runs" / "table1-branches-miex-finetune"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["last_epoch"]["all"]["num_samples"] == len(CLIPS) and results["protocol"]["folds"] == 3
    assert set(results["last_epoch"]) == {"note", "all", "casme2"}
    card = (out / "model" / "README.md").read_text(encoding="utf-8")
    assert "# Branches on CASME II, pre-trained on MiE-X (3-fold, 3 classes)" in card
    header = yaml.safe_load(card.split("---")[1])
    assert header["datasets"] == ["casme2", "miex"]
    assert {entry["dataset"]["type"] for entry in header["model-index"][0]["results"]} == {"casme2"}
    assert "MiE-X, 18 samples" in card, card
