"""Throughput of the face pipeline on ONE core, printed as JSON (target: >= 40 face crops/s/core at 128x128).

- ``faces_128``: detection + 478 landmarks + 17 AUs (proxy) on a 128x128 aligned crop (images/s/core);
- ``faces_640``: the same on a 640x640 photo, plus ``crops_640``: detection + landmarks + aligned 128 crop;
- ``flow_tvl1_128`` / ``flow_farneback_128``: onset->apex flow + strain pairs/s/core at 128x128.

The process is pinned to one CPU (``--cores``) so mediapipe's and OpenCV's own threads cannot inflate the figure;
multiply by the cores given to ``--workers`` for a run's throughput. Usage: ``python benchmarks/bench_faces.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

import cv2
import numpy as np
from skimage import data

from miex.data.faces import FaceAnalyzer, FlowParams, align_face, blendshapes_to_aus, optical_flow, optical_strain
from miex.data.faces.flow import tvl1_available


def _rate(function: Callable[[], object], seconds: float) -> float:
    """Calls per second over at least ``seconds`` after two warm-up calls."""
    function()
    function()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or calls < 3:
        function()
        calls += 1
    return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cores", type=int, default=1, help="CPUs the benchmark may use (default 1: per-core rate)")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))[: args.cores]
    os.sched_setaffinity(0, cores)
    cv2.setNumThreads(1)

    analyzer = FaceAnalyzer(max_faces=1)
    photo = cv2.resize(data.astronaut(), (640, 640), interpolation=cv2.INTER_AREA)
    crop, _, _ = align_face(photo, analyzer.analyze(photo)[0].landmarks, 128)

    def faces(image: np.ndarray) -> Callable[[], object]:
        return lambda: [blendshapes_to_aus(face.blendshapes) for face in analyzer.analyze(image)]

    def crops() -> object:
        return [align_face(photo, face.landmarks, 128) for face in analyzer.analyze(photo)]

    apex = np.ascontiguousarray(np.roll(crop, (1, 2), axis=(0, 1)))
    methods = ["farneback", *(["tvl1"] if tvl1_available() else [])]
    result: dict[str, object] = {
        "cores": len(cores),
        "faces_128_per_s": round(_rate(faces(crop), args.seconds), 1),
        "faces_640_per_s": round(_rate(faces(photo), args.seconds), 1),
        "crops_640_per_s": round(_rate(crops, args.seconds), 1),
    }
    for method in methods:
        params = FlowParams(method=method)  # type: ignore[arg-type]
        rate = _rate(lambda params=params: optical_strain(optical_flow(crop, apex, params)), args.seconds)
        result[f"flow_{method}_128_per_s"] = round(rate, 1)
    result["per_core"] = {
        key: round(value / len(cores), 1)
        for key, value in result.items()
        if key.endswith("_per_s") and isinstance(value, float)
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
