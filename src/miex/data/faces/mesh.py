"""MediaPipe face-mesh anatomy in one place: which of the 478 landmarks form lids, lips, brows, and the face frame.

Every consumer that reasons about facial geometry (the AU extractor, the warp generator, its fidelity evaluation)
uses these indices and :func:`face_frame`, so "up", "outwards" and "one inter-ocular distance" mean the same thing
everywhere. Indices follow MediaPipe's canonical face mesh; "image-left" is the subject's right side on a frontal,
unmirrored photograph. Reference: docs/reference.md §Face mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_LANDMARKS = 478

# Eye corners (outer, inner) per side; the eye centre is their midpoint (stable under gaze and blinks, unlike irises).
IMAGE_LEFT_EYE_CORNERS = (33, 133)
IMAGE_RIGHT_EYE_CORNERS = (263, 362)

# Lid contours from the outer to the inner corner (corners included).
UPPER_LID = {
    "left": (33, 246, 161, 160, 159, 158, 157, 173, 133),
    "right": (263, 466, 388, 387, 386, 385, 384, 398, 362),
}
LOWER_LID = {
    "left": (33, 7, 163, 144, 145, 153, 154, 155, 133),
    "right": (263, 249, 390, 373, 374, 380, 381, 382, 362),
}

# Inner lip contours from the image-left to the image-right corner.
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
UPPER_OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_OUTER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
MOUTH_CORNERS = (61, 291)

# MediaPipe's Procrustes landmarks (geometry_pipeline_metadata of the landmarker bundle): points that barely move with
# expression, used to normalise head pose before measuring motion.
RIGID_POINTS = (
    4,
    6,
    10,
    33,
    54,
    67,
    117,
    119,
    121,
    127,
    129,
    132,
    133,
    136,
    143,
    147,
    198,
    205,
    263,
    284,
    297,
    346,
    348,
    350,
    356,
    358,
    361,
    362,
    365,
    372,
    376,
    420,
    425,
)


@dataclass(frozen=True)
class FaceFrame:
    """Eye-line coordinates of one face: origin between the eye centres, x along the eye line towards the image
    right, y perpendicular to it and down, unit = the inter-ocular distance (IOD, eye centre to eye centre)."""

    origin: np.ndarray  # (2,) pixels
    across: np.ndarray  # (2,) unit vector, image-left eye -> image-right eye
    down: np.ndarray  # (2,) unit vector
    interocular: float  # pixels

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """Pixel points (..., 2) -> face-frame coordinates in IOD units."""
        centred = np.asarray(points, dtype=np.float64) - self.origin
        return np.stack([centred @ self.across, centred @ self.down], axis=-1) / self.interocular

    def to_pixels(self, local: np.ndarray) -> np.ndarray:
        """Face-frame coordinates (..., 2) in IOD units -> pixels."""
        local = np.asarray(local, dtype=np.float64) * self.interocular
        return self.origin + local[..., :1] * self.across + local[..., 1:] * self.down


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    marks = np.asarray(landmarks, dtype=np.float64)
    return marks[list(IMAGE_LEFT_EYE_CORNERS), :2].mean(0), marks[list(IMAGE_RIGHT_EYE_CORNERS), :2].mean(0)


def face_frame(landmarks: np.ndarray) -> FaceFrame:
    """The :class:`FaceFrame` of 478 (x, y[, z]) landmarks."""
    left, right = eye_centres(landmarks)
    axis = right - left
    interocular = float(np.linalg.norm(axis))
    if interocular < 1e-6:
        raise ValueError("degenerate landmarks: both eye centres at one point")
    across = axis / interocular
    return FaceFrame((left + right) / 2, across, np.array([-across[1], across[0]]), interocular)
