"""The calibrated AU method: the shipped calibration file, how it is applied, its errors, and the AU table's
per-AU reliability. Fixtures are built here (the canonical face, the astronaut); OpenFace is never needed."""

from __future__ import annotations

import json
from pathlib import Path

import face_fixtures as ff
import numpy as np
import pandas as pd
import pytest

from miex.core.errors import MiexInputError
from miex.data.aus import AU_INDEX, AU_NAMES, read_au_reliability, read_au_table, write_au_table
from miex.data.faces import Calibration, FaceRecord, FeatureCalibration, MediapipeAUExtractor
from miex.data.faces.au_extractors import DEFAULT_CALIBRATION
from miex.data.faces.au_geometry import GeometricAUEstimator
from miex.data.faces.canonical import canonical_face

RESTING_BLENDSHAPES = {
    "browInnerUp": 0.44,
    "browOuterUpLeft": 0.29,
    "browOuterUpRight": 0.2,
    "eyeBlinkLeft": 0.07,
    "eyeBlinkRight": 0.04,
    "eyeSquintLeft": 0.31,
    "eyeSquintRight": 0.22,
    "eyeWideLeft": 0.01,
    "eyeWideRight": 0.02,
    "jawOpen": 0.03,
    "mouthPucker": 0.5,
    "mouthRollLower": 0.2,
    "mouthRollUpper": 0.13,
    "mouthShrugLower": 0.12,
    "mouthShrugUpper": 0.01,
}
"""What MediaPipe's blendshape head gives a neutral face (medians over neutral photos of five people): a resting
face is not all zeros (open eyes score eyeSquint, closed lips mouthPucker), and must still read as no expression."""


@pytest.fixture(scope="module")
def shipped() -> FeatureCalibration:
    return FeatureCalibration.load()


def resting_face(calibration: FeatureCalibration, **changes: float) -> FaceRecord:
    """The canonical (population-neutral) face in pixels with resting blendshapes, some of them ``changes``d."""
    names = {part for name in calibration.names if name.startswith("blendshape:") for part in name[11:].split("+")}
    shapes = {name: RESTING_BLENDSHAPES.get(name, 0.0) for name in names} | changes
    canonical = canonical_face()
    return FaceRecord(
        landmarks=(canonical[:, :2] * 10 + 300).astype(np.float32),
        blendshapes=shapes,
        yaw=0.0,
        pitch=0.0,
        roll=0.0,
        score=1.0,
        depth=(canonical[:, 2] * 10).astype(np.float32),
    )


def test_shipped_calibration_covers_every_au_and_says_where_it_comes_from(shipped: FeatureCalibration) -> None:
    assert len(shipped.features) == len(AU_NAMES) and all(shipped.features)
    assert all(len(w) == len(f) for w, f in zip(shipped.weights, shipped.features, strict=True))
    assert "OpenFace 2.2" in shipped.source and "held out" in json.loads(DEFAULT_CALIBRATION.read_text())["reliability"]
    assert ((shipped.reliability > -1) & (shipped.reliability <= 1)).all()
    assert set(shipped.reliability_map()) == set(AU_NAMES)


def test_the_default_extractor_is_the_calibrated_one() -> None:
    extractor = MediapipeAUExtractor(ff.shared_analyzer())
    assert extractor.method == "calibrated" and extractor.name == "mediapipe-calibrated"
    assert extractor.reliability == FeatureCalibration.load().reliability_map()


def test_a_resting_face_reads_at_most_0_3_on_every_au(shipped: FeatureCalibration) -> None:
    aus = shipped.apply(shipped.measure(resting_face(shipped), GeometricAUEstimator()))
    assert aus.shape == (17,) and aus.dtype == np.float32
    assert aus.max() <= 0.3, dict(zip(AU_NAMES, aus.round(2), strict=True))


def test_no_channel_is_constant(shipped: FeatureCalibration) -> None:
    """Each AU rises above rest when the features it weighs move the way its weights say (to 5 on the 0-5 scale, or
    to 0 where a blendshape counts against it); a least-squares fit shrinks a weakly agreeing AU towards OpenFace's
    mean, so AUs whose reliability is below 0.3 move less, but every one moves."""
    rest = shipped.measure(resting_face(shipped), GeometricAUEstimator())
    for a, au in enumerate(AU_NAMES):
        moved = dict(rest)
        for name, weight in zip(shipped.features[a], shipped.weights[a], strict=True):
            moved[name] = 5.0 if weight > 0 else (0.0 if name.startswith("blendshape:") else -5.0)
        rise = 0.5 if shipped.reliability[a] >= 0.3 else 0.05
        assert shipped.apply(moved)[a] >= rise + shipped.apply(rest)[a], au


def test_calibration_is_applied_as_written(tmp_path: Path) -> None:
    """A hand-written file: AU12 = 0.5 + 0.8 * mean(mouthSmile) * 5 - 0.1 * geometry AU12; others read 0."""
    aus = {au: {"features": {"blendshape:browInnerUp": 0.0}, "intercept": 0.0, "reliability": 0.0} for au in AU_NAMES}
    aus["AU12"] = {
        "features": {"blendshape:mouthSmileLeft+mouthSmileRight": 0.8, "geometry:AU12": -0.1},
        "intercept": 0.5,
        "reliability": 0.9,
    }
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"format": "miex.au_calibration.v2", "source": "test", "aus": aus}))
    calibration = FeatureCalibration.load(path)
    values = {"blendshape:mouthSmileLeft+mouthSmileRight": 2.0, "geometry:AU12": 1.0, "blendshape:browInnerUp": 4.0}
    expected = np.zeros(17, np.float32)
    expected[AU_INDEX["AU12"]] = 0.5 + 0.8 * 2.0 - 0.1
    np.testing.assert_allclose(calibration.apply(values), expected, atol=1e-6)
    face = resting_face(calibration, mouthSmileLeft=0.3, mouthSmileRight=0.5)
    measured = calibration.measure(face, GeometricAUEstimator())
    assert measured["blendshape:mouthSmileLeft+mouthSmileRight"] == pytest.approx(2.0)  # mean × 5
    # from an onset: the change in the weighed features, without the intercept; the onset itself reads 0
    onset = dict(values, **{"blendshape:mouthSmileLeft+mouthSmileRight": 1.0})
    assert calibration.apply(values, onset)[AU_INDEX["AU12"]] == pytest.approx(0.8)
    assert not calibration.apply(onset, onset).any()
    assert calibration.apply({**values, "blendshape:mouthSmileLeft+mouthSmileRight": 9.0}).max() == 5.0
    extractor = MediapipeAUExtractor(ff.shared_analyzer(), features=calibration)
    assert extractor.reliability is not None and extractor.reliability["AU12"] == 0.9


def test_a_clip_frame_that_only_moved_reads_no_expression() -> None:
    """Change from the onset: a translated copy of the onset is the same face, so every AU reads <= 0.3."""
    extractor = MediapipeAUExtractor(ff.shared_analyzer())
    face = ff.astronaut()
    onset = extractor.analyzer.analyze(face)[0]
    aus = extractor.extract(ff.shifted(face, 7, 4), reference=onset)
    assert aus is not None and aus.max() <= 0.3, aus
    smile = extractor.extract(face)
    assert smile is not None and smile[AU_INDEX["AU12"]] > 1.0 and smile[AU_INDEX["AU06"]] > 0.5  # she smiles


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "cannot read calibration JSON"),
        ({"format": "miex.au_calibration.v1", "aus": {}}, "not a feature calibration"),
        ({"format": "miex.au_calibration.v2"}, "no 'aus' object"),
        ({"format": "miex.au_calibration.v2", "aus": {}}, "AU01 missing"),
        ({"AU01": {"features": {"geometry:AU99": 1.0}, "intercept": 0, "reliability": 0}}, "unknown feature"),
        ({"AU01": {"features": {"optical:flow": 1.0}, "intercept": 0, "reliability": 0}}, "unknown feature"),
        ({"AU01": {"features": {}, "intercept": 0, "reliability": 0}}, "at least one feature"),
        ({"AU01": {"features": {"geometry:AU01": "x"}, "intercept": 0, "reliability": 0}}, "not a number"),
        ({"AU01": {"features": {"geometry:AU01": 1.0}, "reliability": 0}}, "intercept or reliability missing"),
        ({"AU01": {"features": {"geometry:AU01": 1.0}, "intercept": 0, "reliability": 2}}, "reliability a correlation"),
    ],
)
def test_bad_calibration_files_name_the_problem(tmp_path: Path, payload: object, message: str) -> None:
    path = tmp_path / "bad.json"
    if isinstance(payload, dict) and "format" not in payload:  # one broken AU in an otherwise complete file
        good = {"features": {"geometry:AU01": 1.0}, "intercept": 0.0, "reliability": 0.5}
        payload = {"format": "miex.au_calibration.v2", "aus": {au: good for au in AU_NAMES} | payload}
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    with pytest.raises(MiexInputError, match=message) as error:
        FeatureCalibration.load(path)
    assert str(path) in str(error.value)
    if isinstance(payload, dict) and "AU01" in payload.get("aus", {}) and message != "AU01 missing":
        assert "aus.AU01" in str(error.value)  # which entry to fix


def test_a_linear_calibration_is_refused_by_the_calibrated_method() -> None:
    linear = Calibration(np.ones(17), np.zeros(17))
    with pytest.raises(MiexInputError, match="feature calibration"):
        MediapipeAUExtractor(ff.shared_analyzer(), linear)


def test_au_table_records_reliability(tmp_path: Path) -> None:
    row = {"path": "a.png", "dataset": "", "subject": "", "clip": "", "frame": -1, "extractor": "x"}
    table = pd.DataFrame([row | dict.fromkeys(AU_NAMES, 1.0)])
    reliability = FeatureCalibration.load().reliability_map()
    write_au_table(table, tmp_path / "with.parquet", reliability=reliability)
    write_au_table(table, tmp_path / "without.parquet")
    assert read_au_reliability(tmp_path / "with.parquet") == reliability
    assert read_au_reliability(tmp_path / "without.parquet") is None
    pd.testing.assert_frame_equal(read_au_table(tmp_path / "with.parquet"), read_au_table(tmp_path / "without.parquet"))


def test_extract_aus_writes_the_calibrated_readings_and_their_reliability(tmp_path: Path) -> None:
    from miex.cli import main

    source = tmp_path / "photos"
    ff.save(source / "smile.png", ff.astronaut())
    out = tmp_path / "aus.parquet"
    assert main(["extract-aus", str(source), "--out", str(out), "--workers", "1"]) == 0
    aus = read_au_table(out)
    assert aus.extractor.tolist() == ["mediapipe-calibrated@norms"] and aus.AU12.iloc[0] > 1.0
    assert read_au_reliability(out) == FeatureCalibration.load().reliability_map()
    geometry = tmp_path / "geometry.parquet"
    assert main(["extract-aus", str(source), "--out", str(geometry), "--method", "geometry", "--workers", "1"]) == 0
    assert read_au_reliability(geometry) is None  # nothing measured for it: nothing claimed
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["extract-aus", str(source), "--out", str(tmp_path / "x.parquet"), "--calibration", str(bad)]) == 2
