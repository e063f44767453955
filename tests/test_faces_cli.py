"""``miex faces`` and ``miex extract-aus`` end to end: rows, report lines, resumability, deterministic order."""

from __future__ import annotations

from pathlib import Path

import face_fixtures as ff
import numpy as np
import pandas as pd
import pytest

from miex.cli import main
from miex.data.aus import AU_NAMES, read_au_table
from miex.data.faces.pool import read_index

POOL_COLUMNS = ["file", "identity", "source", "landmarks", "yaw", "pitch", "roll", "score", "width", "height"]


def _mtimes(folder: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*.png")}


def test_faces_builds_the_pool_reports_bad_images_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = ff.build_face_folder(tmp_path / "photos")
    out = tmp_path / "pool"
    assert main(["faces", str(source), "--out", str(out), "--workers", "1"]) == 0
    report = capsys.readouterr().out
    index = read_index(out / "index.parquet")
    assert list(index.columns) == POOL_COLUMNS
    assert index.identity.tolist() == ["astronaut", "flipped", "gray", "rgba"]  # sorted by source path
    assert all(len(marks) == 478 * 2 for marks in index.landmarks)
    assert (index.width == 128).all() and (index.height == 128).all() and (index.score > 0.9).all()
    for row in index.itertuples():
        assert (out / row.file).is_file()
    assert index.yaw[1] == pytest.approx(-index.yaw[0], abs=3)  # the flipped copy
    for name, reason in (
        ("duplicate.jpg", "exact duplicate (same bytes) of"),
        ("noise.png", "no face found"),
        ("truncated.jpg", "truncated"),
    ):
        assert any(name in line and reason in line for line in report.splitlines()), (name, report)

    mtimes = _mtimes(out)
    assert main(["faces", str(source), "--out", str(out), "--workers", "1"]) == 0
    assert _mtimes(out) == mtimes
    pd.testing.assert_frame_equal(read_index(out / "index.parquet"), index)
    assert "noise.png" in capsys.readouterr().out  # the report is the same on a rerun


def test_faces_in_parallel_gives_the_same_index(tmp_path: Path) -> None:
    source = tmp_path / "photos"
    ff.save(source / "b.png", ff.astronaut())
    ff.save(source / "a.png", np.ascontiguousarray(ff.astronaut()[:, ::-1]))
    ff.save(source / "c.png", ff.noise_image())
    assert main(["faces", str(source), "--out", str(tmp_path / "one"), "--workers", "1"]) == 0
    assert main(["faces", str(source), "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    one, two = read_index(tmp_path / "one" / "index.parquet"), read_index(tmp_path / "two" / "index.parquet")
    pd.testing.assert_frame_equal(one.drop(columns="source"), two.drop(columns="source"))
    assert one.identity.tolist() == ["a", "b"]


def test_extract_aus_on_a_clip_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = ff.build_clip_table(tmp_path / "data", shifts=[(0, 0), (3, 2), (5, 3)], odd_size_frame=1)
    out = tmp_path / "aus.parquet"
    assert main(["extract-aus", str(table), "--out", str(out), "--all-frames", "--workers", "1"]) == 0
    aus = read_au_table(out)
    assert aus.frame.tolist() == [10, 12]  # the odd-sized frame 11 is reported, never a wrong row
    assert (aus.dataset == "toy").all() and (aus.subject == "sub01").all() and (aus["clip"] == "EP01").all()
    # frames that are translated copies of the onset carry no expression: measured as change, they read ~0
    assert (aus.extractor == "mediapipe-calibrated@onset").all() and (aus[list(AU_NAMES)].to_numpy() <= 0.3).all()
    assert "frames differ in size" in capsys.readouterr().out
    resting = tmp_path / "resting.parquet"
    assert main(["extract-aus", str(table), "--out", str(resting), "--reference", "none", "--workers", "1"]) == 0
    against_norms = read_au_table(resting)
    assert (against_norms.extractor == "mediapipe-calibrated@norms").all() and (against_norms.AU12 > 1).all()

    onset_apex = tmp_path / "onset_apex.parquet"
    assert main(["extract-aus", str(table), "--out", str(onset_apex), "--workers", "1"]) == 0
    assert read_au_table(onset_apex).frame.tolist() == [10, 12]


def test_extract_aus_on_images_and_with_openface(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "photos"
    ff.save(source / "smile.png", ff.astronaut())
    ff.save(source / "noise.png", ff.noise_image())
    out = tmp_path / "aus.parquet"
    assert main(["extract-aus", str(source), "--out", str(out), "--workers", "1"]) == 0
    aus = read_au_table(out)
    assert aus.path.tolist() == [str(source / "smile.png")] and aus.frame.tolist() == [-1]
    assert "no face found" in capsys.readouterr().out

    csv_dir = tmp_path / "openface"
    csv_dir.mkdir()
    header = "face, confidence, " + ", ".join(f"{au}_r" for au in AU_NAMES)
    (csv_dir / "smile.csv").write_text(header + "\n0, 0.9, " + ", ".join(["1.5"] * len(AU_NAMES)) + "\n")
    of_out = tmp_path / "of.parquet"
    args = ["extract-aus", str(source), "--out", str(of_out), "--backend", "openface", "--openface-dir", str(csv_dir)]
    assert main([*args, "--workers", "1"]) == 0
    table = read_au_table(of_out)
    assert table.extractor.tolist() == ["openface"] and table.AU12.tolist() == [1.5]
    assert "noise.csv" in capsys.readouterr().out  # the image without a CSV is reported
    assert main(["extract-aus", str(source), "--out", str(of_out), "--backend", "openface"]) == 2
