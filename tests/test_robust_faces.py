"""`miex faces` on hostile real-world input: the right pixels, every dropped face reported, resume by content, and
workers that die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import face_fixtures as ff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miex.cli import main
from miex.data.faces import TEMPLATE, FaceRecord, align_face, read_rgb
from miex.data.faces.align import stable_points
from miex.data.faces.landmarker import mesh_problem
from miex.data.faces.pool import read_index

REPO = Path(__file__).resolve().parents[1]


def _faces(source: Path, out: Path, *extra: str) -> int:
    return main(["faces", str(source), "--out", str(out), "--workers", "1", *extra])


def _crops_on_disk(out: Path) -> set[str]:
    return {path.relative_to(out).as_posix() for path in (out / "crops").rglob("*.png")}


@pytest.fixture(scope="module")
def astronaut_face() -> FaceRecord:
    return ff.shared_analyzer().analyze(ff.astronaut())[0]


# --- decoding ----------------------------------------------------------------------------------------------------


def test_exif_rotation_and_16_bit_images_decode_to_the_picture_shown(tmp_path: Path) -> None:
    upright = ff.astronaut().astype(int)
    rotated = ff.save_with_orientation(tmp_path / "o3.jpg", np.ascontiguousarray(ff.astronaut()[::-1, ::-1]), 3)
    assert np.abs(read_rgb(rotated) - upright).mean() < 4  # upright, not upside down
    gray = ff.astronaut().mean(axis=2)
    for suffix in (".png", ".tif"):
        deep = read_rgb(ff.save_16bit_gray(tmp_path / f"g16{suffix}", ff.astronaut()))
        assert np.abs(deep[..., 0] - gray).mean() < 3  # scaled to 8 bit, not clipped to near-white


def test_faces_reads_tiff_16_bit_exif_and_linked_folders_and_counts_other_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "photos"
    ff.save_with_orientation(source / "rotated.jpg", np.ascontiguousarray(ff.astronaut()[::-1, ::-1]), 3)
    ff.save_16bit_gray(source / "deep.png", ff.astronaut())
    ff.save(source / "scan.tif", np.ascontiguousarray(ff.astronaut()[:, ::-1]))
    (source / "notes.txt").write_text("not a photo")
    elsewhere = ff.save(tmp_path / "elsewhere" / "linked.png", ff.shifted(ff.astronaut(), 9, 5)).parent
    (source / "more").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(source, target_is_directory=True)  # a cycle through the link: visited once
    out = tmp_path / "pool"
    assert _faces(source, out) == 0
    report = capsys.readouterr().out
    index = read_index(out / "index.parquet")
    assert sorted(index.identity) == ["deep", "more/linked", "rotated", "scan"]
    assert "1 file(s) not read" in report and ".txt (1)" in report and ".tif" in report
    rotated = index.set_index("identity").loc["rotated"]
    crop = read_rgb(out / rotated.file)
    found = ff.shared_analyzer().analyze(crop)[0]  # the crop is an upright face with its eyes on the template
    np.testing.assert_allclose(stable_points(found.landmarks)[:2], TEMPLATE[:2] * 128, atol=5.0)


def test_help_names_the_suffixes_read(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["faces", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert ".tiff" in help_text and ".png" in help_text and "--max-faces" in help_text


# --- crop names --------------------------------------------------------------------------------------------------


def test_same_stem_different_suffix_keeps_each_faces_own_pixels_and_landmarks(tmp_path: Path) -> None:
    source = tmp_path / "photos"
    ff.save(source / "person.jpg", ff.astronaut(), quality=95)
    ff.save(source / "person.png", np.ascontiguousarray(ff.astronaut()[:, ::-1]))
    out = tmp_path / "pool"
    assert _faces(source, out) == 0
    index = read_index(out / "index.parquet")
    assert len(index) == 2 and index.file.nunique() == 2
    for row in index.itertuples():
        assert Path(row.source).name in row.file
        crop = read_rgb(out / row.file)
        measured = ff.shared_analyzer().analyze(crop)[0]  # the landmarks stored are those of this crop's face
        stored = np.asarray(row.landmarks, dtype=np.float32).reshape(478, 2)
        assert np.abs(stable_points(measured.landmarks) - stable_points(stored)).max() < 5
    assert index.yaw.iloc[0] * index.yaw.iloc[1] < 0  # one faces left, the other right


# --- the face-quality gate ---------------------------------------------------------------------------------------


def _moved(face: FaceRecord, points: np.ndarray) -> FaceRecord:
    return FaceRecord(points.astype(np.float32), face.blendshapes, face.yaw, face.pitch, face.roll, face.score)


@settings(max_examples=40, deadline=None)
@given(angle=st.floats(-180, 180), scale=st.floats(0.6, 3.0))
def test_a_turned_real_mesh_passes_and_its_mirror_is_rejected(
    astronaut_face: FaceRecord, angle: float, scale: float
) -> None:
    marks = astronaut_face.landmarks.astype(np.float64)
    centred = marks - marks.mean(axis=0)
    theta = np.radians(angle)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    turned = centred @ rotation.T * scale + 1000
    assert mesh_problem(_moved(astronaut_face, turned), 2000, 2000) is None
    mirrored = turned * [-1, 1] + [2000, 0]
    assert "swapped" in (mesh_problem(_moved(astronaut_face, mirrored), 2000, 2000) or "")


def test_implausible_small_and_cut_off_meshes_are_named(astronaut_face: FaceRecord) -> None:
    marks = astronaut_face.landmarks.astype(np.float64)
    eyes_on_mouth = marks.copy()
    eyes_on_mouth[:, 1] = 2 * marks[:, 1].mean() - marks[:, 1]  # upside down: mouth above the eyes
    eyes_on_mouth[:, 0] = 2 * marks[:, 0].mean() - marks[:, 0]  # (rotated 180 degrees, so not merely mirrored)
    squashed = marks.copy()
    squashed[:, 1] = marks[:, 1].mean() + (marks[:, 1] - marks[:, 1].mean()) * 0.1  # nose on the eye line
    tiny = (marks - marks.mean(axis=0)) * 0.1 + 256
    assert mesh_problem(astronaut_face, 512, 512) is None
    assert "implausible" in (mesh_problem(_moved(astronaut_face, squashed), 512, 512) or "")
    assert "too small" in (mesh_problem(_moved(astronaut_face, tiny), 512, 512) or "")
    assert "cut off" in (mesh_problem(_moved(astronaut_face, marks - [250, 0]), 512, 512) or "")
    # a 180-degree turn of a real mesh is still a plausible mesh: the re-detection in the crop catches it (below)
    assert mesh_problem(_moved(astronaut_face, eyes_on_mouth), 512, 512) is None


def test_upside_down_face_is_dropped_with_a_reason_and_nothing_usable_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = ff.save(tmp_path / "photos" / "upside_down.png", np.ascontiguousarray(ff.astronaut()[::-1]))
    assert _faces(source.parent, tmp_path / "pool") == 2
    captured = capsys.readouterr()
    assert "upside_down.png" in captured.out and "dropped" in captured.out and "aligned crop" in captured.out
    assert "no usable face" in captured.err


def test_two_faces_side_by_side_are_both_found_and_extra_faces_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    face = ff.astronaut()
    ff.save(tmp_path / "photos" / "pair.png", np.ascontiguousarray(np.concatenate([face, face[:, ::-1]], axis=1)))
    source = tmp_path / "photos"
    assert _faces(source, tmp_path / "single") == 2
    assert "2 faces found (pass --multi" in capsys.readouterr().out
    assert _faces(source, tmp_path / "both", "--multi") == 0
    both = read_index(tmp_path / "both" / "index.parquet")
    assert sorted(both.identity) == ["pair#0", "pair#1"]
    assert _faces(source, tmp_path / "capped", "--multi", "--max-faces", "1") == 0
    assert len(read_index(tmp_path / "capped" / "index.parquet")) == 1
    assert "beyond --max-faces 1" in capsys.readouterr().out


# --- resume by content -------------------------------------------------------------------------------------------


def test_another_set_into_the_same_out_keeps_nothing_of_the_first(tmp_path: Path) -> None:
    set_a, set_b, out = tmp_path / "setA", tmp_path / "setB", tmp_path / "pool"
    ff.save(set_a / "person.png", ff.astronaut())
    ff.save(set_a / "other.png", ff.shifted(ff.astronaut(), 7, 3))
    ff.save(set_b / "person.png", np.ascontiguousarray(ff.astronaut()[:, ::-1]))
    assert _faces(set_a, out) == 0
    first = read_index(out / "index.parquet")
    assert _faces(set_b, out) == 0
    second = read_index(out / "index.parquet")
    assert second.source.tolist() == [str(set_b / "person.png")]
    assert _crops_on_disk(out) == set(second.file) and not set(first.file) & set(second.file)
    assert second.yaw.iloc[0] * first.yaw.iloc[0] < 0  # setB's mirrored face, not setA's crop

    ff.save(set_b / "person.png", ff.astronaut()[:, ::-1] // 2 + 60)  # edited in place: same name, new pixels
    assert _faces(set_b, out) == 0
    edited = read_index(out / "index.parquet")
    assert edited.file.tolist() != second.file.tolist() and _crops_on_disk(out) == set(edited.file)
    expected, _, _ = align_face(
        read_rgb(set_b / "person.png"), ff.shared_analyzer().analyze(read_rgb(set_b / "person.png"))[0].landmarks, 128
    )
    assert np.abs(read_rgb(out / edited.file.iloc[0]).astype(int) - expected).mean() < 2


def test_out_inside_the_source_is_never_scanned(tmp_path: Path) -> None:
    source = tmp_path / "photos"
    ff.save(source / "me.png", ff.astronaut())
    out = source / "pool"
    for _ in range(3):
        assert _faces(source, out) == 0
        index = read_index(out / "index.parquet")
        assert index.identity.tolist() == ["me"] and len(_crops_on_disk(out)) == 1


def test_a_deleted_crop_is_made_again(tmp_path: Path) -> None:
    source, out = tmp_path / "photos", tmp_path / "pool"
    ff.save(source / "me.png", ff.astronaut())
    assert _faces(source, out) == 0
    crop = out / read_index(out / "index.parquet").file.iloc[0]
    crop.unlink()
    assert _faces(source, out) == 0 and crop.is_file()


# --- processes ---------------------------------------------------------------------------------------------------


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (psutil when installed, else /proc)."""
    try:
        import psutil

        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except ImportError:  # pragma: no cover - psutil is a test dependency here
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        found, frontier = set(), {pid}
        while frontier:
            frontier = {child for child, parent in parents.items() if parent in frontier} - found
            found |= frontier
        return found


def _alive(pid: int) -> bool:
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
@pytest.mark.slow
def test_workers_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    source = tmp_path / "photos"
    for number in range(40):
        ff.save(source / f"p{number:02d}.png", ff.shifted(ff.astronaut(), number % 9, number // 9))
    out = tmp_path / "pool"
    command = [sys.executable, "-m", "miex", "faces", str(source), "--out", str(out), "--workers", "2"]
    parent = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list((out / ".parts").glob("*.json"))) < 2:  # options + 1 part
            children |= _descendants(parent.pid)
            if parent.poll() is not None:
                pytest.fail("miex faces finished before it could be killed; give it more images")
            time.sleep(0.1)
        children |= _descendants(parent.pid)
        assert len(children) >= 2, "the workers never started"
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    survivors = [pid for pid in children if _alive(pid)]
    for pid in survivors:  # leave no stray process behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not survivors, f"{len(survivors)} worker(s) outlived their killed parent"


@pytest.mark.parametrize("workers", ["1", pytest.param("2", marks=pytest.mark.slow)])
def test_dev_mode_run_prints_no_exit_noise(tmp_path: Path, workers: str) -> None:
    source = tmp_path / "photos"
    ff.save(source / "a.png", ff.astronaut())
    ff.save(source / "b.png", np.ascontiguousarray(ff.astronaut()[:, ::-1]))
    command = [
        sys.executable,
        "-X",
        "dev",
        "-m",
        "miex",
        "faces",
        str(source),
        "--out",
        str(tmp_path / "o"),
        "--workers",
        workers,
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_resume_keys_follow_the_bytes_of_the_files_used(tmp_path: Path) -> None:
    """extract-aus and flow key each finished part on the frames it read: an edited frame is measured anew."""
    from miex.data.faces.runner import content_key

    frame = tmp_path / "img46.jpg"
    frame.write_bytes(b"first")
    first = content_key("casme2/sub01/EP02", [frame])
    assert content_key("casme2/sub01/EP02", [frame]) == first
    frame.write_bytes(b"edited")
    assert content_key("casme2/sub01/EP02", [frame]) != first
    assert content_key("casme2/sub01/EP02", [tmp_path / "gone.jpg"]).endswith("missing")
