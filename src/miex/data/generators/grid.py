"""Image grids for training samples and the fidelity report."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from miex.core.pixels import round_to_uint8


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """N x 3 x H x W in [0, 1] -> N x H x W x 3 uint8."""
    return round_to_uint8(images.detach().float() * 255).permute(0, 2, 3, 1).cpu().numpy()


def image_grid(
    rows: Sequence[torch.Tensor], *, row_labels: Sequence[str] = (), column_labels: Sequence[str] = ()
) -> Image.Image:
    """One row per tensor (each N x 3 x H x W in [0, 1]); optional text labels on the left and top."""
    tiles = [to_uint8(row) for row in rows]
    height, width = tiles[0].shape[1:3]
    columns = max(row.shape[0] for row in tiles)
    canvas = Image.new("RGB", (1, 1), "white")
    draw = ImageDraw.Draw(canvas)
    # the label column is as wide as the longest label (labels like "face 3 happiness" must not be cut)
    left = max((int(draw.textlength(label)) for label in row_labels), default=-6) + 6 if row_labels else 0
    top = 14 if column_labels else 0
    canvas = Image.new("RGB", (left + columns * width, top + len(tiles) * height), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            canvas.paste(Image.fromarray(tile), (left + c * width, top + r * height))
        if r < len(row_labels):
            draw.text((2, top + r * height + height // 2 - 5), row_labels[r], fill="black")
    for c, label in enumerate(column_labels):
        draw.text((left + c * width + 2, 1), label, fill="black")
    return canvas
