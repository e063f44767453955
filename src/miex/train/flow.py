"""Flow-derived network inputs for the flow recognizers (STSTNet, OFF-ApexNet, ApexME on flow).

Flow itself is computed by a user-supplied ``flow_fn(onset_grey, apex_grey) -> (u, v)`` (the face pipeline's optical
flow in practice), so this module only turns ``(u, v)`` into the channels each model reads.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from miex.data.faces.flow import optical_strain

FlowFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(onset, apex) greyscale float arrays in [0, 1], shape (H, W) -> horizontal u and vertical v flow, shape (H, W)."""


def flow_channels(u: torch.Tensor, v: torch.Tensor, kind: str) -> torch.Tensor:
    """Stack (H, W) flow into the model's channels: ``uv`` (OFF-ApexNet, DTSCNN) or ``uv_strain`` (STSTNet, HTNet,
    ApexME on flow)."""
    if kind == "uv":
        return torch.stack([u, v])
    if kind == "uv_strain":
        strain = optical_strain(torch.stack([u, v], dim=-1).detach().cpu().numpy())  # the pipeline's one formula
        return torch.stack([u, v, torch.from_numpy(strain).to(u)])
    raise ValueError(f"unknown flow channel layout {kind!r}")


def resize_square(image: torch.Tensor, size: int) -> torch.Tensor:
    """(C, H, W) -> (C, size, size) bilinear, no cropping (flow models see the whole aligned face)."""
    if tuple(image.shape[-2:]) == (size, size):
        return image
    return torch.nn.functional.interpolate(image[None], size=(size, size), mode="bilinear", align_corners=False)[0]
