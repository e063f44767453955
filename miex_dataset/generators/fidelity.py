"""AU fidelity of a generator: ask for single AUs and emotion prototypes, re-measure, compare (and check identity).

Measurement uses the MediaPipe blendshape proxy of FACTS.md §7 (mean of left/right, x 5). It is uncalibrated, so
what matters is the *change* from the input face and its correlation with the requested intensity, not the level.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..aus.schema import AU_INDEX, AU_NAMES, NUM_AUS, au_vector
from ..errors import MiexInputError
from .base import FaceGenerator
from .grid import image_grid, to_uint8

BLENDSHAPES: dict[str, tuple[str, ...]] = {
    "AU01": ("browInnerUp",), "AU02": ("browOuterUpLeft", "browOuterUpRight"),
    "AU04": ("browDownLeft", "browDownRight"), "AU05": ("eyeWideLeft", "eyeWideRight"),
    "AU06": ("cheekSquintLeft", "cheekSquintRight"), "AU07": ("eyeSquintLeft", "eyeSquintRight"),
    "AU09": ("noseSneerLeft", "noseSneerRight"), "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "AU12": ("mouthSmileLeft", "mouthSmileRight"), "AU14": ("mouthDimpleLeft", "mouthDimpleRight"),
    "AU15": ("mouthFrownLeft", "mouthFrownRight"), "AU17": ("mouthShrugLower",),
    "AU20": ("mouthStretchLeft", "mouthStretchRight"), "AU23": ("mouthPressLeft", "mouthPressRight"),
    "AU25": ("mouthLowerDownLeft", "mouthLowerDownRight"), "AU26": ("jawOpen",),
    "AU45": ("eyeBlinkLeft", "eyeBlinkRight"),
}  # fmt: skip
"""Blendshape -> AU proxy (FACTS.md §7). miex_dataset.faces did not exist when this was written: kept local."""

EMOTIONS: dict[str, tuple[str, ...]] = {
    "happiness": ("AU06", "AU12"),
    "surprise": ("AU01", "AU02", "AU05", "AU26"),
    "sadness": ("AU01", "AU04", "AU15"),
    "disgust": ("AU09", "AU10", "AU17"),
    "anger": ("AU04", "AU05", "AU07", "AU23"),
    "fear": ("AU01", "AU02", "AU04", "AU05", "AU20", "AU25"),
}
"""Prototypical AU combinations (EMFACS-style), animated at a common intensity."""

ASTRONAUT_BOX = (40, 140, 170)
"""(top, left, side) of the face in ``skimage.data.astronaut()``, from MediaPipe landmarks (x 181-270, y 72-177)."""


def astronaut_face(size: int = 128) -> torch.Tensor:
    """The public-domain test face, cropped around the face and resized: 1 x 3 x size x size in [0, 1]."""
    from skimage import data

    top, left, side = ASTRONAUT_BOX
    crop = Image.fromarray(data.astronaut()[top : top + side, left : left + side]).resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.array(crop)).permute(2, 0, 1)[None].float() / 255


def load_faces(folder: str | PathLike[str], size: int = 128, limit: int | None = None) -> torch.Tensor:
    """Aligned face crops from a folder (sorted by name), resized to ``size``."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".webp"})
    if not files:
        raise MiexInputError("no face images found", file=folder)
    faces = []
    for path in files[:limit]:
        with Image.open(path) as image:
            faces.append(np.array(image.convert("RGB").resize((size, size), Image.BICUBIC)))
    return torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).float() / 255


def measure_aus(frames: torch.Tensor) -> np.ndarray:
    """Proxy AU intensities (0 to 5) of each frame; a row of NaN where no face is found."""
    from .mediapipe_face import measure_face

    result = np.full((frames.shape[0], NUM_AUS), np.nan, dtype=np.float32)
    for row, image in enumerate(to_uint8(frames)):
        measured = measure_face(image)
        if measured is not None:
            for au, names in BLENDSHAPES.items():
                result[row, AU_INDEX[au]] = 5 * np.mean([measured.blendshapes.get(name, 0.0) for name in names])
    return result


def _targets(intensities: Sequence[float]) -> tuple[list[str], np.ndarray]:
    """Row labels and AU vectors: every single AU, then every emotion, at each intensity (row-major)."""
    labels = list(AU_NAMES) + list(EMOTIONS)
    vectors = [au_vector(**{au: v}) for au in AU_NAMES for v in intensities]
    vectors += [au_vector(**dict.fromkeys(aus, v)) for aus in EMOTIONS.values() for v in intensities]
    return labels, np.stack(vectors)


def _fit(requested: np.ndarray, measured: np.ndarray) -> dict[str, float | None]:
    keep = np.isfinite(measured)
    x, y = requested[keep], measured[keep]
    if len(x) < 3 or np.ptp(x) == 0:
        return {"correlation": None, "slope": None, "n": len(x)}
    slope = float(np.polyfit(x, y, 1)[0])
    correlation = float(np.corrcoef(x, y)[0, 1]) if np.ptp(y) > 0 else 0.0
    return {"correlation": correlation, "slope": slope, "n": len(x)}


def _identity(frames: torch.Tensor, face: torch.Tensor) -> tuple[list[float], list[float]]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    reference = to_uint8(face[None])[0]
    psnr, ssim = [], []
    for image in to_uint8(frames):
        if np.array_equal(image, reference):
            continue  # identical frames (zero AUs) would give infinite PSNR
        psnr.append(float(peak_signal_noise_ratio(reference, image, data_range=255)))
        ssim.append(float(structural_similarity(reference, image, channel_axis=-1, data_range=255)))
    return psnr, ssim


def evaluate_generator(
    generator: FaceGenerator,
    faces: torch.Tensor,
    *,
    intensities: Sequence[float] = (0, 1, 2, 3, 4, 5),
    grid_path: str | PathLike[str] | None = None,
) -> dict[str, Any]:
    """Animate each face with every single-AU and emotion target; report per-AU correlation/slope and identity."""
    labels, targets = _targets(intensities)
    steps = len(intensities)
    requested, measured = [], []
    psnr, ssim, first_frames = [], [], None
    for face in faces:
        baseline = measure_aus(face[None])[0]
        if np.isnan(baseline).all():
            raise MiexInputError("the AU extractor finds no face in an input face", field="faces")
        kwargs: dict[str, Any] = {}
        if hasattr(generator, "detect_landmarks"):  # measure landmarks once, not once per target
            points = generator.detect_landmarks(face[None])
            kwargs["landmarks"] = points.expand(len(targets), -1, -1)
        frames = generator(face[None].expand(len(targets), -1, -1, -1), targets, seed=0, **kwargs)
        first_frames = frames if first_frames is None else first_frames
        requested.append(targets)
        measured.append(measure_aus(frames) - baseline)
        face_psnr, face_ssim = _identity(frames, face)
        psnr += face_psnr
        ssim += face_ssim
    requested_all, measured_all = np.concatenate(requested), np.concatenate(measured)
    single = np.arange(len(requested_all)) % len(targets) < NUM_AUS * steps
    fidelity = {au: _fit(requested_all[single, i], measured_all[single, i]) for i, au in enumerate(AU_NAMES)}
    emotions = {}
    for e, (emotion, aus) in enumerate(EMOTIONS.items()):
        rows = (np.arange(len(requested_all)) % len(targets)) // steps == NUM_AUS + e
        columns = [AU_INDEX[au] for au in aus]
        emotions[emotion] = _fit(requested_all[rows][:, columns].ravel(), measured_all[rows][:, columns].ravel())
    if grid_path is not None and first_frames is not None:
        rows = [first_frames[r * steps : (r + 1) * steps] for r in range(len(labels))]
        image_grid(rows, row_labels=labels, column_labels=[f"{v:g}" for v in intensities]).save(grid_path)
    correlations = [v["correlation"] for v in fidelity.values() if v["correlation"] is not None]
    return {
        "generator": generator.name,
        "generator_config": generator.config,
        "extractor": "mediapipe-blendshapes (FACTS.md §7 proxy, mean of left/right x 5)",
        "faces": len(faces),
        "intensities": [float(v) for v in intensities],
        "au_fidelity": fidelity,
        "mean_correlation": float(np.mean(correlations)) if correlations else None,
        "emotions": emotions,
        "identity": {"psnr_db": _mean(psnr), "ssim": _mean(ssim), "frames": len(psnr), "region": "whole frame"},
        "grid": None if grid_path is None else str(grid_path),
    }


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def write_report(report: dict[str, Any], path: str | PathLike[str]) -> Path:
    """JSON with NaN written as null (strict JSON readers reject NaN)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return None if isinstance(value, float) and not math.isfinite(value) else value

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(report), indent=2), encoding="utf-8")
    return path
