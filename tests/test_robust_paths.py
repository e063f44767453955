"""Paths in miex files work from any working folder (docs/reference.md §File contract).

The capstone runs the README's flow (corpus casme2 -> faces -> extract-aus -> au-pool -> plan -> synthesize) in one
folder with relative paths, then the later steps from another folder with paths to the first one's files, and checks
they succeed and give the same results.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import corpus_fixtures as cf
import face_fixtures as ff
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.core.paths import PATHS_KEY, RELATIVE_TO_FILE, resolve_path, resolve_paths, store_path
from miex.data.aus import read_au_table
from miex.data.corpora.clips import Clip, clips_to_frame, read_clip_table, write_clip_table
from miex.data.plan import read_plan
from miex.data.synthesis.inputs import SynthesisInputs, resolve_plan
from miex.train.data import real_dataset

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "table1_branches_compmie.yaml"

# one clip per subject and class: happiness (positive), disgust (negative), surprise; 3 frames each (onset..offset)
CLIPS = [("01", "EP02_01f", 46, "happiness"), ("02", "EP03_02", 10, "disgust"), ("03", "EP05_02", 5, "surprise")]


def build_casme2_corpus(root: Path) -> Path:
    """A CASME II release (2014 sheet, CASME2_RAW_selected/) whose frames are the astronaut, shifted per frame."""
    rows = [
        (subject, name, None, onset, onset + 1, onset + 2, None, 12, emotion) for subject, name, onset, emotion in CLIPS
    ]
    cf.write_xlsx(root / "CASME2-coding-20140508.xlsx", cf.CASME2_HEADER, rows, title="Sheet1")
    for subject, name, onset, _ in CLIPS:
        for step in range(3):
            frame = ff.shifted(ff.astronaut(), 2 * step, step)
            ff.save(root / "CASME2_RAW_selected" / f"sub{subject}" / name / f"img{onset + step}.jpg", frame, quality=92)
    return root


def build_photos(root: Path) -> Path:
    """Three face photos of three identities."""
    face = ff.astronaut()
    ff.save(root / "ann.jpg", face, quality=95)
    ff.save(root / "bob.png", np.ascontiguousarray(face[:, ::-1]))
    ff.save(root / "cat.png", np.clip(face.astype(np.int16) + 15, 0, 255).astype(np.uint8))
    return root


def run(*argv: str) -> None:
    assert main(list(argv)) == 0, argv


def shard_bytes(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((folder / "data").glob("*.parquet"))}


def test_the_readme_flow_runs_from_another_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    made, other = tmp_path / "X", tmp_path / "Y"
    build_casme2_corpus(made / "CASME2")
    build_photos(made / "photos")
    other.mkdir()

    monkeypatch.chdir(made)  # the README's flow with relative paths
    run("corpus", "casme2", "CASME2", "--out", "clips.parquet")
    run("faces", "photos", "--out", "pool", "--workers", "1")
    run("extract-aus", "clips.parquet", "--out", "aus.parquet", "--workers", "1")
    run(
        "au-pool",
        "--mie-clips",
        "clips.parquet",
        "--mie-aus",
        "aus.parquet",
        "--expert",
        "20",
        "--out",
        "au_pool.parquet",
    )
    run("plan", "--faces", "pool/", "--pool", "au_pool.parquet", "--out", "plan.parquet")
    run("synthesize", "--plan", "plan.parquet", "--faces", "pool/", "--out", "miex")
    published = pq.read_table("miex/plan.parquet").column("face").to_pylist()  # `miex push` uploads it
    assert all(face.startswith("crops/") for face in published), "the published plan names faces inside their pool"
    assert str(tmp_path) not in (made / "miex" / "plan.parquet").read_bytes().decode("latin-1")
    assert len(read_clip_table("clips.parquet")) == 3 and len(read_au_table("aus.parquet")) == 6
    stored = pq.read_table("clips.parquet")
    assert stored.schema.metadata[PATHS_KEY] == RELATIVE_TO_FILE
    assert stored.column("frames")[0].as_py()[0] == "CASME2/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg"

    monkeypatch.chdir(other)  # the later steps, from elsewhere, with paths to X's files
    run("extract-aus", str(made / "clips.parquet"), "--out", "aus.parquet", "--workers", "1")
    pd.testing.assert_frame_equal(read_au_table("aus.parquet"), read_au_table(made / "aus.parquet"))
    run(
        "au-pool",
        "--mie-clips",
        str(made / "clips.parquet"),
        "--mie-aus",
        "aus.parquet",
        "--expert",
        "20",
        "--out",
        "au_pool.parquet",
    )
    assert pq.read_table("au_pool.parquet").equals(pq.read_table(made / "au_pool.parquet"))
    run("plan", "--faces", str(made / "pool"), "--pool", str(made / "au_pool.parquet"), "--out", "plan.parquet")
    # the same plan: faces stored relative to X's plan (inside X) and absolute in Y's, the same files once resolved
    here, there = read_plan("plan.parquet"), read_plan(made / "plan.parquet")
    pd.testing.assert_frame_equal(here.drop(columns="face"), there.drop(columns="face"))
    assert pq.read_table(made / "plan.parquet").column("face")[0].as_py().startswith("pool/crops/")
    assert resolve_paths(here["face"], other) == resolve_paths(there["face"], made)
    run("synthesize", "--plan", str(made / "plan.parquet"), "--faces", str(made / "pool"), "--out", "miex")
    assert shard_bytes(other / "miex") == shard_bytes(made / "miex") != {}
    run("synthesize", "--plan", "plan.parquet", "--faces", "../X/pool/", "--out", "miex-relative")
    assert shard_bytes(other / "miex-relative") == shard_bytes(made / "miex")
    assert "face skipped" not in capsys.readouterr().out

    clips = made / "clips.parquet"
    run(
        "train",
        "--recipe",
        str(RECIPE),
        "--check",
        "--out",
        "run",
        "--set",
        f"data.real.clips={clips}",
        "--set",
        "model.backbone=random",
        "--set",
        "seeds=[0]",
    )

    # a project folder moved elsewhere: the plan in it still finds its faces (stored relative to the plan); the
    # plan made in Y (absolute paths into X) finds them through --faces in the moved pool
    moved = tmp_path / "moved"
    shutil.move(made, moved)
    resolved = resolve_plan(SynthesisInputs(plan=str(moved / "plan.parquet")))
    assert all(Path(face).is_file() for face in resolved.plan["face"])
    resolved = resolve_plan(SynthesisInputs(plan=str(other / "plan.parquet"), faces=str(moved / "pool")))
    assert all(face.startswith(f"{moved}{os.sep}pool{os.sep}crops") for face in resolved.plan["face"])
    assert all(Path(face).is_file() for face in resolved.plan["face"])
    resolved = resolve_plan(SynthesisInputs(plan=str(moved / "miex" / "plan.parquet"), faces=str(moved / "pool")))
    assert all(Path(face).is_file() for face in resolved.plan["face"])  # the published plan, with its pool
    assert len(read_clip_table(moved / "clips.parquet")) == 3  # frames stored relative to the table move with it
    assert all(Path(frame).is_file() for frame in read_clip_table(moved / "clips.parquet")["frames"].sum())


def _one_clip_table(folder: Path, table: Path) -> tuple[Path, Path]:
    frames = [cf.write_image(folder / "sub01" / "EP01" / f"img{number}.jpg") for number in (46, 47, 48)]
    clip = Clip(
        dataset="casme2",
        subject="sub01",
        clip="EP01",
        frames=[str(f) for f in frames],
        frame_numbers=[46, 47, 48],
        onset=0,
        apex=1,
        offset=2,
        emotion="happiness",
        label=1,
        fps=200.0,
    )
    write_clip_table(clips_to_frame([clip]), table)
    return table, frames[0]


def test_a_missing_frame_names_the_table_row_field_and_full_path(tmp_path: Path) -> None:
    table, onset = _one_clip_table(tmp_path / "data", tmp_path / "clips.parquet")
    onset.unlink()
    with pytest.raises(MiexInputError) as caught:
        real_dataset(table)
    assert str(caught.value) == f"{table}, row 0, field 'onset': frame {onset} not found"


def test_a_table_outside_its_frames_stores_them_absolute_and_reads_them_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    table, onset = _one_clip_table(Path("data"), Path("tables/clips.parquet"))
    assert pq.read_table(table).column("frames")[0].as_py()[0] == str(tmp_path / onset)
    monkeypatch.chdir("/")
    assert read_clip_table(tmp_path / table)["frames"][0][0] == str(tmp_path / onset)


@given(
    st.lists(st.sampled_from(["a", "b c", "..", ".", "ü", "x.jpg"]), min_size=1, max_size=5),
    st.sampled_from(["", "sub", "sub/deeper"]),
)
def test_a_stored_path_resolves_to_the_same_file_from_any_folder(parts: list[str], holder: str) -> None:
    folder = Path("/data/project") / holder
    target = os.path.normpath(os.path.join("/data/project", *parts))
    stored = store_path(target, folder)
    inside = os.path.commonpath([target, str(folder)]) == str(folder) and target != str(folder)
    assert os.path.isabs(stored) != inside
    assert resolve_path(stored, folder) == target
