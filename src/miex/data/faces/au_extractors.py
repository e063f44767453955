"""AU extraction: one interface, two backends, both giving the 17 OpenFace AUs on the 0 to 5 scale.

- ``mediapipe``: MediaPipe's 478 landmarks and 52 blendshapes, read by one of three methods:
  ``calibrated`` (default): per AU, a linear map of the features that agree best with OpenFace 2.2 (single-image
  geometry readings and blendshapes), fitted on real faces and shipped as ``au_calibration.json``
  (:class:`FeatureCalibration`; its per-AU held-out agreement is recorded as the AU table's reliability);
  ``geometry``: :mod:`.au_geometry` -- the change from a neutral reference of the same face (a clip's
  onset frame) explained by the FACS motion model, or per-AU resting-norm measures when a single image has no
  reference; ``blendshapes``: a coarse proxy (mean of left/right blendshapes × 5, docs/reference.md §AU
  extraction), which reads resting state and has dead channels (AU06, AU09). These two are UNCALIBRATED estimates
  of OpenFace intensities; :class:`Calibration` maps either towards OpenFace with a per-AU linear fit (a few hundred
  calibration frames cannot constrain a full 17 x 18 affine map without cross-AU leakage).
- ``openface``: reads OpenFace CSVs produced elsewhere and matches rows to frames by frame number or file name --
  the paper-exact path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path
from miex.data.aus.openface import read_openface_csv
from miex.data.aus.schema import AU_MAX, AU_MIN, AU_NAMES, NUM_AUS, from_generator_scale
from miex.data.faces.au_geometry import GeometricAUEstimator
from miex.data.faces.landmarker import FaceAnalyzer, FaceRecord

METHODS = ("calibrated", "geometry", "blendshapes")

BLENDSHAPES_FOR_AU: dict[str, tuple[str, ...]] = {
    "AU01": ("browInnerUp",),
    "AU02": ("browOuterUpLeft", "browOuterUpRight"),
    "AU04": ("browDownLeft", "browDownRight"),
    "AU05": ("eyeWideLeft", "eyeWideRight"),
    "AU06": ("cheekSquintLeft", "cheekSquintRight"),
    "AU07": ("eyeSquintLeft", "eyeSquintRight"),
    "AU09": ("noseSneerLeft", "noseSneerRight"),
    "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "AU12": ("mouthSmileLeft", "mouthSmileRight"),
    "AU14": ("mouthDimpleLeft", "mouthDimpleRight"),
    "AU15": ("mouthFrownLeft", "mouthFrownRight"),
    "AU17": ("mouthShrugLower",),
    "AU20": ("mouthStretchLeft", "mouthStretchRight"),
    "AU23": ("mouthPressLeft", "mouthPressRight"),
    "AU25": ("mouthLowerDownLeft", "mouthLowerDownRight"),
    "AU26": ("jawOpen",),
    "AU45": ("eyeBlinkLeft", "eyeBlinkRight"),
}
"""docs/reference.md §AU extraction (blendshapes); the 17 keys are in :data:`AU_NAMES` order."""

CALIBRATION_FORMAT = "miex.au_calibration.v1"
FEATURE_CALIBRATION_FORMAT = "miex.au_calibration.v2"
DEFAULT_CALIBRATION = Path(__file__).with_name("au_calibration.json")
"""The shipped calibration of the ``calibrated`` method: source and per-AU agreement in the file, figures and how
they were measured in docs/reference.md §AU extraction."""


def blendshapes_to_aus(blendshapes: Mapping[str, float]) -> np.ndarray:
    """The uncalibrated proxy: (17,) float32 on 0 to 5 (mean of the left/right blendshapes, × 5)."""
    try:
        values = [np.mean([blendshapes[name] for name in BLENDSHAPES_FOR_AU[au]]) for au in AU_NAMES]
    except KeyError as error:
        raise ValueError(f"blendshape {error} missing: the landmarker must run with output_face_blendshapes") from error
    return np.clip(from_generator_scale(np.asarray(values, dtype=np.float32)), AU_MIN, AU_MAX)


def _calibration_json(path: Path) -> object:
    """A calibration file's parsed JSON; unreadable or malformed is an error naming the file."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise MiexInputError(f"cannot read calibration JSON ({error})", file=path) from error


@dataclass(frozen=True)
class Calibration:
    """Per-AU linear map ``openface ≈ slope · proxy + intercept``, clipped to 0..5; stored as a small JSON."""

    slope: np.ndarray  # (17,)
    intercept: np.ndarray  # (17,)
    frames: int = 0

    def apply(self, aus: np.ndarray) -> np.ndarray:
        values = np.asarray(aus, dtype=np.float64) * self.slope + self.intercept
        return np.clip(values, AU_MIN, AU_MAX).astype(np.float32)

    @classmethod
    def fit(cls, proxy: np.ndarray, openface: np.ndarray) -> Calibration:
        """Least squares per AU on paired (N, 17) arrays; an AU whose proxy is constant gets slope 0 (mean only)."""
        x = np.asarray(proxy, dtype=np.float64)
        y = np.asarray(openface, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 2 or x.shape[1] != NUM_AUS:
            raise ValueError(f"need two (N, {NUM_AUS}) arrays of paired frames, got {x.shape} and {y.shape}")
        if len(x) < 2:
            raise ValueError("need at least 2 paired frames to fit a calibration")
        dx = x - x.mean(axis=0)
        variance = (dx**2).sum(axis=0)
        safe = np.where(variance > 1e-12, variance, 1.0)
        slope = np.where(variance > 1e-12, (dx * (y - y.mean(axis=0))).sum(axis=0) / safe, 0.0)
        intercept = y.mean(axis=0) - slope * x.mean(axis=0)
        return cls(slope, intercept, frames=len(x))

    def save(self, path: str | PathLike[str]) -> Path:
        path = Path(path)
        payload = {
            "format": CALIBRATION_FORMAT,
            "model": "per-AU linear: openface = slope * mediapipe_proxy + intercept, clipped to 0..5",
            "frames": self.frames,
            "aus": {
                au: {"slope": float(s), "intercept": float(b)}
                for au, s, b in zip(AU_NAMES, self.slope, self.intercept, strict=True)
            },
        }
        with atomic_path(path) as temporary:
            temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Calibration:
        path = Path(path)
        payload = _calibration_json(path)
        if not isinstance(payload, dict) or payload.get("format") != CALIBRATION_FORMAT:
            raise MiexInputError(f"not a calibration file (expected format {CALIBRATION_FORMAT!r})", file=path)
        try:
            rows = [payload["aus"][au] for au in AU_NAMES]
            slope = np.array([float(row["slope"]) for row in rows])
            intercept = np.array([float(row["intercept"]) for row in rows])
        except (KeyError, TypeError, ValueError) as error:
            reason = f"calibration entry missing or not a number: {error}"
            raise MiexInputError(reason, file=path, field="aus") from error
        return cls(slope, intercept, frames=int(payload.get("frames", 0)))


FEATURE_KINDS = ("geometry", "blendshape")


@dataclass(frozen=True)
class FeatureCalibration:
    """Per AU: ``intercept + Σ weight · feature``, clipped to 0..5 (the ``calibrated`` method's file, format v2).

    Features are ``geometry:AUxx`` (the single-image reading of :meth:`GeometricAUEstimator.readings`) or
    ``blendshape:A+B`` (the mean of MediaPipe blendshapes A and B, × 5). A clip frame is read as the change from its
    onset, ``Σ weight · (feature(frame) - feature(onset))``: the intercept, and the identity both frames share,
    cancel, so the onset reads 0."""

    features: tuple[tuple[str, ...], ...]  # per AU, in AU_NAMES order
    weights: tuple[np.ndarray, ...]
    intercept: np.ndarray  # (17,)
    reliability: np.ndarray  # (17,) measured agreement with OpenFace (Pearson r on held-out photo sources)
    source: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        """Every feature the calibration reads, once, sorted."""
        return tuple(sorted({name for names in self.features for name in names}))

    def measure(self, face: FaceRecord, geometry: GeometricAUEstimator) -> dict[str, float]:
        """The feature values of one face."""
        values: dict[str, float] = {}
        readings = None
        for name in self.names:
            kind, _, what = name.partition(":")
            if kind == "geometry":
                readings = geometry.readings(face.landmarks_3d) if readings is None else readings
                values[name] = float(readings[AU_NAMES.index(what)])
            else:
                values[name] = float(np.mean([face.blendshapes[part] for part in what.split("+")])) * AU_MAX
        return values

    def linear(self, values: Mapping[str, float]) -> np.ndarray:
        """(17,) unclipped ``Σ weight · feature`` (no intercept)."""
        return np.array(
            [
                sum(w * values[n] for n, w in zip(names, weights, strict=True))
                for names, weights in zip(self.features, self.weights, strict=True)
            ]
        )

    def apply(self, values: Mapping[str, float], onset: Mapping[str, float] | None = None) -> np.ndarray:
        """(17,) float32 on 0..5: the calibrated reading, or with ``onset`` the change from the onset frame."""
        aus = self.linear(values) - (self.linear(onset) if onset is not None else -self.intercept)
        return np.clip(aus, AU_MIN, AU_MAX).astype(np.float32)

    def reliability_map(self) -> dict[str, float]:
        return {au: round(float(r), 3) for au, r in zip(AU_NAMES, self.reliability, strict=True)}

    @classmethod
    def load(cls, path: str | PathLike[str] = DEFAULT_CALIBRATION) -> FeatureCalibration:
        """Read and check a v2 calibration; a problem names the file, the AU and what to fix."""
        path = Path(path)
        payload = _calibration_json(path)
        if not isinstance(payload, dict) or payload.get("format") != FEATURE_CALIBRATION_FORMAT:
            found = payload.get("format") if isinstance(payload, dict) else None
            raise MiexInputError(
                f"not a feature calibration (format {found!r}, expected "
                f"{FEATURE_CALIBRATION_FORMAT!r}; a {CALIBRATION_FORMAT!r} file goes with "
                "--method geometry or blendshapes)",
                file=path,
            )
        aus = payload.get("aus")
        if not isinstance(aus, dict):
            raise MiexInputError("no 'aus' object (one entry per AU)", file=path, field="aus")
        rows = [_calibration_row(aus.get(au), au, path) for au in AU_NAMES]
        return cls(
            features=tuple(tuple(row[0]) for row in rows),
            weights=tuple(np.array(row[1]) for row in rows),
            intercept=np.array([row[2] for row in rows]),
            reliability=np.array([row[3] for row in rows]),
            source=str(payload.get("source", "")),
        )


def _calibration_row(entry: object, au: str, path: Path) -> tuple[list[str], list[float], float, float]:
    """One AU's (feature names, weights, intercept, reliability), checked."""
    where = {"file": path, "field": f"aus.{au}"}
    if not isinstance(entry, dict):
        raise MiexInputError(f"{au} missing: a calibration gives all 17 AUs", **where)
    features = entry.get("features")
    if not isinstance(features, dict) or not features:
        raise MiexInputError(f"{au}: 'features' must map at least one feature name to its weight", **where)
    for name in features:
        kind, _, what = str(name).partition(":")
        valid = (kind == "geometry" and what in AU_NAMES) or (kind == "blendshape" and all(what.split("+")))
        if not valid:
            raise MiexInputError(
                f"{au}: unknown feature {name!r} (use geometry:AUxx or blendshape:NAME[+NAME])", **where
            )
    try:
        weights = [float(w) for w in features.values()]
        intercept, reliability = float(entry["intercept"]), float(entry["reliability"])
    except (KeyError, TypeError, ValueError) as error:
        raise MiexInputError(
            f"{au}: weight, intercept or reliability missing or not a number ({error})", **where
        ) from error
    if not np.isfinite([*weights, intercept, reliability]).all() or not -1 <= reliability <= 1:
        raise MiexInputError(f"{au}: weights and intercept must be finite, reliability a correlation in -1..1", **where)
    return list(features), weights, intercept, reliability


def extractor_name(method: str, *, calibrated: bool = False, reference: str | None = None) -> str:
    """The AU table's ``extractor`` value: backend, method, calibration and reference, e.g.
    ``mediapipe-calibrated@onset``, ``mediapipe-geometry@norms`` or ``mediapipe-blendshapes+calibration``."""
    name = f"mediapipe-{method}" + ("+calibration" if calibrated else "")
    return name + (f"@{reference}" if reference and method in ("geometry", "calibrated") else "")


class MediapipeAUExtractor:
    """``extract(rgb, reference=None) -> (17,) 0-5 or None``: AUs of the largest face.

    ``reference`` is a neutral :class:`FaceRecord` of the same face (a clip's onset; calibrated and geometry):
    the reading is then the change from it. Without it, geometry compares with resting norms and calibrated reads
    the face on its own. ``calibration`` is a per-AU linear map of the geometry or blendshape output (v1);
    ``features`` the calibrated method's map (default: the shipped :data:`DEFAULT_CALIBRATION`)."""

    def __init__(
        self,
        analyzer: FaceAnalyzer | None = None,
        calibration: Calibration | None = None,
        *,
        method: str = "calibrated",
        geometry: GeometricAUEstimator | None = None,
        features: FeatureCalibration | None = None,
    ) -> None:
        if method not in METHODS:
            raise MiexInputError(f"unknown AU method {method!r} (choose from {', '.join(METHODS)})", field="method")
        if calibration is not None and method == "calibrated":
            raise MiexInputError(
                "a per-AU linear calibration (v1) maps the geometry or blendshapes method; the "
                "calibrated method takes a feature calibration (v2)",
                field="calibration",
            )
        self.analyzer = analyzer or FaceAnalyzer(max_faces=1)
        self.calibration = calibration
        self.method = method
        self.geometry = geometry or (GeometricAUEstimator() if method != "blendshapes" else None)
        self.features = (features or FeatureCalibration.load()) if method == "calibrated" else None

    @property
    def name(self) -> str:
        return extractor_name(self.method, calibrated=self.calibration is not None)

    @property
    def reliability(self) -> dict[str, float] | None:
        """Per AU, the measured agreement with OpenFace the AU table records (calibrated method only)."""
        return self.features.reliability_map() if self.features is not None else None

    def from_face(self, face: FaceRecord, reference: FaceRecord | None = None) -> np.ndarray:
        if self.features is not None:
            assert self.geometry is not None
            onset = None if reference is None else self.features.measure(reference, self.geometry)
            return self.features.apply(self.features.measure(face, self.geometry), onset)
        if self.method == "blendshapes":
            aus = blendshapes_to_aus(face.blendshapes)
        else:
            assert self.geometry is not None
            neutral = None if reference is None else reference.landmarks_3d
            aus = self.geometry.estimate(face.landmarks_3d, neutral).aus
        return self.calibration.apply(aus) if self.calibration else aus

    def extract(self, image: np.ndarray, reference: FaceRecord | None = None) -> np.ndarray | None:
        faces = self.analyzer.analyze(image)
        return self.from_face(faces[0], reference) if faces else None


class OpenFaceAUReader:
    """AUs that OpenFace computed elsewhere, matched to frames by file name and frame number.

    Layout of ``openface_dir``: ``<image stem>.csv`` per image (FaceLandmarkImg: the first face is used), or
    ``<clip>.csv`` per clip folder (FeatureExtraction run on the clip's frame folder: OpenFace numbers the frames it
    read 1..N in file-name order, so the frame at position ``i`` of the clip is OpenFace ``frame == i + 1``). A folder
    prepared by ``miex extract-aus --openface-layout`` says where each frame went in its manifest instead
    (:mod:`.openface_layout`).
    """

    name = "openface"

    def __init__(self, openface_dir: str | PathLike[str]) -> None:
        self.root = Path(openface_dir)
        self._tables: dict[Path, pd.DataFrame] = {}

    def _table(self, csv: Path) -> pd.DataFrame:
        if csv not in self._tables:
            self._tables[csv] = read_openface_csv(csv)
        return self._tables[csv]

    def image_aus(self, image: str | PathLike[str]) -> np.ndarray:
        """AUs of a single image from ``<stem>.csv``; raise :class:`MiexInputError` naming the missing file/row."""
        csv = self.root / f"{Path(image).stem}.csv"
        return self.frame_aus(csv, None)

    def clip_aus(self, clip: str, position: int) -> np.ndarray:
        """AUs of the frame at 0-based ``position`` of ``clip`` from ``<clip>.csv`` (OpenFace frame position+1)."""
        return self.frame_aus(self.root / f"{clip}.csv", position + 1)

    def frame_aus(self, csv: Path, frame: int | None) -> np.ndarray:
        """AUs of OpenFace ``frame`` (1-based, sorted-file order) of ``csv``, or of its first row when None."""
        table = self._table(csv)
        if frame is not None and "frame" not in table:  # every frame would get the first row's AUs
            raise MiexInputError(
                "the CSV has no 'frame' column, so its rows cannot be matched to the clip's frames: "
                "use the CSV OpenFace's FeatureExtraction wrote (it has one)",
                file=csv,
                row=1,
                field="frame",
            )
        rows = table if frame is None else table[table["frame"] == frame]
        if rows.empty:
            raise MiexInputError(f"no successful OpenFace row for frame {frame}", file=csv, field="frame")
        return rows[list(AU_NAMES)].iloc[0].to_numpy(dtype=np.float32)
