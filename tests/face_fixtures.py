"""Shared helpers for the face-pipeline tests: one landmarker per test session, test images, tiny clip tables."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from miex.data.corpora.clips import Clip, clips_to_frame, write_clip_table
from miex.data.faces import FaceAnalyzer


@lru_cache(maxsize=1)
def shared_analyzer() -> FaceAnalyzer:
    """Building a landmarker costs ~0.3 s; every test module reuses this one.

    Closed by a threading-exit hook: those run (last registered first) before mediapipe's own dispatcher shuts down,
    whereas an ``atexit`` hook or mediapipe's ``__del__`` runs too late and prints a traceback at interpreter exit.
    """
    analyzer = FaceAnalyzer(max_faces=2)
    threading._register_atexit(analyzer.close)  # type: ignore[attr-defined]
    return analyzer


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    from skimage import data

    image = data.astronaut()
    image.setflags(write=False)
    return image


def noise_image(size: int = 256, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def smooth_texture(size: int = 160, seed: int = 0) -> np.ndarray:
    """A smooth random uint8 texture: flow estimators lock onto it without aperture problems."""
    import cv2

    noise = np.random.default_rng(seed).random((size, size)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 3)
    return np.rint((blurred - blurred.min()) / np.ptp(blurred) * 255).astype(np.uint8)


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` translated by (dx, dy) pixels (content moves right/down), edges replicated."""
    import cv2

    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    height, width = image.shape[:2]
    return cv2.warpAffine(np.ascontiguousarray(image), matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)


def save(path: Path, image: np.ndarray, **kwargs: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, **kwargs)
    return path


def build_face_folder(root: Path) -> Path:
    """astronaut, a flipped copy, a byte duplicate, noise, a truncated JPEG, grayscale and RGBA variants."""
    face = astronaut()
    save(root / "astronaut.jpg", face, quality=95)
    save(root / "flipped.png", np.ascontiguousarray(face[:, ::-1]))
    (root / "duplicate.jpg").write_bytes((root / "astronaut.jpg").read_bytes())
    save(root / "noise.png", noise_image())
    data = (root / "astronaut.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    save(root / "gray.png", np.asarray(Image.fromarray(face).convert("L")))
    brighter = np.clip(face.astype(np.int16) + 12, 0, 255).astype(np.uint8)
    rgba = np.dstack([brighter, np.full(face.shape[:2], 200, np.uint8)])
    save(root / "rgba.png", rgba)
    return root


def build_clip_table(root: Path, *, shifts: list[tuple[int, int]], odd_size_frame: int | None = None) -> Path:
    """One clip of astronaut frames translated by ``shifts`` (onset = first, apex = last) as a clip table."""
    frames = []
    for number, (dx, dy) in enumerate(shifts):
        image = shifted(astronaut(), dx, dy)
        if number == odd_size_frame:
            image = image[:-8]
        frames.append(str(save(root / "sub01" / "EP01" / f"img{number + 10}.png", image)))
    clip = Clip(
        dataset="toy",
        subject="sub01",
        clip="EP01",
        frames=frames,
        frame_numbers=[number + 10 for number in range(len(shifts))],
        onset=0,
        apex=len(shifts) - 1,
        offset=len(shifts) - 1,
        emotion="happiness",
        label=1,
        fps=200.0,
    )
    return write_clip_table(clips_to_frame([clip]), root / "clips.parquet")


def save_with_orientation(path: Path, image: np.ndarray, orientation: int) -> Path:
    """A JPEG whose EXIF says how to rotate it for display (3: stored upside down, shown upright)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(path, image, quality=95, exif=exif)


def save_16bit_gray(path: Path, image: np.ndarray) -> Path:
    """``image`` as a 16-bit grayscale file (PNG or TIFF by suffix), full 0..65535 range."""
    gray = np.asarray(Image.fromarray(image).convert("L"), dtype=np.uint16) * 257
    return save(path, gray)


ASTRONAUT_BOX = (40, 140, 170)
"""(top, left, side) of the face in ``skimage.data.astronaut()``, from MediaPipe landmarks (x 181-270, y 72-177)."""


def astronaut_crop(size: int = 128) -> torch.Tensor:
    """The astronaut cut by a fixed box that keeps the whole face in frame, chin included (the built-in face, aligned
    as ``miex faces`` aligns, crops the chin): the warp tests measure motion at every mesh vertex, so they need all of
    them inside the image. 1 x 3 x size x size in [0, 1]."""
    from skimage import data

    top, left, side = ASTRONAUT_BOX
    crop = Image.fromarray(data.astronaut()[top : top + side, left : left + side]).resize((size, size), Image.BICUBIC)
    return torch.from_numpy(np.array(crop)).permute(2, 0, 1)[None].float() / 255
