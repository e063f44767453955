"""The faces a plan names, checked once before any shard is rendered.

Every face file is decoded up front: an unreadable face, or one the landmarker cannot measure when the generator
needs landmarks, is reported (or, with ``strict``, an error) and its samples leave the plan BEFORE the plan is cut
into shards, so shard contents never depend on which rank met the bad file first. Landmarks come from the face
pool's ``index.parquet`` when present (measured once by ``miex faces``), else from MediaPipe here.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from miex.core.errors import MiexInputError
from miex.core.progress import PROGRESS_DELAY_S
from miex.core.report import ValidationReport
from miex.data.faces.image import read_rgb
from miex.data.faces.pool import INDEX_NAME, check_crop_size, crop_paths, read_index

log = logging.getLogger(__name__)

NUM_LANDMARKS = 478


def face_key(path: str | PathLike[str]) -> str:
    """One spelling per file, so a plan written with a relative --faces path matches an absolute one."""
    return str(Path(path).resolve())


def index_landmarks(faces_dir: str | PathLike[str] | None) -> dict[str, np.ndarray]:
    """Crop file -> (478, 2) landmarks in crop pixels, from a face pool's index (empty without an index)."""
    if faces_dir is None or not (Path(faces_dir) / INDEX_NAME).is_file():
        return {}
    index = read_index(Path(faces_dir) / INDEX_NAME)  # landmarks checked there: finite, inside their crop
    points = {}
    for row, (crop, values) in enumerate(zip(crop_paths(index, faces_dir), index["landmarks"], strict=True)):
        check_crop_size(
            crop, index["width"].iat[row], index["height"].iat[row], index=Path(faces_dir) / INDEX_NAME, row=row
        )
        array = np.asarray(values, np.float32)
        if array.size != NUM_LANDMARKS * 2:
            raise MiexInputError(
                f"expected {NUM_LANDMARKS * 2} landmark values, got {array.size}",
                file=Path(faces_dir) / INDEX_NAME,
                row=row,
                field="landmarks",
            )
        points[face_key(crop)] = array.reshape(NUM_LANDMARKS, 2)
    return points


def load_face(path: str, size: int) -> tuple[np.ndarray, float]:
    """A face as ``size`` x ``size`` RGB uint8 (bicubic when resized) and the scale applied to its pixels."""
    rgb = read_rgb(path)
    height, width = rgb.shape[:2]
    if height != width:
        raise MiexInputError(f"face crops must be square (aligned by `miex faces`), got {width}x{height}", file=path)
    if width == size:
        return rgb, 1.0
    return np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC)), size / width


FACE_CACHE = 1024
"""Decoded faces kept in memory (about 50 MB at 128²): a plan visits each identity's samples consecutively."""


def face_digest(rgb: np.ndarray, points: np.ndarray | None) -> str:
    """sha256 of what the generator is given for one face: the decoded pixels at the render size and its landmarks.

    Part of the run fingerprint, so a re-cropped, edited or re-landmarked face makes a resume redo the work."""
    digest = hashlib.sha256(f"{rgb.shape}|{rgb.dtype}".encode())
    digest.update(np.ascontiguousarray(rgb).tobytes())
    if points is not None:
        digest.update(np.ascontiguousarray(points, np.float32).tobytes())
    return digest.hexdigest()


@dataclass
class FaceBank:
    """The usable faces of a plan: file -> landmarks (None when the generator does not need them) and a content
    digest per face (:func:`face_digest`)."""

    size: int
    landmarks: dict[str, np.ndarray | None] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._decoded = lru_cache(maxsize=FACE_CACHE)(lambda path: load_face(path, self.size)[0])

    def batch(self, paths: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """N x size x size x 3 uint8 faces and, when known, N x 478 x 2 landmarks at that size."""
        images = np.stack([self._decoded(path) for path in paths])
        points = [self.landmarks[face_key(path)] for path in paths]
        if any(p is None for p in points):
            return images, None
        return images, np.stack(points)  # type: ignore[arg-type]

    def content_digest(self) -> str:
        """One digest over the pixels and landmarks of every usable face, in a fixed order."""
        digest = hashlib.sha256()
        for key in sorted(self.digests):
            digest.update(self.digests[key].encode())
        return digest.hexdigest()


def check_faces(
    plan: pd.DataFrame,
    *,
    size: int,
    needs_landmarks: bool,
    faces_dir: str | PathLike[str] | None = None,
    report: ValidationReport,
    progress: bool = True,
) -> tuple[pd.DataFrame, FaceBank]:
    """Decode every face of ``plan`` once; drop (and report) the samples of faces that cannot be used.

    ``progress`` shows a bar on stderr when the check takes more than a moment (MediaPipe landmarking is the slow
    part when the pool has no index)."""
    from tqdm.auto import tqdm

    known = index_landmarks(faces_dir) if needs_landmarks else {}
    bank = FaceBank(size)
    bad: set[str] = set()
    unique = sorted(set(plan["face"]))
    for path in tqdm(
        unique, desc="check faces", unit="face", delay=PROGRESS_DELAY_S, disable=not progress, dynamic_ncols=True
    ):
        key = face_key(path)
        try:
            rgb, scale = load_face(path, size)
        except MiexInputError as error:
            report.add(f"face skipped: {error.reason}", file=path, field="face")
            bad.add(path)
            continue
        points = None
        if needs_landmarks:
            points = known[key] * scale if key in known else _measure(rgb)
            if points is None:
                report.add("face skipped: the landmarker found no face in it", file=path, field="face")
                bad.add(path)
                continue
        bank.landmarks[key] = points
        bank.digests[key] = face_digest(rgb, points)
    kept = plan[~plan["face"].isin(bad)].reset_index(drop=True)
    if bad:
        log.warning("%d face(s) unusable: %d of %d samples dropped", len(bad), len(plan) - len(kept), len(plan))
    if kept.empty:
        raise MiexInputError("no usable face in the plan: every face file was skipped\n" + report.render())
    return kept, bank


def _measure(rgb: np.ndarray) -> np.ndarray | None:
    from miex.data.generators.mediapipe_face import measure_face

    measured = measure_face(rgb)
    return None if measured is None else measured.landmarks.astype(np.float32)
