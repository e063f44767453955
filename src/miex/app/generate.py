"""The generate tab's logic: a face (from a pool, or an uploaded photo aligned like `miex faces` does), AU targets from
17 sliders or an emotion prototype, and onset/apex frames from the warp or a GANimation checkpoint.

Nothing here imports a web framework, so it is tested like any other module and reused by notebooks.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from miex.core.errors import MiexInputError
from miex.data.aus.schema import AU_DESCRIPTIONS, AU_MAX, AU_NAMES, NUM_AUS, validate_au_array
from miex.data.faces.align import DEFAULT_SIZE

POOL_CHOICES = 1000
"""Faces of a pool offered in the picker (a pool of 50,000 crops would make an unusable list)."""

INTENSITY_RANGES: dict[str, tuple[float, float]] = {
    "micro": (0.5, 1.5),
    "macro": (1.5, 4.0),
}
"""The expert source's apex intensity ranges (docs/reference.md §AU sources), by preset name; kept equal to
:data:`miex.data.sources.expert.MICRO_INTENSITY` / ``MACRO_INTENSITY`` (a test checks)."""


@dataclass(frozen=True)
class Face:
    """An aligned square face crop (uint8 RGB) and its 478 MediaPipe landmarks in crop pixels (the warp's input)."""

    name: str
    rgb: np.ndarray
    landmarks: np.ndarray


def au_label(name: str) -> str:
    """Slider label: ``AU12 lip corner puller``."""
    return f"{name} {AU_DESCRIPTIONS[name]}"


def emotions() -> list[str]:
    """The emotions of the expert table, in the table's order."""
    from miex.data.sources.expert import load_expert_table

    return list(load_expert_table())


def prototype(emotion: str, preset: str = "micro") -> np.ndarray:
    """The expected apex of the expert source for ``emotion``: each AU's activation probability times the mean of
    the preset's intensity range (docs/reference.md §AU sources). A draw of the source is one of many faces of the
    emotion; the prototype is their average, so it is the same every time."""
    from miex.data.sources.expert import load_expert_table

    table = load_expert_table()
    if emotion not in table:
        raise MiexInputError(f"unknown emotion {emotion!r} (choose from {', '.join(table)})", field="emotion")
    if preset not in INTENSITY_RANGES:
        raise MiexInputError(
            f"unknown intensity preset {preset!r} (choose from {', '.join(INTENSITY_RANGES)})", field="preset"
        )
    low, high = INTENSITY_RANGES[preset]
    vector = np.zeros(NUM_AUS, np.float32)
    for au, probability in table[emotion].items():
        vector[AU_NAMES.index(au)] = probability * (low + high) / 2.0
    return validate_au_array(vector)


# --- faces -------------------------------------------------------------------------------------------------------


def pool_choices(folder: str | PathLike[str]) -> dict[str, str]:
    """Picker label (``identity · crop file``) -> crop path, for the first :data:`POOL_CHOICES` faces of a pool."""
    from miex.data.faces.pool import INDEX_NAME, crop_paths, read_index

    index = read_index(Path(folder) / INDEX_NAME).head(POOL_CHOICES)
    if index.empty:
        raise MiexInputError(
            "the face pool holds no face (make one with `miex faces PHOTOS/ --out DIR`)", file=Path(folder) / INDEX_NAME
        )
    paths = crop_paths(index, folder)
    return {f"{identity} · {Path(path).name}": path for identity, path in zip(index["identity"], paths, strict=True)}


@lru_cache(maxsize=8)
def _pool_landmarks(folder: str) -> dict[str, np.ndarray]:
    from miex.data.synthesis.faces import index_landmarks

    return index_landmarks(folder)


def pool_face(folder: str | PathLike[str], crop: str) -> Face:
    """A pool crop with the landmarks ``miex faces`` measured (no MediaPipe run)."""
    from miex.data.synthesis.faces import face_key, load_face

    points = _pool_landmarks(str(Path(folder).resolve())).get(face_key(crop))
    if points is None:
        raise MiexInputError("this crop has no landmarks in the pool's index.parquet", file=crop)
    rgb, scale = load_face(crop, DEFAULT_SIZE)
    return Face(Path(crop).name, rgb, (points * scale).astype(np.float32))


_ALIGN_LOCK = threading.Lock()


def face_from_photo(image: np.ndarray, name: str = "upload", size: int = DEFAULT_SIZE) -> Face:
    """Find the largest face in a photo and align it as ``miex faces`` does (same checks, same template), or say
    why the photo cannot be used."""
    from miex.data.faces.align import align_face
    from miex.data.faces.image import as_rgb
    from miex.data.faces.landmarker import FaceAnalyzer, crop_problem, mesh_problem

    try:
        rgb = as_rgb(np.asarray(image))
    except ValueError as error:
        raise MiexInputError(f"not a usable image: {error}", field="face") from error
    with _ALIGN_LOCK, FaceAnalyzer(max_faces=1) as analyzer:
        found = analyzer.analyze(rgb)
        if not found:
            raise MiexInputError("no face found in the photo: upload a frontal, well-lit face", field="face")
        height, width = rgb.shape[:2]
        problem = mesh_problem(found[0], width, height)
        if problem is None:
            crop, landmarks, _ = align_face(rgb, found[0].landmarks, size, border="soft")
            problem = crop_problem(analyzer, crop, landmarks)
        if problem:
            raise MiexInputError(f"the face in the photo cannot be used: {problem}", field="face")
    return Face(name, crop, landmarks.astype(np.float32))


# --- frames ------------------------------------------------------------------------------------------------------


class Animator:
    """One face generator, loaded once and shared by every visitor: ``warp`` (training-free) or ``ganimation``
    (a checkpoint). Calls are serialised, because a generator is not re-entrant."""

    def __init__(self, name: str = "warp", checkpoint: str | None = None) -> None:
        from miex.data.generators import load_generator

        self.name = name
        self.generator = load_generator(name, **({"checkpoint": checkpoint} if name == "ganimation" else {}))
        self._lock = threading.Lock()

    def frames(self, face: Face, onset_au: np.ndarray, apex_au: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Onset and apex (uint8 RGB at the face's size) of ``face`` animated to the two AU vectors (0 to 5)."""
        import torch

        from miex.data.generators.grid import to_uint8

        rgb, points = face.rgb, face.landmarks
        size = self.generator.image_size
        if size is not None and rgb.shape[0] != size:
            from PIL import Image

            points = points * (size / rgb.shape[0])
            rgb = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC))
        faces = torch.from_numpy(np.array(rgb, np.uint8)).permute(2, 0, 1).unsqueeze(0).repeat(2, 1, 1, 1)
        aus = np.stack([validate_au_array(onset_au, where="onset AUs"), validate_au_array(apex_au, where="apex AUs")])
        kwargs: dict[str, Any] = {}
        if self.generator.needs_landmarks:
            kwargs["landmarks"] = torch.from_numpy(np.array(points, np.float32)).unsqueeze(0).repeat(2, 1, 1)
        with self._lock, torch.inference_mode():
            output = self.generator(faces, aus, seed=0, **kwargs)
        frames = to_uint8(output)
        return frames[0], frames[1]


def magnified(onset: np.ndarray, apex: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The apex with its change from the onset magnified ``alpha`` times (linear Eulerian magnification) and the
    signed-change figure (red brighter, blue darker) of :mod:`miex.data.magnify`."""
    from miex.data.magnify import Magnification, magnify_pair, motion_image

    return magnify_pair(onset, apex, Magnification(alpha=float(alpha))), motion_image(onset, apex)


def au_vector(values: list[float] | tuple[float, ...]) -> np.ndarray:
    """Slider values (17, in :data:`AU_NAMES` order) -> a validated AU vector, clipped to the 0 to 5 scale."""
    array = np.clip(np.asarray([0.0 if v is None else float(v) for v in values], np.float32), 0.0, AU_MAX)
    return validate_au_array(array, where="AU sliders")
