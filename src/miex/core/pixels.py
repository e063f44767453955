"""Pixel conversions every stage shares: float pixel values to uint8, and colour to grey.

One rounding rule turns every float image miex writes into uint8 (renders, recorded frames, magnified apexes, flow
images, motion figures), so equal values give equal bytes wherever they are written. Grey has two forms, both with
the BT.601 luma weights: :func:`grey_uint8` is OpenCV's integer conversion, the grey optical flow reads;
:func:`luma` keeps the fractions, for measurements and figures that must see changes under one grey level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, overload

import numpy as np

if TYPE_CHECKING:
    import torch

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""BT.601 weights of red, green and blue in grey (the weights OpenCV's ``COLOR_RGB2GRAY`` rounds to 14 bits)."""


@overload
def round_to_uint8(values: np.ndarray) -> np.ndarray: ...
@overload
def round_to_uint8(values: torch.Tensor) -> torch.Tensor: ...
def round_to_uint8(values: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Float pixel values on the 0..255 scale -> uint8: rounded half to even, then clipped to 0..255 (values outside
    saturate instead of wrapping around). A tensor is converted where it lies, so a GPU render crosses to the CPU as
    uint8, a quarter of the bytes of float32."""
    if isinstance(values, np.ndarray):
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return values.round().clamp(0, 255).byte()


def grey_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 RGB or RGBA (alpha dropped) H x W x C -> uint8 H x W grey by OpenCV's integer BT.601 conversion; a grey
    H x W frame is returned as it is. The grey ``miex flow`` computes flow on, as do the recognizers' pair inputs."""
    import cv2

    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames, got {array.dtype}")
    if array.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(array[:, :, :3]), cv2.COLOR_RGB2GRAY)
    return array


def luma(image: np.ndarray) -> np.ndarray:
    """An image (H x W, H x W x 1, RGB or RGBA; any dtype) -> float32 H x W grey with the BT.601 weights, not
    rounded: patch tracking and the motion figure see changes smaller than one grey level."""
    array = np.asarray(image).astype(np.float32)
    if array.ndim == 2:
        return np.ascontiguousarray(array)
    if array.shape[2] == 1:
        return np.ascontiguousarray(array[..., 0])
    return np.ascontiguousarray(array[..., :3] @ np.array(LUMA_WEIGHTS, dtype=np.float32))
