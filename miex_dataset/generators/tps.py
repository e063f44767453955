"""Thin-plate splines for the warp generator (Bookstein 1989; docs/reference.md §Warp generator).

The spline is fitted per frame through the moved control points (centres = targets, values = source - target), so
it is exact at every control point; the solve is float64 and per face (no batched linear algebra), so a frame does
not depend on which other frames share its batch.
"""

from __future__ import annotations

import numpy as np
import torch

REGULARIZATION = 1e-7
"""Tiny ridge on the kernel: interpolation stays exact to < 0.1 % at the control points while a near-duplicate
landmark pair cannot make the system singular."""


def tps_kernel(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``U(r) = r^2 log r`` between every point (P x 2) and centre (C x 2), exactly 0 at r = 0."""
    squared = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = 0.5 * squared * np.log(squared)
    return np.where(squared > 0, values, 0.0)


def spline_values(
    centres: np.ndarray, values: np.ndarray, queries: np.ndarray, regularization: float = REGULARIZATION
) -> np.ndarray:
    """The spline through ``values`` (C x 2) at ``centres`` (C x 2), evaluated at ``queries`` (Q x 2); float64."""
    count = len(centres)
    system = np.zeros((count + 3, count + 3))
    system[:count, :count] = tps_kernel(centres, centres) + regularization * np.eye(count)
    affine = np.column_stack([np.ones(count), centres])
    system[:count, count:] = affine
    system[count:, :count] = affine.T
    rhs = np.concatenate([values, np.zeros((3, values.shape[1]))])
    weights = np.linalg.solve(system, rhs)
    return evaluate_spline(centres, weights, queries)


def evaluate_spline(centres: np.ndarray, weights: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Spline ``weights`` ((C+3) x 2) at ``queries``: the Q x C kernel in float32 (the costly part; the result is
    quantised downstream), squared distances by one matrix product."""
    q = torch.from_numpy(queries.astype(np.float32))
    c = torch.from_numpy(centres.astype(np.float32))
    squared = (q.square().sum(1, keepdim=True) + c.square().sum(1)[None] - 2 * q @ c.T).clamp_min_(1e-20)
    kernel = squared.log().mul_(squared).mul_(0.5)
    count = len(centres)
    radial = kernel.double() @ torch.from_numpy(weights[:count])
    return radial.numpy() + np.column_stack([np.ones(len(queries)), queries]) @ weights[count:]


def pixel_centres(height: int, width: int, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """1 x H x W x 2 normalised (x, y) of pixel centres (``align_corners=False``)."""
    ys = (torch.arange(height, device=device, dtype=dtype) * 2 + 1) / height - 1
    xs = (torch.arange(width, device=device, dtype=dtype) * 2 + 1) / width - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1)[None]


def border_points(count: int = 5) -> np.ndarray:
    """Fixed points along the crop border (normalised), so the frame of the crop never moves."""
    steps = np.linspace(-1, 1, count)
    inner = steps[1:-1]
    return np.concatenate([
        np.column_stack([steps, np.full(count, -1.0)]), np.column_stack([steps, np.full(count, 1.0)]),
        np.column_stack([np.full(count - 2, -1.0), inner]), np.column_stack([np.full(count - 2, 1.0), inner]),
    ])  # fmt: skip
