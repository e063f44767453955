"""Onset -> apex optical flow on aligned frames, and optical strain (docs/reference.md §Recognizers).

TV-L1 (``cv2.optflow`` from opencv-contrib) is the micro-expression standard; Farneback (core OpenCV) is the fallback.
OpenCV runs single-threaded here so the same inputs give the same bytes, and parallelism comes from processes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Literal

import numpy as np

from miex.core.fileio import atomic_path
from miex.core.pixels import grey_uint8, round_to_uint8

FlowMethod = Literal["tvl1", "farneback"]


@dataclass(frozen=True)
class FlowParams:
    """Everything that determines a flow field; written beside the outputs (``flow_params.json``)."""

    method: FlowMethod = "tvl1"
    # TV-L1: OpenCV's defaults (the usual choice in MiE work); ~4 pairs/s/core at 128 px. nscales=3, warps=3,
    # epsilon=0.05, inner_iterations=10 is ~10x faster and still recovers a 2 px shift within 0.07 px.
    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    # Farneback
    pyr_scale: float = 0.5
    levels: int = 3
    winsize: int = 15
    iterations: int = 3
    poly_n: int = 5
    poly_sigma: float = 1.2

    def to_json(self) -> dict[str, object]:
        """The method, the settings that method uses (a Farneback run records no TV-L1 settings) and OpenCV's
        version."""
        import cv2

        fields = TVL1_FIELDS if self.method == "tvl1" else FARNEBACK_FIELDS
        return {"method": self.method, **{name: getattr(self, name) for name in fields}, "opencv": cv2.__version__}


TVL1_FIELDS = ("tau", "lambda_", "theta", "nscales", "warps", "epsilon", "inner_iterations", "outer_iterations")
FARNEBACK_FIELDS = ("pyr_scale", "levels", "winsize", "iterations", "poly_n", "poly_sigma")


def tvl1_available() -> bool:
    import cv2

    return hasattr(cv2, "optflow") and hasattr(cv2.optflow, "DualTVL1OpticalFlow_create")


def default_method() -> FlowMethod:
    return "tvl1" if tvl1_available() else "farneback"


def optical_flow(onset: np.ndarray, apex: np.ndarray, params: FlowParams | None = None) -> np.ndarray:
    """Dense flow (H, W, 2) float32 from ``onset`` to ``apex``: ``onset(x) ≈ apex(x + flow(x))``."""
    import cv2

    params = params or FlowParams(method=default_method())
    first, second = grey_uint8(onset), grey_uint8(apex)
    if first.shape != second.shape:
        raise ValueError(f"onset {first.shape} and apex {second.shape} differ in size")
    cv2.setNumThreads(1)
    if params.method == "tvl1":
        if not tvl1_available():
            raise RuntimeError("TV-L1 needs opencv-contrib (cv2.optflow); use method='farneback'")
        # "innnerIterations" (three n) is OpenCV's own spelling of the keyword.
        solver = cv2.optflow.DualTVL1OpticalFlow_create(
            tau=params.tau,
            lambda_=params.lambda_,
            theta=params.theta,
            nscales=params.nscales,
            warps=params.warps,
            epsilon=params.epsilon,
            innnerIterations=params.inner_iterations,
            outerIterations=params.outer_iterations,
        )
        flow = solver.calc(first, second, None)
    elif params.method == "farneback":
        flow = cv2.calcOpticalFlowFarneback(
            first,
            second,
            None,
            params.pyr_scale,
            params.levels,
            params.winsize,
            params.iterations,
            params.poly_n,
            params.poly_sigma,
            0,
        )
    else:
        raise ValueError(f"unknown flow method {params.method!r} (tvl1 or farneback)")
    return np.asarray(flow, dtype=np.float32)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """``sqrt(u_x² + v_y² + 0.5·(u_y + v_x)²)`` of ``flow`` (..., H, W, 2) with central differences over H and W
    (docs/reference.md §Recognizers); float32 (..., H, W). The one implementation: the recognizers' torch inputs
    (:func:`miex.train.flow.flow_channels`) call it too."""
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    u_y, u_x = np.gradient(u, axis=(-2, -1))
    v_y, v_x = np.gradient(v, axis=(-2, -1))
    return np.sqrt(u_x**2 + v_y**2 + 0.5 * (u_y + v_x) ** 2).astype(np.float32)


def flow_image(flow: np.ndarray, strain: np.ndarray, *, max_motion: float = 4.0) -> np.ndarray:
    """3-channel uint8 image (u, v, strain) for CNNs: u and v map [-max, max] to 0..255, strain [0, max] to 0..255."""
    u = flow[..., 0] / max_motion * 127.5 + 127.5
    v = flow[..., 1] / max_motion * 127.5 + 127.5
    s = strain / max_motion * 255.0
    return round_to_uint8(np.stack([u, v, s], axis=-1))


def save_flow(path: str | PathLike[str], flow: np.ndarray, strain: np.ndarray, *, png: bool = True) -> Path:
    """``path`` (.npz with float32 u, v, strain) and, with ``png``, the 3-channel image beside; both written
    atomically (the PNG first, so a present .npz means a finished clip)."""
    from PIL import Image

    path = Path(path)
    if png:
        image = path.with_suffix(".png")
        with atomic_path(image, suffix=".png") as temporary:
            Image.fromarray(flow_image(flow, strain)).save(temporary)
    with atomic_path(path, suffix=".npz") as temporary:
        np.savez_compressed(temporary, u=flow[..., 0], v=flow[..., 1], strain=strain)
    return path


def write_params(directory: str | PathLike[str], params: FlowParams) -> Path:
    path = Path(directory) / "flow_params.json"
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(params.to_json(), indent=2, sort_keys=True) + "\n")
    return path
