"""AU extraction: one interface, two backends, both giving the 17 OpenFace AUs on the 0 to 5 scale.

- ``mediapipe``: MediaPipe's 478 landmarks, read by one of two methods:
  ``geometry`` (default): :mod:`.au_geometry` -- the change from a neutral reference of the same face (a clip's
  onset frame) explained by the FACS motion model, or per-AU resting-norm measures when a single image has no
  reference; ``blendshapes``: the older proxy (mean of left/right blendshapes × 5, docs/reference.md §AU
  extraction), which reads resting state and has dead channels (AU06, AU09). Both are UNCALIBRATED estimates of
  OpenFace intensities; :class:`Calibration` maps either towards OpenFace with a per-AU linear fit (a few hundred
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

from ..aus.openface import read_openface_csv
from ..aus.schema import AU_MAX, AU_MIN, AU_NAMES, NUM_AUS, from_generator_scale
from ..errors import MiexInputError
from ..fileio import atomic_path
from .au_geometry import GeometricAUEstimator
from .landmarker import FaceAnalyzer, FaceRecord

METHODS = ("geometry", "blendshapes")

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


def blendshapes_to_aus(blendshapes: Mapping[str, float]) -> np.ndarray:
    """The uncalibrated proxy: (17,) float32 on 0 to 5 (mean of the left/right blendshapes, × 5)."""
    try:
        values = [np.mean([blendshapes[name] for name in BLENDSHAPES_FOR_AU[au]]) for au in AU_NAMES]
    except KeyError as error:
        raise ValueError(f"blendshape {error} missing: the landmarker must run with output_face_blendshapes") from error
    return np.clip(from_generator_scale(np.asarray(values, dtype=np.float32)), AU_MIN, AU_MAX)


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
            "aus": {au: {"slope": float(s), "intercept": float(b)} for au, s, b in zip(
                AU_NAMES, self.slope, self.intercept, strict=True)},
        }  # fmt: skip
        with atomic_path(path) as temporary:
            temporary.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Calibration:
        path = Path(path)
        try:
            payload = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise MiexInputError(f"cannot read calibration JSON ({error})", file=path) from error
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


def extractor_name(method: str, *, calibrated: bool = False, reference: str | None = None) -> str:
    """The AU table's ``extractor`` value: backend, method, calibration and reference, e.g.
    ``mediapipe-geometry@onset`` or ``mediapipe-blendshapes+calibration``."""
    name = f"mediapipe-{method}" + ("+calibration" if calibrated else "")
    return name + (f"@{reference}" if reference and method == "geometry" else "")


class MediapipeAUExtractor:
    """``extract(rgb, reference=None) -> (17,) 0-5 or None``: AUs of the largest face.

    ``reference`` is a neutral :class:`FaceRecord` of the same face (geometry only); without it the geometry method
    compares with resting norms."""

    def __init__(
        self,
        analyzer: FaceAnalyzer | None = None,
        calibration: Calibration | None = None,
        *,
        method: str = "geometry",
        geometry: GeometricAUEstimator | None = None,
    ) -> None:
        if method not in METHODS:
            raise MiexInputError(f"unknown AU method {method!r} (choose from {', '.join(METHODS)})", field="method")
        self.analyzer = analyzer or FaceAnalyzer(max_faces=1)
        self.calibration = calibration
        self.method = method
        self.geometry = geometry or (GeometricAUEstimator() if method == "geometry" else None)

    @property
    def name(self) -> str:
        return extractor_name(self.method, calibrated=self.calibration is not None)

    def from_face(self, face: FaceRecord, reference: FaceRecord | None = None) -> np.ndarray:
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
        rows = table if frame is None or "frame" not in table else table[table["frame"] == frame]
        if rows.empty:
            raise MiexInputError(f"no successful OpenFace row for frame {frame}", file=csv, field="frame")
        return rows[list(AU_NAMES)].iloc[0].to_numpy(dtype=np.float32)
