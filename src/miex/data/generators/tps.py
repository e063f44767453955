"""Thin-plate splines (Bookstein 1989): the warp extends its motion model from the listed landmarks to every mesh
vertex with one (docs/reference.md §Warp generator). float64, elementwise kernels, no batching."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

REGULARIZATION = 1e-7
"""Tiny ridge on the kernel: interpolation stays exact to < 0.1 % at the control points while a near-duplicate
landmark pair cannot make the system singular."""

CHUNK = 1024
"""Query rows per block, so a large evaluation never allocates one huge temporary kernel."""


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
