"""Thin-plate splines for the warp generator (Bookstein 1989; docs/reference.md §Warp generator).

The spline is fitted per frame through the moved control points (centres = targets, values = source - target), so
it is exact at every control point; the solve is float64 and per face (no batched linear algebra), so a frame does
not depend on which other frames share its batch.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.distance import cdist

REGULARIZATION = 1e-7
"""Tiny ridge on the kernel: interpolation stays exact to < 0.1 % at the control points while a near-duplicate
landmark pair cannot make the system singular."""


CHUNK = 1024
"""Query rows per block: a block's kernel (96 x ~200 float64) stays in cache and below the allocator's mmap
threshold; fresh megabyte-sized temporaries page-fault on every frame, which cost more than the arithmetic."""


def tps_kernel(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """``U(r) = r^2 log r`` between every point (P x 2) and centre (C x 2), exactly 0 at r = 0.

    float64 and elementwise only (no BLAS), so the values do not depend on the number of threads."""
    squared = cdist(points, centres, "sqeuclidean")
    logs = np.maximum(squared, 1e-300)
    np.log(logs, out=logs)
    logs *= squared
    logs *= 0.5
    return logs


def fit_spline(centres: np.ndarray, values: np.ndarray, regularization: float = REGULARIZATION) -> np.ndarray:
    """Weights ((C+3) x D) of the spline through ``values`` (C x D) at ``centres`` (C x 2), float64."""
    count = len(centres)
    system = np.zeros((count + 3, count + 3))
    system[:count, :count] = tps_kernel(centres, centres) + regularization * np.eye(count)
    affine = np.column_stack([np.ones(count), centres])
    system[:count, count:] = affine
    system[count:, :count] = affine.T
    rhs = np.concatenate([values, np.zeros((3, values.shape[1]))])
    return np.linalg.solve(system, rhs)


def evaluate_spline(centres: np.ndarray, weights: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Spline ``weights`` ((C+3) x D) at ``queries`` (Q x 2) -> Q x D, float64, in cache-sized blocks."""
    count = len(centres)
    out = queries @ weights[count + 1 :] + weights[count]
    for start in range(0, len(queries), CHUNK):
        block = slice(start, start + CHUNK)
        out[block] += tps_kernel(queries[block], centres) @ weights[:count]
    return out


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
