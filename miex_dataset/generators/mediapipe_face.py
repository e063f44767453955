"""Landmarks and blendshapes of the single face in an image, for the generators and their evaluation.

A thin process-wide wrapper over :class:`miex_dataset.faces.landmarker.FaceAnalyzer`, so the landmarks measured
during synthesis or evaluation are computed exactly like the face pool's (same upscaling of small crops, same
bundle). The analyzer is closed before interpreter shutdown, so MediaPipe prints nothing at exit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..faces.landmarker import FaceAnalyzer

_LOCK = threading.Lock()
_ANALYZER: FaceAnalyzer | None = None


@dataclass(frozen=True)
class FaceMeasurement:
    landmarks: np.ndarray  # (478, 2) pixel coordinates x, y in the image given
    blendshapes: dict[str, float]
    landmarks_3d: np.ndarray  # (478, 3) with MediaPipe's relative depth in pixels


def shared_analyzer() -> FaceAnalyzer:
    """One analyzer per process, closed by a threading-exit hook (those run before MediaPipe's own shutdown)."""
    global _ANALYZER
    with _LOCK:
        if _ANALYZER is None:
            _ANALYZER = FaceAnalyzer(max_faces=1)
            threading._register_atexit(close_shared_analyzer)  # type: ignore[attr-defined]
        return _ANALYZER


def close_shared_analyzer() -> None:
    global _ANALYZER
    with _LOCK:
        if _ANALYZER is not None:
            _ANALYZER.close()
            _ANALYZER = None


def measure_face(image: np.ndarray) -> FaceMeasurement | None:
    """Landmarks and blendshapes of the largest face in ``image`` (H x W x 3 uint8 RGB), or None."""
    analyzer = shared_analyzer()
    with _LOCK:
        faces = analyzer.analyze(image)
    if not faces:
        return None
    return FaceMeasurement(faces[0].landmarks.astype(np.float32), faces[0].blendshapes, faces[0].landmarks_3d)
