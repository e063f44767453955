"""Flow recognizers' inputs, computed once: every clip or MiE-X pair -> its composite flow image, cached on disk.

The one representation (:mod:`miex.data.faces.flow_image`, docs/reference.md §Flow images) serves real clips read
from frames, MiE-X pairs and the shared releases alike; pairs go through :mod:`miex.data.faces.flow_cache`, so a
second run, another recipe or another fold never computes an image again.

Models then read :func:`model_tensor`: float32 (N, C, S, S), the image's 0..255 values in channel order u, v,
strain, reduced to the channels the family reads (``uv``: u and v) and resized to its input side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import datasets
import numpy as np
import torch

from miex.core.errors import MiexInputError
from miex.core.pixels import round_to_uint8
from miex.data.faces.flow import FlowParams
from miex.data.faces.flow_cache import dataset_pairs, pairs_to_images
from miex.data.faces.flow_image import RELEASE_SIZE, images_to_tensor, read_flow_png
from miex.train.models.base import InputSpec

FLOW_IMAGE_COLUMN = "pixel_values"
"""A dataset column that already holds composite flow images (a release read as a dataset, or one's own)."""


def dataset_flow_images(dataset: datasets.Dataset, params: FlowParams, **options: Any) -> np.ndarray:
    """(N, H, W, 3) uint8 flow images of every row: its ``pixel_values`` when it has them, else computed from its
    ``onset`` and ``apex`` frames through the cache (``options``: those of
    :func:`~miex.data.faces.flow_cache.pairs_to_images`: ``size``, ``workers``, ``cache_dir``, ``desc``)."""
    if FLOW_IMAGE_COLUMN in dataset.column_names:
        return column_flow_images(dataset, size=options.get("size", RELEASE_SIZE))
    missing = [c for c in ("onset", "apex") if c not in dataset.column_names]
    if missing:
        raise MiexInputError(
            f"a flow recognizer needs {FLOW_IMAGE_COLUMN!r} (flow images) or 'onset' + 'apex' "
            f"frames; this dataset has {dataset.column_names}",
            field=missing[0],
        )
    return pairs_to_images(dataset_pairs(dataset), params, **options)


def column_flow_images(dataset: datasets.Dataset, *, size: int = RELEASE_SIZE) -> np.ndarray:
    """The ``pixel_values`` column as (N, H, W, 3) uint8: images, or arrays (3, H, W) / (H, W, 3) of 0..255."""
    images = []
    for row, value in enumerate(dataset[FLOW_IMAGE_COLUMN]):
        array = np.asarray(value.convert("RGB")) if hasattr(value, "convert") else np.asarray(value)
        if array.ndim == 3 and array.shape[0] == 3 and array.shape[2] != 3:
            array = array.transpose(1, 2, 0)
        if array.ndim != 3 or array.shape[2] != 3:
            raise MiexInputError(
                f"{FLOW_IMAGE_COLUMN} must be a 3-channel flow image (u, v, strain), got shape {array.shape}",
                row=row,
                field=FLOW_IMAGE_COLUMN,
            )
        if array.dtype != np.uint8:
            if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 255 or not np.isfinite(array).all()):
                raise MiexInputError(
                    f"{FLOW_IMAGE_COLUMN} values must lie in 0..255 (the composite flow image's scale)",
                    row=row,
                    field=FLOW_IMAGE_COLUMN,
                )
            array = round_to_uint8(array)
        images.append(array)
    if not images:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    shapes = {image.shape for image in images}
    if len(shapes) > 1:
        raise MiexInputError(
            f"{FLOW_IMAGE_COLUMN} images differ in size: {sorted(shapes)[:3]}", field=FLOW_IMAGE_COLUMN
        )
    return np.stack(images)


def png_flow_images(paths: Sequence[str], *, size: int | None = None) -> np.ndarray:
    """Flow images read from PNG files (a flow-image clip table's frames); a bad file is an error naming it."""
    return np.stack([read_flow_png(path, size=size) for path in paths])


def model_tensor(images: np.ndarray, spec: InputSpec, size: int) -> torch.Tensor:
    """(N, H, W, 3) uint8 flow images -> the model's float32 (N, C, size, size): ``uv`` keeps u and v, ``uv_strain``
    all three, bilinear resize when ``size`` differs."""
    tensor = images_to_tensor(images)
    if spec.flow == "uv":
        tensor = tensor[:, :2].contiguous()
    elif spec.flow != "uv_strain":
        raise MiexInputError(f"no flow-image input for channel layout {spec.flow!r}", field="model")
    if tensor.shape[-1] != size:
        tensor = torch.nn.functional.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False)
    return tensor
