"""The composite flow image: the one onset -> apex flow representation of miex (docs/reference.md §Flow images).

The MEGC2019 flow releases that the field shares (STSTNet, Liong et al., FG 2019; reused by OFF-ApexNet, HTNet and
others) store each clip as a 28 x 28 RGB PNG: R = horizontal flow u, G = vertical flow v, B = optical strain, from
TV-L1 flow between the aligned onset and apex, every channel min-max scaled on its own to 0..255. miex turns every
pair into exactly that, so a model pre-trained on MiE-X and fine-tuned on a release meets one input space:

1. flow and strain on the aligned crop (:func:`~miex.data.faces.flow.optical_flow`, TV-L1 by default);
2. u, v and strain resized to ``size`` (28) by pixel-area averaging;
3. each channel scaled to 0..255 by its own minimum and maximum, rounded to uint8.

Models read the image as float32 (3, size, size) in channel order u, v, strain with the values 0..255 (the authors'
scripts fed the decoded 0..255 values without rescaling).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path
from miex.core.pixels import round_to_uint8
from miex.data.faces.flow import FlowParams, optical_flow, optical_strain

RELEASE_SIZE = 28
"""Side of the shared composite flow images (STSTNet's input)."""
CHANNELS: tuple[str, ...] = ("u", "v", "strain")
"""Channel order of the image (R, G, B) and of the model tensor."""


def scale_per_channel(channels: np.ndarray) -> np.ndarray:
    """(H, W, C) float -> uint8, each channel min-max scaled to 0..255 on its own. A constant channel (no motion at
    all) has no range to scale and becomes 0, as OpenCV's ``normalize(..., NORM_MINMAX)`` does."""
    values = np.asarray(channels, dtype=np.float64)
    low = values.min(axis=(0, 1), keepdims=True)
    span = values.max(axis=(0, 1), keepdims=True) - low
    scaled = np.where(span > 0, (values - low) / np.where(span > 0, span, 1.0) * 255.0, 0.0)
    return round_to_uint8(scaled)


def resize_area(channels: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) float32 -> (size, size, C) by pixel-area averaging (a block mean when H is a multiple of size)."""
    import cv2

    array = np.ascontiguousarray(channels, dtype=np.float32)
    if array.shape[:2] == (size, size):
        return array
    resized = cv2.resize(array, (size, size), interpolation=cv2.INTER_AREA)
    return resized.reshape(size, size, array.shape[2])


def flow_to_image(flow: np.ndarray, *, size: int = RELEASE_SIZE) -> np.ndarray:
    """Dense flow (H, W, 2) in pixels -> the composite flow image, uint8 (size, size, 3): u, v, strain."""
    strain = optical_strain(flow)
    stacked = np.concatenate([flow[..., :2], strain[..., None]], axis=-1)
    return scale_per_channel(resize_area(stacked, size))


def pair_to_image(
    onset: np.ndarray, apex: np.ndarray, params: FlowParams | None = None, *, size: int = RELEASE_SIZE
) -> np.ndarray:
    """An aligned onset/apex pair (uint8 RGB or grey, same size) -> its composite flow image (size, size, 3)."""
    return flow_to_image(optical_flow(onset, apex, params), size=size)


def write_flow_png(path: str | PathLike[str], image: np.ndarray) -> Path:
    """Write a composite flow image as an RGB PNG (R = u, G = v, B = strain), atomically."""
    from PIL import Image

    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"a flow image is uint8 (H, W, 3), got {array.dtype} {array.shape}")
    path = Path(path)
    with atomic_path(path, suffix=".png") as temporary:
        Image.fromarray(array, mode="RGB").save(temporary, format="PNG")
    return path


def read_flow_png(path: str | PathLike[str], *, size: int | None = RELEASE_SIZE) -> np.ndarray:
    """A composite flow image from disk, uint8 (H, W, 3). Anything else is an error naming the file: unreadable,
    not RGB (grey, palette or alpha), or not ``size`` x ``size`` (``None``: any size)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            mode, (width, height) = opened.mode, opened.size
            array = np.asarray(opened.convert("RGB")) if mode == "RGB" else None
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise MiexInputError(f"unreadable image ({type(error).__name__}: {error})", file=path) from error
    if array is None:
        raise MiexInputError(f"a flow image is RGB (R = u, G = v, B = strain); this one is mode {mode}", file=path)
    if size is not None and (width, height) != (size, size):
        raise MiexInputError(f"a flow image here is {size}x{size}; this one is {width}x{height}", file=path)
    return array


def images_to_tensor(images: np.ndarray):  # -> torch.Tensor (kept lazy: torch is not needed to write images)
    """(N, H, W, 3) uint8 flow images -> float32 tensor (N, 3, H, W) holding the values 0..255, u, v, strain."""
    import torch

    array = np.asarray(images)
    if array.ndim == 3:
        array = array[None]
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2), dtype=np.float32))
