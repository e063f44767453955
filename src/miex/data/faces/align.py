"""Align faces to a square crop by a similarity transform of stable landmarks onto a fixed template.

For a clip the transform is computed once, on the ONSET frame, and the same transform is applied to every frame: a
per-frame alignment would absorb (and so erase) the very facial motion a micro-expression consists of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from miex.core.pixels import round_to_uint8
from miex.data.faces.image import as_rgb

DEFAULT_SIZE = 128
"""GANimation's crop size (docs/reference.md §Action units)."""

# MediaPipe face-mesh indices of the stable points: eye corners (averaged to eye centres), nose tip, mouth corners.
IMAGE_LEFT_EYE = (33, 133)
IMAGE_RIGHT_EYE = (362, 263)
NOSE_TIP = 1
MOUTH_CORNERS = (61, 291)

SOFT_BORDER_BLUR = 0.1
"""Blur (sigma, fraction of the crop side) of the mirrored image far outside a photo's edge (``border="soft"``)."""
SOFT_BORDER_RAMP = 0.05
"""Distance outside the edge (fraction of the crop side) over which the mirror turns into its blurred copy."""

TEMPLATE = np.array([[0.33, 0.40], [0.67, 0.40], [0.50, 0.63], [0.33, 0.70], [0.67, 0.70]], dtype=np.float64)
"""Template positions (fraction of the crop side) of: image-left eye centre, image-right eye centre, nose tip,
image-left and image-right mouth corners. Symmetric, so a mirrored face aligns to the mirrored crop."""


def stable_points(landmarks: np.ndarray) -> np.ndarray:
    """The five stable points (5 x 2) in :data:`TEMPLATE` order from 478 MediaPipe landmarks."""
    marks = np.asarray(landmarks, dtype=np.float64)
    return np.stack(
        [
            marks[list(IMAGE_LEFT_EYE)].mean(axis=0),
            marks[list(IMAGE_RIGHT_EYE)].mean(axis=0),
            marks[NOSE_TIP],
            marks[MOUTH_CORNERS[0]],
            marks[MOUTH_CORNERS[1]],
        ]
    )


def umeyama(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The least-squares similarity (rotation, uniform scale, translation; no reflection) mapping ``source`` onto
    ``target`` (N x D each; Umeyama 1991): ``(linear, source_mean, target_mean, source_variance)``, where a point p
    maps to ``linear @ (p - source_mean) + target_mean``. Closed form, so identical inputs give identical bytes; a
    variance near 0 (all points at one place) is for the caller to refuse or floor."""
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    variance = float((src_c**2).sum() / len(src))
    u, singular, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    sign = np.ones(src.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = (singular * sign).sum() / max(variance, 1e-12)
    return scale * rotation, src_mean, dst_mean, variance


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """:func:`umeyama` of 2-D points as a 2 x 3 matrix (OpenCV's ``warpAffine`` form); degenerate landmarks are
    refused."""
    linear, src_mean, dst_mean, variance = umeyama(source, target)
    if variance <= 1e-12:
        raise ValueError("landmarks are degenerate (all at one point)")
    matrix = np.empty((2, 3))
    matrix[:, :2] = linear
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


@dataclass(frozen=True)
class Alignment:
    """A 2 x 3 similarity ``matrix`` from source-image pixels to ``size`` x ``size`` crop pixels."""

    matrix: np.ndarray
    size: int = DEFAULT_SIZE

    def apply(self, image: np.ndarray, border: str = "replicate") -> np.ndarray:
        """Warp ``image`` (any of grayscale, RGB, RGBA) into the RGB crop.

        ``border`` fills crop pixels that lie outside the image: ``replicate`` repeats the edge pixels (clip frames:
        a still border has no flow), ``soft`` mirrors the image there and blurs the mirror more the further it is
        from the edge (face photos: a tight crop then has no edge pixels smeared outward in streaks)."""
        import cv2

        rgb, shape = as_rgb(image), (self.size, self.size)
        if border == "replicate":
            return cv2.warpAffine(rgb, self.matrix, shape, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if border != "soft":
            raise ValueError(f"border must be 'replicate' or 'soft', got {border!r}")
        mirrored = cv2.warpAffine(rgb, self.matrix, shape, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        inside = cv2.warpAffine(
            np.ones(rgb.shape[:2], np.uint8),
            self.matrix,
            shape,
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        if inside.all():
            return mirrored
        distance = cv2.distanceTransform((1 - inside).astype(np.uint8), cv2.DIST_L2, 3)  # px from the image
        blurred = cv2.GaussianBlur(mirrored, (0, 0), SOFT_BORDER_BLUR * self.size)
        weight = np.clip(distance / (SOFT_BORDER_RAMP * self.size), 0.0, 1.0)[..., None]
        return round_to_uint8(mirrored * (1.0 - weight) + blurred * weight)

    def points(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 2) source pixel coordinates into crop coordinates (float32)."""
        pts = np.asarray(points, dtype=np.float64)
        return (pts @ self.matrix[:, :2].T + self.matrix[:, 2]).astype(np.float32)


def alignment_for(landmarks: np.ndarray, size: int = DEFAULT_SIZE, template: np.ndarray = TEMPLATE) -> Alignment:
    """The similarity that puts ``landmarks``' stable points onto ``template`` scaled to ``size``."""
    if size < 8:
        raise ValueError(f"crop size {size} is too small")
    return Alignment(similarity_transform(stable_points(landmarks), np.asarray(template) * size), size)


def align_face(
    image: np.ndarray, landmarks: np.ndarray, size: int = DEFAULT_SIZE, border: str = "replicate"
) -> tuple[np.ndarray, np.ndarray, Alignment]:
    """Aligned crop, the 478 landmarks in crop coordinates, and the transform used (``border``: see
    :meth:`Alignment.apply`)."""
    alignment = alignment_for(landmarks, size)
    return alignment.apply(image, border), alignment.points(landmarks), alignment


def align_clip(
    frames: Sequence[np.ndarray], onset_landmarks: np.ndarray, size: int = DEFAULT_SIZE
) -> tuple[list[np.ndarray], Alignment]:
    """Align every frame of a clip with the transform of its onset landmarks (all frames must share one size)."""
    shapes = {np.asarray(frame).shape[:2] for frame in frames}
    if len(shapes) > 1:
        raise ValueError(f"frames of one clip differ in size: {sorted(shapes)}")
    alignment = alignment_for(onset_landmarks, size)
    return [alignment.apply(frame) for frame in frames], alignment
