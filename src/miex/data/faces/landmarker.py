"""MediaPipe face landmarker (IMAGE mode) -> per face: 478 landmarks, 52 blendshapes, head pose and a score.

The landmarker's detector is short-range (docs/reference.md §Face pipeline): a small face in a large photo is missed.
When the whole image yields no face, :class:`FaceAnalyzer` scans overlapping crops at two scales and maps the landmarks
back, so no Haar or other extra model is needed offline. The mediapipe object is not picklable: create one analyzer per
process.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from os import PathLike
from typing import Any

import numpy as np

from miex.core.fileio import first_line
from miex.data.faces.align import stable_points
from miex.data.faces.bundle import ENV_VAR, not_a_bundle, resolve_bundle
from miex.data.faces.image import as_rgb
from miex.data.faces.mesh import MOUTH_CORNERS, face_frame

TILE_SCALES: tuple[float, ...] = (0.5, 0.3)
"""Crop sizes (fraction of the longer side) scanned when the full image has no face; 50 % overlap."""
TILE_MIN_SIDE = 480
"""Images smaller than this are not tiled: their faces are already within the detector's range."""
UPSCALE_BELOW = 192
"""Smaller images (e.g. 128 px aligned crops) are upscaled to :data:`UPSCALE_TO` first: a face filling a tiny image
is at the edge of what the detector finds."""
UPSCALE_TO = 256

MIN_INTEROCULAR_PX = 12.0
"""Faces whose eye centres are closer than this (pixels, in the source image) are too small to crop usefully."""
MIN_IN_FRAME = 0.75
"""A face with more than a quarter of its landmarks outside the image is only part of a face."""
NOSE_BELOW_EYES = (0.25, 1.5)
"""Plausible distance of the nose tip below the eye line, in inter-ocular distances (IOD); ~0.7 on a frontal face."""
MOUTH_BELOW_NOSE = 0.05
"""The mouth centre lies at least this far (IOD) below the nose tip."""
INTEROCULAR_TO_WIDTH = (0.2, 0.8)
"""Plausible IOD / face-width ratio (~0.46 frontal, smaller when turned); outside it the mesh is not a face shape."""
CROP_AGREEMENT = 0.25
"""Largest tolerated distance (in template IODs) between where a crop's landmarks say the eyes, nose and mouth are
and where the landmarker finds them again in the aligned crop."""


@dataclass(frozen=True)
class FaceRecord:
    """One detected face, in the pixel coordinates of the image given to :meth:`FaceAnalyzer.analyze`."""

    landmarks: np.ndarray  # (478, 2) float32, x then y, MediaPipe order
    blendshapes: dict[str, float] = field(repr=False)
    yaw: float  # degrees, rotation about the vertical axis (positive: face turned towards image left)
    pitch: float  # degrees, rotation about the horizontal axis
    roll: float  # degrees, in-plane rotation
    score: float  # fraction of the 478 landmarks inside the image: 1.0 for a fully visible face
    depth: np.ndarray | None = field(default=None, repr=False)  # (478,) float32, pixels, larger = further away

    @property
    def landmarks_3d(self) -> np.ndarray:
        """(478, 3) x, y, z in pixels (z from MediaPipe's relative depth, same scale as x); z = 0 when unknown."""
        depth = np.zeros(len(self.landmarks), np.float32) if self.depth is None else self.depth
        return np.column_stack([self.landmarks, depth])

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Landmark bounding box ``(x0, y0, x1, y1)``."""
        x0, y0 = self.landmarks.min(axis=0)
        x1, y1 = self.landmarks.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)


def head_pose(matrix: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll in degrees from MediaPipe's 4x4 facial transformation matrix (canonical face -> camera).

    Decomposes the rotation as R = Rz(roll) · Ry(yaw) · Rx(pitch); MediaPipe's canonical face has x to the subject's
    left in the image (image right), y up and z towards the camera, so a mirrored image negates yaw and roll.
    """
    rotation = np.asarray(matrix, dtype=np.float64)[:3, :3]
    scale = np.linalg.norm(rotation[:, 0])
    rotation = rotation / (scale if scale > 0 else 1.0)
    yaw = math.degrees(math.asin(float(np.clip(-rotation[2, 0], -1.0, 1.0))))
    pitch = math.degrees(math.atan2(rotation[2, 1], rotation[2, 2]))
    roll = math.degrees(math.atan2(rotation[1, 0], rotation[0, 0]))
    return yaw, pitch, roll


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment: MediaPipe's native code logs start-up notices there, which
    Python's ``sys.stderr`` cannot filter. ``MIEX_MEDIAPIPE_LOGS=1`` keeps them (for debugging the landmarker)."""
    if os.environ.get("MIEX_MEDIAPIPE_LOGS") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (e.g. a captured stream): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _in_frame_score(points: np.ndarray, width: int, height: int) -> float:
    inside = (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
    return float(inside.mean())


class FaceAnalyzer:
    """Find faces in an RGB image: ``FaceAnalyzer().analyze(rgb) -> list[FaceRecord]`` (largest face first)."""

    def __init__(
        self,
        model_path: str | PathLike[str] | None = None,
        *,
        max_faces: int = 4,
        min_confidence: float = 0.5,
        allow_download: bool = False,
        tile: bool = True,
    ) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        self.model_path = resolve_bundle(model_path, allow_download=allow_download)
        self.max_faces = max_faces
        self.tile = tile
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=max_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        try:
            with quiet_native_stderr():  # MediaPipe's C++ start-up notices (XNNPACK, feedback tensors) are not ours
                self._landmarker: Any = vision.FaceLandmarker.create_from_options(options)
        except (RuntimeError, OSError, ValueError) as error:  # a zip of models MediaPipe cannot load
            raise not_a_bundle(
                self.model_path, "--landmarker (model_path) or $" + ENV_VAR, first_line(error)
            ) from error
        self._warmed = False
        self._closed = False
        _ANALYZERS.add(self)

    def close(self) -> None:
        """Release the landmarker now: left to garbage collection at interpreter exit, mediapipe's own shutdown has
        already begun and prints "Exception ignored ... TypeError". Safe to call twice, and a no-op in a forked
        child (see :func:`_disown_after_fork`)."""
        if not self._closed:
            self._closed = True
            self._landmarker.close()

    def __enter__(self) -> FaceAnalyzer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def analyze(self, image: np.ndarray) -> list[FaceRecord]:
        """Faces in ``image`` (H x W x 3 uint8 RGB; grayscale and RGBA are converted), largest first."""
        if self._closed:
            raise RuntimeError("this FaceAnalyzer is closed (or was inherited through a fork): create one per process")
        rgb = as_rgb(image)
        height, width = rgb.shape[:2]
        if max(height, width) < UPSCALE_BELOW:
            return self._detect_upscaled(rgb)
        faces = self._detect(rgb, offset=(0, 0), full=(width, height))
        if not faces and self.tile and max(height, width) >= TILE_MIN_SIDE:
            faces = self._detect_tiled(rgb)
        return sorted(faces, key=_area, reverse=True)

    def _detect(self, rgb: np.ndarray, *, offset: tuple[int, int], full: tuple[int, int]) -> list[FaceRecord]:
        import mediapipe as mp

        height, width = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        if self._warmed:
            result = self._landmarker.detect(image)
        else:  # the first inference prints more of the same notices
            with quiet_native_stderr():
                result = self._landmarker.detect(image)
            self._warmed = True
        faces = []
        for index, marks in enumerate(result.face_landmarks):
            points = np.array([[p.x * width + offset[0], p.y * height + offset[1]] for p in marks], dtype=np.float32)
            depth = np.array([p.z * width for p in marks], dtype=np.float32)
            shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[index]}
            pose = head_pose(np.array(result.facial_transformation_matrixes[index]))
            faces.append(FaceRecord(points, shapes, *pose, score=_in_frame_score(points, *full), depth=depth))
        return faces

    def _detect_upscaled(self, rgb: np.ndarray) -> list[FaceRecord]:
        import cv2

        height, width = rgb.shape[:2]
        factor = UPSCALE_TO / max(height, width)
        size = (round(width * factor), round(height * factor))
        big = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
        faces = self._detect(big, offset=(0, 0), full=size)
        scale = np.array([width / size[0], height / size[1]], dtype=np.float32)
        return [
            replace(face, landmarks=face.landmarks * scale, depth=None if face.depth is None else face.depth * scale[0])
            for face in faces
        ]

    def _detect_tiled(self, rgb: np.ndarray) -> list[FaceRecord]:
        """Scan overlapping square crops; keep one record per face (the first crop that found it wins)."""
        height, width = rgb.shape[:2]
        found: list[FaceRecord] = []
        for fraction in TILE_SCALES:
            side = max(64, int(max(height, width) * fraction))
            for y0 in _starts(height, side):
                for x0 in _starts(width, side):
                    crop = rgb[y0 : y0 + side, x0 : x0 + side]
                    for face in self._detect(crop, offset=(x0, y0), full=(width, height)):
                        if not any(_overlaps(face, other) for other in found):
                            found.append(face)
            if found:
                break
        return found[: self.max_faces]


_ANALYZERS: weakref.WeakSet[FaceAnalyzer] = weakref.WeakSet()
"""Every live analyzer of this process, so a forked child can disown its copies."""


def _inherited_close() -> None:
    """Stands in for a forked copy's MediaPipe ``close`` (which its ``__del__`` also calls)."""


def _disown_after_fork() -> None:
    """In a forked child (e.g. a DataLoader worker) every analyzer is a copy whose MediaPipe graph threads stayed in
    the parent: closing it -- by hand, from an exit hook, or when it is garbage-collected -- waits forever on a lock
    those threads held, so the child never exits. Mark the copies closed and disarm their landmarker's ``close``."""
    for analyzer in list(_ANALYZERS):
        analyzer._closed = True
        analyzer._landmarker.close = _inherited_close


os.register_at_fork(after_in_child=_disown_after_fork)


def _starts(length: int, side: int) -> list[int]:
    if length <= side:
        return [0]
    step = max(1, side // 2)
    starts = list(range(0, length - side, step))
    return [*starts, length - side]


def _area(face: FaceRecord) -> float:
    x0, y0, x1, y1 = face.box
    return (x1 - x0) * (y1 - y0)


def _overlaps(a: FaceRecord, b: FaceRecord) -> bool:
    """Same face seen in two crops: its landmark centre lies inside the other's box."""
    cx, cy = a.landmarks.mean(axis=0)
    x0, y0, x1, y1 = b.box
    return bool(x0 <= cx <= x1 and y0 <= cy <= y1)


def mesh_problem(face: FaceRecord, width: int, height: int) -> str | None:
    """Why ``face`` (detected in a ``width`` x ``height`` image) is not a usable face, or None.

    The landmarker always returns a face-shaped mesh, but it can sit on the wrong pixels or be too small or cut off;
    these checks use the mesh alone (size, in-frame fraction, eyes above nose above mouth, face proportions)."""
    try:
        frame = face_frame(face.landmarks)
    except ValueError:
        return "degenerate landmarks (both eyes at one point)"
    if frame.interocular < MIN_INTEROCULAR_PX:
        return f"too small (eyes {frame.interocular:.0f} px apart, at least {MIN_INTEROCULAR_PX:.0f} needed)"
    in_frame = _in_frame_score(face.landmarks, width, height)
    if in_frame < MIN_IN_FRAME:
        return f"cut off by the image border ({in_frame:.0%} of the landmarks inside)"
    local = frame.to_local(face.landmarks[:, :2])
    nose = float(local[1, 1])
    mouth = float(local[list(MOUTH_CORNERS), 1].mean())
    if nose <= 0 and mouth <= 0:
        return "implausible mesh: left and right eyes swapped (mirrored or upside-down landmarks)"
    if not NOSE_BELOW_EYES[0] <= nose <= NOSE_BELOW_EYES[1]:
        return f"implausible mesh: nose {nose:.2f} eye distances below the eyes"
    if mouth - nose < MOUTH_BELOW_NOSE:
        return "implausible mesh: mouth not below the nose"
    ratio = 1.0 / max(float(np.ptp(local[:, 0])), 1e-6)
    if not INTEROCULAR_TO_WIDTH[0] <= ratio <= INTEROCULAR_TO_WIDTH[1]:
        return f"implausible mesh: eye distance is {ratio:.2f} of the face width"
    return None


def crop_problem(analyzer: FaceAnalyzer, crop: np.ndarray, crop_landmarks: np.ndarray) -> str | None:
    """Why an aligned ``crop`` does not show the face its ``crop_landmarks`` describe, or None.

    A mesh fitted onto an upside-down or non-face region still looks face-shaped; re-detecting in the aligned crop
    catches it: an honest crop is an upright face whose eyes, nose and mouth are where the landmarks say."""
    found = analyzer.analyze(crop)
    if not found:
        return "the aligned crop shows no face (landmarks placed on the wrong pixels, e.g. an upside-down face)"
    expected = stable_points(crop_landmarks)
    template_iod = float(np.linalg.norm(expected[1] - expected[0])) or 1.0
    errors = [np.linalg.norm(stable_points(face.landmarks) - expected, axis=1).max() / template_iod for face in found]
    error = float(min(errors))
    if error > CROP_AGREEMENT:
        return f"landmarks disagree with the face found in the aligned crop (off by {error:.2f} eye distances)"
    return None
