"""One rule per pixel job (docs/reference.md §Flow images): float images become uint8 by one rounding rule, and the
grey optical flow reads is one conversion, whether ``miex flow`` or a recognizer's pair input computes it."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from miex.core.pixels import grey_uint8, luma, round_to_uint8
from miex.data.generators.grid import to_uint8


def test_uint8_rounds_half_to_even_and_saturates() -> None:
    values = np.array([-3.2, -0.4, 0.5, 1.5, 2.5, 127.49, 254.5, 255.4, 300.0])
    expected = [0, 0, 0, 2, 2, 127, 254, 255, 255]  # never wraps around (300 is not 44)
    assert round_to_uint8(values).tolist() == expected
    assert round_to_uint8(values.astype(np.float32)).tolist() == expected
    assert round_to_uint8(torch.tensor(values, dtype=torch.float32)).tolist() == expected


def test_renders_round_like_every_other_image() -> None:
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 1.2 - 0.1  # some out of [0, 1]
    expected = round_to_uint8(images.permute(0, 2, 3, 1).numpy() * np.float32(255))
    np.testing.assert_array_equal(to_uint8(images), expected)


def test_flow_grey_is_opencv_bt601_and_grey_frames_pass_through() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(grey_uint8(rgb), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    rgba = np.concatenate([rgb, np.zeros((6, 7, 1), np.uint8)], axis=2)  # alpha is dropped, not weighed
    np.testing.assert_array_equal(grey_uint8(rgba), grey_uint8(rgb))
    np.testing.assert_array_equal(grey_uint8(rgb[..., 1]), rgb[..., 1])


def test_luma_keeps_fractions_for_any_channel_layout() -> None:
    pixel = np.array([[[10, 20, 31]]], np.uint8)
    assert luma(pixel).dtype == np.float32
    assert abs(float(luma(pixel)[0, 0]) - (0.299 * 10 + 0.587 * 20 + 0.114 * 31)) < 1e-4  # 18.454, not 18
    assert float(luma(np.concatenate([pixel, [[[255]]]], axis=2))[0, 0]) == float(luma(pixel)[0, 0])
    assert float(luma(pixel[..., :1])[0, 0]) == 10.0
    assert float(luma(pixel[..., 0])[0, 0]) == 10.0


def test_training_pair_flow_sees_the_grey_miex_flow_sees() -> None:
    from miex.train.data import _flow_input
    from miex.train.models.base import InputSpec

    rng = np.random.default_rng(1)
    onset, apex = (rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(2))
    seen = []

    def flow_fn(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append((first, second))
        return np.zeros((16, 16), np.float32), np.zeros((16, 16), np.float32)

    _flow_input(onset, apex, flow_fn, InputSpec(flow="uv"), 16)
    first, second = seen[0]
    np.testing.assert_array_equal(np.rint(first * 255).astype(np.uint8), grey_uint8(onset))
    np.testing.assert_array_equal(np.rint(second * 255).astype(np.uint8), grey_uint8(apex))
