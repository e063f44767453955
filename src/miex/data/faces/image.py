"""Reading images for the face pipeline: any readable file -> H x W x 3 uint8 RGB, or a clear per-item error."""

from __future__ import annotations

import hashlib
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from miex.core.errors import MiexInputError
from miex.core.fileio import IMAGE_SUFFIXES
from miex.core.pixels import round_to_uint8

FACE_IMAGE_SUFFIXES: frozenset[str] = IMAGE_SUFFIXES | {".tif", ".tiff"}
"""File suffixes the face pipeline reads (case-insensitive); other files are counted and reported, never decoded."""
MIN_SIDE = 32
"""Smaller images cannot hold a face the landmarker can measure; they are reported, not analysed."""


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Grayscale (H x W or H x W x 1), RGB, or RGBA (alpha dropped) -> contiguous uint8 H x W x 3."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {array.dtype}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an H x W, H x W x 3 or H x W x 4 image, got shape {array.shape}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3])


def _to_8bit(image: Any) -> np.ndarray:
    """A PIL image of any common mode as uint8 (H x W, or H x W x 3/4). 16- and 32-bit integer grayscale is scaled
    (65535 -> 255) instead of clipped: clipping turns an ordinary 16-bit scan near-white and its face unfindable."""
    if image.mode.startswith("I;16") or image.mode == "I":
        values = np.asarray(image).astype(np.float64)
        full_scale = 255.0 if values.max(initial=0) <= 255 else 65535.0
        return round_to_uint8(values * (255.0 / full_scale))
    if image.mode == "L":
        return np.asarray(image)
    return np.asarray(image.convert("RGBA" if "A" in image.getbands() else "RGB"))


def read_rgb(path: str | PathLike[str], *, min_side: int = MIN_SIDE) -> np.ndarray:
    """Decode ``path`` fully (a truncated file is an error, not a half-grey picture) as upright RGB uint8: the EXIF
    orientation a camera records is applied, as every photo viewer does, so a rotated shot is not cropped sideways."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.load()
            array = _to_8bit(ImageOps.exif_transpose(opened))
    except FileNotFoundError as error:
        raise MiexInputError("image file not found", file=path) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise MiexInputError(f"unreadable or truncated image ({error})", file=path) from error
    rgb = as_rgb(array)
    if min(rgb.shape[:2]) < min_side:
        raise MiexInputError(f"image is {rgb.shape[1]}x{rgb.shape[0]}, smaller than {min_side} px", file=path)
    return rgb


def pixel_digest(rgb: np.ndarray) -> str:
    """Digest of the decoded pixels: equal for the same picture saved twice (exact-duplicate detection)."""
    digest = hashlib.sha256(f"{rgb.shape}".encode())
    digest.update(np.ascontiguousarray(rgb).tobytes())
    return digest.hexdigest()
