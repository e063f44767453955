"""Bad input to `miex faces`, `miex flow`, `miex extract-aus` and the face-pool reader.

Each case plants what a careless or hostile user gives (a folder of their own files as --out, an input as --out,
absurd worker counts and crop sizes, broken landmarks, a replaced crop, a garbage model file, malformed OpenFace
CSVs) and checks the command refuses it in one line that names the file (row, field) actually at fault, touches no
user file, and leaves nothing that reads as finished output.
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
from pathlib import Path

import face_fixtures as ff
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from miex_fixtures import build_miex, folder_bytes, one_error_line

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.core.fileio import FLOW_KIND, output_kind
from miex.data.aus.openface import read_openface_csv
from miex.data.aus.schema import AU_NAMES
from miex.data.faces.pool import INDEX_NAME, read_index

pytestmark = pytest.mark.usefixtures("private_cache")

FARNEBACK = ["--method", "farneback", "--workers", "1"]
USER_BYTES = b"the user's own data, never to be touched\n"


@pytest.fixture(scope="module")
def clip_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One clip of astronaut frames (onset, apex moved by (2, 1) px); read-only for the tests."""
    return ff.build_clip_table(tmp_path_factory.mktemp("clips") / "data", shifts=[(0, 0), (2, 1)])


@pytest.fixture(scope="module")
def miex_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small MiE-X folder (18 pairs of 40 px faces); read-only for the tests."""
    return build_miex(tmp_path_factory.mktemp("miex") / "miex", [("casme2", "sub01")])


def user_folder(root: Path) -> Path:
    """A folder of the user's own files, laid out as flow writes (``toy/sub01/EP01.npz``), with no marker."""
    (root / "toy" / "sub01").mkdir(parents=True)
    (root / "toy" / "sub01" / "EP01.npz").write_bytes(USER_BYTES)
    (root / "labels.csv").write_bytes(USER_BYTES)
    (root / "index.parquet").write_bytes(USER_BYTES)
    return root


# 1. miex flow on the output-folder contract ---------------------------------------------------------------------


@pytest.mark.parametrize("release", [False, True])
def test_flow_refuses_a_folder_of_user_files_and_writes_it_only_with_overwrite(
    clip_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], release: bool
) -> None:
    out = user_folder(tmp_path / "mine")
    before = folder_bytes(out)
    extra = ["--release"] if release else []
    assert main(["flow", str(clip_table), "--out", str(out), *FARNEBACK, *extra]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(out) in line and "--overwrite" in line and "not made by miex flow" in line
    assert folder_bytes(out) == before and not (out / ".miex").exists()
    assert main(["flow", str(clip_table), "--out", str(out), *FARNEBACK, *extra, "--overwrite"]) == 0
    assert output_kind(out) == FLOW_KIND and (out / "labels.csv").read_bytes() == USER_BYTES


def test_flow_resumes_its_own_folder_and_marks_it(clip_table: Path, tmp_path: Path) -> None:
    out = tmp_path / "flow"
    assert main(["flow", str(clip_table), "--out", str(out), *FARNEBACK]) == 0
    assert output_kind(out) == FLOW_KIND
    npz = out / pd.read_parquet(out / INDEX_NAME).file[0]
    made = npz.stat().st_mtime_ns
    assert main(["flow", str(clip_table), "--out", str(out), *FARNEBACK, "--release"]) == 0  # no --overwrite needed
    assert npz.stat().st_mtime_ns == made and (out / "release" / "labels.csv").is_file()


@pytest.mark.parametrize("release", [False, True])
def test_flow_of_a_miex_folder_refuses_user_files_and_marks_its_own(
    miex_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    release: bool,
) -> None:
    monkeypatch.setenv("MIEX_FLOW_CACHE", str(tmp_path / "cache"))
    extra = ["--release"] if release else []
    out = user_folder(tmp_path / "mine")
    before = folder_bytes(out)
    assert main(["flow", str(miex_folder), "--out", str(out), *FARNEBACK, *extra]) == 2
    assert "not made by miex flow" in one_error_line(capsys.readouterr().err) and folder_bytes(out) == before
    fresh = tmp_path / "fresh"
    assert main(["flow", str(miex_folder), "--out", str(fresh), *FARNEBACK, *extra]) == 0
    assert output_kind(fresh) == FLOW_KIND
    assert main(["flow", str(miex_folder), "--out", str(fresh), *FARNEBACK, *extra]) == 0  # its own: rerun is fine


def test_flow_of_an_empty_miex_folder_exits_2_and_writes_no_release(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from miex_fixtures import miex_rows, write_miex

    empty = write_miex(tmp_path / "miex", {name: values[:0] for name, values in miex_rows([("casme2", "s")]).items()})
    out = tmp_path / "release"
    assert main(["flow", str(empty), "--out", str(out), *FARNEBACK]) == 2
    assert "not a MiE-X folder with rows" in one_error_line(capsys.readouterr().err)
    assert not (out / "labels.csv").exists()


# 2. --out is never an input ------------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.lists(st.sampled_from(["a", "b", "out", "data"]), max_size=3))
def test_flow_refuses_an_out_equal_to_or_inside_its_miex_folder(miex_folder: Path, depth: list[str]) -> None:
    out = miex_folder.joinpath(*depth)
    before = folder_bytes(miex_folder)
    with pytest.raises(MiexInputError, match="input folder"):
        from miex.cli.flow import guard_flow_folder

        guard_flow_folder(str(out), True, [miex_folder])  # even with --overwrite
    assert main(["flow", str(miex_folder), "--out", str(out), *FARNEBACK]) == 2
    assert folder_bytes(miex_folder) == before


def test_flow_refuses_its_clip_table_and_its_frame_folders_as_out(
    clip_table: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = clip_table.parent / "sub01" / "EP01"
    before = folder_bytes(clip_table.parent)
    for out in (clip_table, frames, frames / "flow"):
        assert main(["flow", str(clip_table), "--out", str(out), *FARNEBACK, "--overwrite"]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert "names a file" in line if out == clip_table else f"input folder {frames}" in line
    assert folder_bytes(clip_table.parent) == before


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.lists(st.sampled_from(["a", "sub", "aus"]), max_size=2), name=st.sampled_from(["aus.parquet", "x"]))
def test_extract_aus_refuses_an_out_inside_its_image_folder(tmp_path: Path, depth: list[str], name: str) -> None:
    photos = tmp_path / "photos"
    ff.save(photos / "face.png", ff.noise_image(32))
    before = folder_bytes(photos)
    out = photos.joinpath(*depth, name)
    assert main(["extract-aus", str(photos), "--out", str(out), "--workers", "1"]) == 2
    assert folder_bytes(photos) == before


def test_extract_aus_refuses_its_input_file_as_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = ff.save(tmp_path / "face.png", ff.noise_image(32))
    before = image.read_bytes()
    assert main(["extract-aus", str(image), "--out", str(image), "--workers", "1", "--overwrite"]) == 2
    assert "input file itself" in one_error_line(capsys.readouterr().err) and image.read_bytes() == before


def test_faces_refuses_its_source_folder_as_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    ff.save(photos / "face.png", ff.noise_image(32))
    assert main(["faces", str(photos), "--out", str(photos), "--workers", "1", "--overwrite"]) == 2
    assert "source folder itself" in one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in photos.iterdir()) == ["face.png"]


# 3. worker counts ----------------------------------------------------------------------------------------------------


def _argv(command: str, workers: str, tmp_path: Path, clip_table: Path) -> list[str]:
    out = {"faces": tmp_path / "pool", "flow": tmp_path / "flow", "extract-aus": tmp_path / "aus.parquet"}[command]
    source = clip_table if command != "faces" else clip_table.parent / "sub01" / "EP01"
    extra = ["--method", "farneback"] if command == "flow" else []
    return [command, str(source), "--out", str(out), "--workers", workers, *extra]


@pytest.mark.parametrize("command", ["faces", "flow", "extract-aus"])
@pytest.mark.parametrize("workers", ["0", "-1", "-10000"])
def test_no_workers_is_refused_alike_by_every_face_command(
    command: str, workers: str, tmp_path: Path, clip_table: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_argv(command, workers, tmp_path, clip_table)) == 2
    line = one_error_line(capsys.readouterr().err)
    expected = f"--workers must be at least 1, got {workers} (leave it out to use every core)"
    assert line == f"miex {command}: error: {expected}"
    assert not any(tmp_path.iterdir())  # refused before anything is written


@pytest.mark.parametrize("command", ["faces", "flow", "extract-aus"])
def test_workers_beyond_the_cores_are_capped_with_a_message(
    command: str, tmp_path: Path, clip_table: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import miex.data.faces.runner as runner

    monkeypatch.setattr("miex.cli.faces.default_workers", lambda: 1)  # this process may use one core
    used = []
    real = runner.map_items

    def spy(*args, **kwargs):
        used.append(kwargs["workers"])
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "map_items", spy)
    with caplog.at_level(logging.WARNING):
        assert main(_argv(command, "10000", tmp_path, clip_table)) == 0
    assert used == [1]
    messages = [r.getMessage() for r in caplog.records if "--workers" in r.getMessage()]
    assert messages == ["--workers 10000 is more than the 1 core(s) this process may use: using 1"]


# 4. the face-pool reader: landmarks finite and inside the crop, crops the size the index says --------------------


def _with_landmarks(pool: Path, row_points: np.ndarray) -> Path:
    """Replace row 0's landmarks in ``pool``'s index (keeping its schema and metadata)."""
    path = pool / INDEX_NAME
    table = pq.read_table(path)
    column = table.schema.get_field_index("landmarks")
    values = pa.array([row_points.astype(np.float32).reshape(-1).tolist()], pa.list_(pa.float32()))
    pq.write_table(table.set_column(column, table.schema.field(column), values), path)
    return path


def _landmarks(pool: Path) -> np.ndarray:
    return np.asarray(pq.read_table(pool / INDEX_NAME).column("landmarks")[0].as_py(), np.float64).reshape(-1, 2)


@pytest.fixture(scope="module")
def pool_points(face_pool: Path) -> np.ndarray:
    return _landmarks(face_pool)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    point=st.integers(0, 477),
    axis=st.integers(0, 1),
    value=st.one_of(
        st.sampled_from([np.nan, np.inf, -np.inf]), st.floats(-1e9, -40.0), st.floats(170.0, 1e9), st.just("x1e6")
    ),
)
def test_non_finite_or_far_off_landmarks_are_refused_naming_file_row_and_field(
    pool_copy: Path, pool_points: np.ndarray, point: int, axis: int, value: float | str
) -> None:
    points = pool_points.copy()
    points[point, axis] = points[point, axis] * 1e6 + 1e6 if value == "x1e6" else value
    index = _with_landmarks(pool_copy, points)
    with pytest.raises(MiexInputError) as caught:
        read_index(index)
    error = caught.value
    assert (error.file, error.row, error.field) == (str(index), 0, "landmarks")
    assert f"landmark {point} " in error.reason and "`miex faces`" in error.reason


def test_a_pool_with_nan_landmarks_is_refused_before_synthesis(pool_copy: Path, pool_points: np.ndarray) -> None:
    """What `miex synthesize` runs before rendering (synthesis/engine.py, builder.py): the faces of the plan."""
    from miex.core.report import ValidationReport
    from miex.data.faces.pool import crop_paths
    from miex.data.synthesis.faces import check_faces

    plan = pd.DataFrame({"face": crop_paths(read_index(pool_copy / INDEX_NAME), pool_copy)})
    points = pool_points.copy()
    points[13] = np.nan  # the upper lip: a NaN here made the warp return the onset as the apex
    index = _with_landmarks(pool_copy, points)
    with pytest.raises(MiexInputError) as caught:
        check_faces(
            plan, size=128, needs_landmarks=True, faces_dir=pool_copy, report=ValidationReport(), progress=False
        )
    assert (caught.value.file, caught.value.row, caught.value.field) == (str(index), 0, "landmarks")
    assert "not a finite number" in caught.value.reason


def test_landmarks_a_little_beyond_the_crop_edge_are_kept(pool_copy: Path, pool_points: np.ndarray) -> None:
    points = pool_points.copy()
    points[152, 1] = 128 * 1.1  # a long chin below the crop
    read_index(_with_landmarks(pool_copy, points))


def test_a_crop_smaller_than_its_index_row_is_refused_naming_the_crop(pool_copy: Path) -> None:
    from PIL import Image

    from miex.data.faces.pool import crop_paths
    from miex.data.synthesis.faces import index_landmarks

    crop = Path(crop_paths(read_index(pool_copy / INDEX_NAME), pool_copy)[0])
    with Image.open(crop) as image:
        image.resize((64, 64)).save(crop)
    with pytest.raises(MiexInputError) as caught:
        index_landmarks(pool_copy)
    assert caught.value.file == str(crop)
    assert "64x64 px but row 0" in caught.value.reason and "128x128" in caught.value.reason


# 5. nothing made leaves nothing that reads as made ---------------------------------------------------------------


def test_flow_with_every_clip_failing_leaves_no_index_even_of_an_earlier_run(
    clip_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "flow"
    assert main(["flow", str(clip_table), "--out", str(out), *FARNEBACK]) == 0
    assert (out / INDEX_NAME).is_file()
    clips = pd.read_parquet(clip_table)
    broken = tmp_path / "broken" / "clips.parquet"
    broken.parent.mkdir()
    gone = str(tmp_path / "broken" / "gone.png")
    frames = [[str(clip_table.parent / frame) for frame in row] for row in clips.frames]
    clips.assign(frames=[[row[0], gone] for row in frames]).to_parquet(broken)
    assert main(["flow", str(broken), "--out", str(out), *FARNEBACK]) == 2
    assert "0 clip flows computed" in one_error_line(capsys.readouterr().err)
    assert not (out / INDEX_NAME).exists()


def test_faces_with_no_usable_face_leaves_no_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    ff.save(photos / "noise.png", ff.noise_image(64))
    out = tmp_path / "pool"
    assert main(["faces", str(photos), "--out", str(out), "--workers", "1"]) == 2
    assert "no usable face" in one_error_line(capsys.readouterr().err)
    assert not (out / INDEX_NAME).exists()


def test_faces_rerun_on_faceless_photos_removes_the_earlier_index(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    ff.save(photos / "me.png", ff.astronaut())
    out = tmp_path / "pool"
    assert main(["faces", str(photos), "--out", str(out), "--workers", "1"]) == 0
    (photos / "me.png").unlink()
    ff.save(photos / "noise.png", ff.noise_image(64))
    assert main(["faces", str(photos), "--out", str(out), "--workers", "1"]) == 2
    assert not (out / INDEX_NAME).exists() and not list((out / "crops").rglob("*.png"))


# 6. a bad model file and a tiny crop size are the user's input, not internal errors --------------------------------


def _bad_models(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    (root / "garbage.task").write_bytes(os.urandom(300))
    (root / "empty.task").write_bytes(b"")
    (root / "pickle.task").write_bytes(pickle.dumps({"model": [1, 2, 3]}))
    with zipfile.ZipFile(root / "other.task", "w") as archive:
        archive.writestr("readme.txt", "not a landmarker")
    return {path.stem: path for path in sorted(root.glob("*.task"))}


@pytest.mark.parametrize("kind", ["garbage", "empty", "pickle", "other"])
@pytest.mark.parametrize("given", ["--landmarker", "MIEX_FACE_LANDMARKER"])
def test_a_bad_model_file_is_named_with_where_it_came_from(
    kind: str,
    given: str,
    tmp_path: Path,
    clip_table: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = _bad_models(tmp_path / "models")[kind]
    photos = tmp_path / "photos"
    ff.save(photos / "me.png", ff.noise_image(64))
    extra = ["--landmarker", str(model)] if given == "--landmarker" else []
    if given != "--landmarker":
        monkeypatch.setenv("MIEX_FACE_LANDMARKER", str(model))
    for argv in (
        ["faces", str(photos), "--out", str(tmp_path / "pool")],
        ["flow", str(clip_table), "--out", str(tmp_path / "flow"), "--method", "farneback"],
        ["extract-aus", str(photos), "--out", str(tmp_path / "aus.parquet")],
    ):
        assert main([*argv, "--workers", "1", *extra]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert "internal error" not in line and str(model) in line and "bad model file" in line
        assert ("--landmarker" if given == "--landmarker" else "$MIEX_FACE_LANDMARKER") in line
        assert "face_landmarker.task" in line
    assert not (tmp_path / "pool").exists() and not (tmp_path / "flow").exists()


def test_a_zip_with_the_bundle_names_but_no_models_is_a_bad_model_file(tmp_path: Path) -> None:
    from miex.data.faces import FaceAnalyzer

    model = tmp_path / "face_landmarker.task"
    with zipfile.ZipFile(model, "w") as archive:
        for name in ("face_detector.tflite", "face_landmarks_detector.tflite", "face_blendshapes.tflite"):
            archive.writestr(name, b"not a tflite model")
    with pytest.raises(MiexInputError, match="bad model file") as caught:
        FaceAnalyzer(model)
    assert caught.value.file == str(model)


@pytest.mark.parametrize("command", ["faces", "flow", "extract-aus"])
@pytest.mark.parametrize("size", ["1", "8", "31", "0", "-128", "100000", "1.5"])
def test_a_crop_size_outside_the_range_is_refused_with_the_range(
    command: str, size: str, tmp_path: Path, clip_table: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*_argv(command, "1", tmp_path, clip_table), "--size", size])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --size" in err and ("between 32 and 1024 px" in err or "whole number" in err)
    assert "internal error" not in err and not any(tmp_path.iterdir())


# 7. OpenFace CSVs: the message names the CSV, its row and column --------------------------------------------------

HEADER = "frame, face_id, timestamp, confidence, success, " + ", ".join(f"{au}_r" for au in AU_NAMES)


def _csv_row(frame: int, value: str = "1.0", *, with_frame: bool = True) -> str:
    cells = [str(frame), "0", "0.0", "0.9", "1", *[value] * len(AU_NAMES)]
    return ", ".join(cells if with_frame else cells[1:])


def _read_back(clip_table: Path, tmp_path: Path, text: str, encoding: str = "utf-8") -> tuple[int, str, str, Path]:
    csv_dir = tmp_path / "openface"
    csv_dir.mkdir()
    csv = csv_dir / "EP01.csv"
    csv.write_bytes(text.encode(encoding))
    out = tmp_path / "aus.parquet"
    argv = ["extract-aus", str(clip_table), "--out", str(out), "--backend", "openface", "--openface-dir", str(csv_dir)]
    return main([*argv, "--workers", "1"]), out, csv  # type: ignore[return-value]


def test_a_negative_openface_au_names_the_csv_row_and_column(
    clip_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    apex = ", ".join(_csv_row(2).split(", ")[:5] + ["1.0"] * 3 + ["-1.25"] + ["1.0"] * (len(AU_NAMES) - 4))
    code, out, csv = _read_back(clip_table, tmp_path, "\n".join([HEADER, _csv_row(1), apex]) + "\n")
    captured = capsys.readouterr()
    assert code == 2 and not out.exists()
    assert f"{csv}, row 3, field {AU_NAMES[3]}_r" in captured.out and "-1.25" in captured.out
    assert str(out) not in captured.out + captured.err


def test_a_utf16_openface_csv_is_named_as_not_utf8(
    clip_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, csv = _read_back(clip_table, tmp_path, "\n".join([HEADER, _csv_row(1), _csv_row(2)]) + "\n", "utf-16")
    captured = capsys.readouterr()
    assert code == 2 and not out.exists()
    problem = next(line for line in captured.out.splitlines() if "UTF-8" in line)
    assert f"{csv} |" in problem and "not UTF-8" in problem and "img10.png" not in problem
    assert "unexpected error" not in captured.out


def test_an_openface_csv_without_a_frame_column_says_so(
    clip_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = HEADER.split(", ", 1)[1]
    rows = [_csv_row(n, str(n), with_frame=False) for n in (1, 2)]  # the apex row differs: never silently row 1
    code, out, csv = _read_back(clip_table, tmp_path, "\n".join([header, *rows]) + "\n")
    captured = capsys.readouterr()
    assert code == 2 and not out.exists()
    assert f"{csv}, row 1, field frame" in captured.out and "no 'frame' column" in captured.out
    assert "measured twice" not in captured.out + captured.err


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    au=st.integers(0, len(AU_NAMES) - 1),
    line=st.integers(2, 4),
    value=st.one_of(st.floats(-1e6, -0.01), st.floats(5.01, 1e6), st.sampled_from(["inf", "-inf"])),
)
def test_any_off_scale_openface_value_is_refused_at_its_line_and_column(
    tmp_path: Path, au: int, line: int, value: float | str
) -> None:
    rows = [_csv_row(n).split(", ") for n in (1, 2, 3)]
    rows[line - 2][5 + au] = str(value)
    csv = tmp_path / "clip.csv"
    csv.write_text("\n".join([HEADER, *(", ".join(row) for row in rows)]) + "\n", encoding="utf-8")
    with pytest.raises(MiexInputError) as caught:
        read_openface_csv(csv)
    assert (caught.value.file, caught.value.row, caught.value.field) == (str(csv), line, f"{AU_NAMES[au]}_r")


def test_a_failed_frames_values_do_not_stop_the_read(tmp_path: Path) -> None:
    failed = ", ".join(["2", "0", "0.0", "0.0", "0", *["-1"] * len(AU_NAMES)])  # success 0: not AUs at all
    csv = tmp_path / "clip.csv"
    csv.write_text("\n".join([HEADER, _csv_row(1), failed]) + "\n", encoding="utf-8")
    assert read_openface_csv(csv)["frame"].tolist() == [1]


def test_a_fixed_openface_csv_is_read_again_on_the_rerun(
    clip_table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error says what to fix; once fixed (or OpenFace rerun), the same command must read the new CSV, not replay
    the finished part of the broken one."""
    from miex.data.aus.table import read_au_table

    code, out, csv = _read_back(clip_table, tmp_path, "\n".join([HEADER, _csv_row(1), _csv_row(2, "-1")]) + "\n")
    assert code == 2
    csv.write_text("\n".join([HEADER, _csv_row(1, "0.5"), _csv_row(2, "2.5")]) + "\n", encoding="utf-8")
    argv = ["extract-aus", str(clip_table), "--out", str(out), "--backend", "openface"]
    assert main([*argv, "--openface-dir", str(csv.parent), "--workers", "1"]) == 0
    assert read_au_table(out)["AU12"].tolist() == [0.5, 2.5]
