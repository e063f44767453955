"""The mediapipe AU proxy, its linear calibration, and the OpenFace CSV backend."""

from __future__ import annotations

import json
from pathlib import Path

import face_fixtures as ff
import numpy as np
import pytest

from miex.core.errors import MiexInputError
from miex.data.aus import AU_INDEX, AU_NAMES, NUM_AUS
from miex.data.faces import (
    BLENDSHAPES_FOR_AU,
    Calibration,
    MediapipeAUExtractor,
    OpenFaceAUReader,
    align_face,
    blendshapes_to_aus,
)
from miex.data.faces.au_geometry import GeometricAUEstimator


@pytest.fixture(scope="module")
def extractor() -> MediapipeAUExtractor:
    return MediapipeAUExtractor(ff.shared_analyzer(), method="geometry")


def test_mapping_covers_the_17_aus_in_order() -> None:
    assert tuple(BLENDSHAPES_FOR_AU) == AU_NAMES


def test_proxy_is_mean_of_left_right_times_five() -> None:
    shapes = {name: 0.0 for names in BLENDSHAPES_FOR_AU.values() for name in names}
    shapes.update(mouthSmileLeft=0.6, mouthSmileRight=0.8, jawOpen=0.5)
    aus = blendshapes_to_aus(shapes)
    assert aus[AU_INDEX["AU12"]] == pytest.approx(3.5) and aus[AU_INDEX["AU26"]] == pytest.approx(2.5)
    assert aus.dtype == np.float32 and aus.shape == (NUM_AUS,)


def test_astronaut_smiles(extractor: MediapipeAUExtractor) -> None:
    aus = extractor.extract(ff.astronaut())
    assert aus is not None and aus.shape == (17,) and aus.min() >= 0 and aus.max() <= 5
    au12 = aus[AU_INDEX["AU12"]]
    assert au12 > 3.0
    assert au12 > aus[AU_INDEX["AU15"]] + 2.5 and au12 > aus[AU_INDEX["AU04"]] + 2.5


def test_aligned_crop_and_mirror_give_the_same_aus(extractor: MediapipeAUExtractor) -> None:
    face = ff.astronaut()
    aus = extractor.extract(face)
    crop, _, _ = align_face(face, extractor.analyzer.analyze(face)[0].landmarks)
    for other in (extractor.extract(np.ascontiguousarray(face[:, ::-1])), extractor.extract(crop)):
        assert other is not None
        # without a neutral reference the estimate rests on MediaPipe's (not quite mirror-symmetric) mesh
        np.testing.assert_allclose(other, aus, atol=1.5)


def test_noise_gives_no_aus(extractor: MediapipeAUExtractor) -> None:
    assert extractor.extract(ff.noise_image()) is None


def test_calibration_recovers_a_known_linear_map(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    proxy = rng.uniform(0, 5, (200, NUM_AUS))
    slope, intercept = rng.uniform(0.2, 1.5, NUM_AUS), rng.uniform(-0.5, 0.5, NUM_AUS)
    fitted = Calibration.fit(proxy, proxy * slope + intercept)
    np.testing.assert_allclose(fitted.slope, slope, atol=1e-9)
    np.testing.assert_allclose(fitted.intercept, intercept, atol=1e-9)
    loaded = Calibration.load(fitted.save(tmp_path / "cal.json"))
    np.testing.assert_allclose(loaded.slope, slope, atol=1e-12)
    assert loaded.frames == 200
    calibrated = loaded.apply(np.full(NUM_AUS, 2.0))
    np.testing.assert_allclose(calibrated, np.clip(2.0 * slope + intercept, 0, 5), atol=1e-6)


def test_calibration_of_a_constant_au_keeps_its_mean() -> None:
    proxy = np.random.default_rng(4).uniform(0, 5, (10, NUM_AUS))
    proxy[:, 0] = 1.0
    target = proxy.copy()
    target[:, 0] = np.linspace(0, 2, 10)
    fitted = Calibration.fit(proxy, target)
    assert fitted.slope[0] == 0 and fitted.intercept[0] == pytest.approx(1.0)


def test_calibrated_extractor_is_named_and_applied(extractor: MediapipeAUExtractor) -> None:
    calibration = Calibration(np.zeros(NUM_AUS), np.full(NUM_AUS, 1.25))
    calibrated = MediapipeAUExtractor(extractor.analyzer, calibration, method="geometry")
    assert calibrated.name == "mediapipe-geometry+calibration" and extractor.name == "mediapipe-geometry"
    np.testing.assert_allclose(calibrated.extract(ff.astronaut()), 1.25)


def test_bad_calibration_file_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"format": "miex.au_calibration.v1", "aus": {"AU01": {"slope": 1}}}))
    with pytest.raises(MiexInputError, match="calibration entry"):
        Calibration.load(path)
    path.write_text("[]")
    with pytest.raises(MiexInputError, match="not a calibration file"):
        Calibration.load(path)


def _openface_csv(path: Path, frames: list[int], *, success: list[int] | None = None) -> Path:
    """An older-build OpenFace CSV (", " separators, so names carry a leading space), AU12 = frame / 10."""
    header = ["frame", "face_id", "timestamp", "confidence", "success", *(f"{au}_r" for au in AU_NAMES)]
    lines = [", ".join(header)]
    for row, frame in enumerate(frames):
        values = [0.0] * NUM_AUS
        values[AU_INDEX["AU12"]] = frame / 10
        ok = 1 if success is None else success[row]
        lines.append(", ".join([str(frame), "0", f"{frame / 30:.3f}", "0.98", str(ok), *(f"{v:.2f}" for v in values)]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_openface_reader_matches_clip_positions_and_images(tmp_path: Path) -> None:
    _openface_csv(tmp_path / "EP01.csv", [1, 2, 3], success=[1, 0, 1])
    _openface_csv(tmp_path / "photo.csv", [1])
    reader = OpenFaceAUReader(tmp_path)
    assert reader.clip_aus("EP01", 2)[AU_INDEX["AU12"]] == pytest.approx(0.3)  # 3rd file = OpenFace frame 3
    with pytest.raises(MiexInputError, match="no successful OpenFace row for frame 2"):
        reader.clip_aus("EP01", 1)  # a failed track is never turned into a row
    assert reader.image_aus("/anywhere/photo.jpg")[AU_INDEX["AU12"]] == pytest.approx(0.1)
    with pytest.raises(MiexInputError, match="not found"):
        reader.image_aus("other.png")


def test_astronaut_smile_reads_au06_and_au12_above_neutral(extractor: MediapipeAUExtractor) -> None:
    """A real photograph a dependency ships: her smile must show in the cheek (AU06) and lip corners (AU12)."""
    aus = extractor.extract(ff.astronaut())
    assert aus is not None
    assert aus[AU_INDEX["AU12"]] > 3.0 and aus[AU_INDEX["AU06"]] > 1.0
    assert aus[AU_INDEX["AU45"]] < 0.3 and aus[AU_INDEX["AU15"]] < 0.3 and aus[AU_INDEX["AU04"]] < 0.3


def test_a_face_against_itself_reads_zero_on_every_au(extractor: MediapipeAUExtractor) -> None:
    face = extractor.analyzer.analyze(ff.astronaut())[0]
    assert np.array_equal(extractor.from_face(face, reference=face), np.zeros(17, np.float32))


@pytest.fixture(scope="module")
def expressive() -> tuple[np.ndarray, np.ndarray]:
    """Readings (17 x 17) of the astronaut warped to each single AU at 4, measured against the unwarped face."""
    import torch
    from face_fixtures import astronaut_crop

    from miex.data.generators.grid import to_uint8
    from miex.data.generators.warp import WarpGenerator

    analyzer = ff.shared_analyzer()
    face = astronaut_crop(128)
    neutral = analyzer.analyze(to_uint8(face)[0])[0]
    estimator = GeometricAUEstimator()
    readings = np.zeros((17, 17), np.float32)
    generator = WarpGenerator()
    points = torch.from_numpy(neutral.landmarks)[None]
    for a in range(17):
        aus = np.zeros((1, 17), np.float32)
        aus[0, a] = 4.0
        frame = to_uint8(generator(face, aus, landmarks=points))[0]
        readings[a] = estimator.estimate(analyzer.analyze(frame)[0].landmarks_3d, neutral.landmarks_3d).aus
    return readings, np.eye(17, dtype=bool)


def test_every_channel_is_alive_and_reads_its_own_au(expressive: tuple[np.ndarray, np.ndarray]) -> None:
    readings, diagonal = expressive
    # re-detected by MediaPipe, whose mesh barely follows cheek (AU06), nose (AU09) and lip-red (AU23) motion. The
    # astronaut smiles with her teeth apart: an upper lip raised over still teeth (AU10) shows a taller opening, and
    # MediaPipe's mouth prior then lowers the unmoved lower lip (lip 14: +0.043 IOD at AU10 = 5), so AU10 reads
    # mostly as AU25 there, though its own channel climbs with it
    assert (readings.max(axis=0) > 0.25).sum() >= 14, readings.max(axis=0)
    own_top = [AU_NAMES[a] for a in range(17) if readings[a].argmax() == a]
    assert len(set(own_top) | {"AU10"}) >= 13, own_top
    assert readings[AU_INDEX["AU10"], AU_INDEX["AU10"]] > 1.0  # alive, if outread by AU25
    assert np.median(readings[diagonal]) > 1.0


def test_neutral_reference_removes_the_resting_face(extractor: MediapipeAUExtractor) -> None:
    """A translated copy of a face is the same expression: measured against it, every AU reads <= 0.3."""
    face = ff.astronaut()
    moved = ff.shifted(face, 7, 4)
    reference = extractor.analyzer.analyze(face)[0]
    aus = extractor.extract(moved, reference=reference)
    assert aus is not None and aus.max() <= 0.3, aus
