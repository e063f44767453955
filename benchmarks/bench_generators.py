"""Throughput of the two face generators at 128x128, printed as JSON.

- warp: frames/s on ONE CPU thread (target >= 300), landmarks given (as synthesis does from the face-pool index);
- GANimation: frames/s, FLOPs per frame (``FlopCounterMode``) and the achieved fraction of the conv throughput
  measured in the same run on a representative layer (256 -> 256 3x3 conv at 32x32, the residual blocks that
  dominate the cost); target >= 0.8 on CPU. With CUDA: the same in bf16 + channels_last.

Usage: ``python benchmarks/bench_generators.py [--threads N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import numpy as np
import torch
from timing import best_seconds
from torch.utils.flop_counter import FlopCounterMode

from miex.data.generators import load_generator
from miex.data.generators.ganimation import GANimationGenerator, GANimationNetwork

SIZE = 128


def _landmarks() -> tuple[torch.Tensor, torch.Tensor, str]:
    from miex.data.generators.fidelity import builtin_face

    face = builtin_face(SIZE)
    try:
        return face, load_generator("warp").detect_landmarks(face), "astronaut, MediaPipe landmarks"
    except (ImportError, RuntimeError, ValueError):  # the landmarker is optional for a timing run
        grid = np.stack(np.meshgrid(np.linspace(30, 98, 22), np.linspace(30, 98, 22)), -1).reshape(-1, 2)[:478]
        points = torch.from_numpy(grid).float()[None]
        points[:, 468], points[:, 473] = torch.tensor([48.0, 50.0]), torch.tensor([80.0, 50.0])
        return face, points, "astronaut, synthetic landmarks (landmarker unavailable)"


def bench_warp(repeats: int) -> dict[str, object]:
    """One thread. ``same_face``: the synthesis pattern (a face is rendered for about 18 frames in a row, so its
    mesh topology is cached); ``distinct_faces``: every frame a face never seen before (worst case)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    face, points, source = _landmarks()
    warp = load_generator("warp")
    aus = np.zeros((1, 17), np.float32)
    aus[0, [8, 4, 14]] = (3.0, 2.0, 1.5)  # AU12 + AU06 + AU25
    result: dict[str, object] = {"threads": 1, "faces": source, "aus": "AU12 3, AU06 2, AU25 1.5"}
    for batch in (1, 32):
        faces, lms = face.expand(batch, -1, -1, -1).contiguous(), points.expand(batch, -1, -1)
        seconds = best_seconds(lambda: warp(faces, np.repeat(aus, batch, 0), landmarks=lms), repeats, lambda: None)  # noqa: B023
        result[f"fps_batch{batch}"] = round(batch / seconds, 1)
    shifts = torch.from_numpy(np.random.default_rng(0).uniform(-3, 3, (repeats + 1, 32, 1, 2))).float()
    runs = iter(range(repeats + 1))

    def distinct() -> None:  # a fresh offset per run: every face is new to the cache
        lms = points.expand(32, -1, -1) + shifts[next(runs)]
        warp(face.expand(32, -1, -1, -1), np.repeat(aus, 32, 0), landmarks=lms)

    result["fps_batch32_distinct_faces"] = round(32 / best_seconds(distinct, repeats, lambda: None), 1)
    torch.set_num_threads(threads)
    return result


def _conv_flops_per_second(device: torch.device, dtype: torch.dtype, repeats: int, sync: Callable[[], None]) -> float:
    conv = torch.nn.Conv2d(256, 256, 3, 1, 1, bias=False).to(device, dtype, memory_format=torch.channels_last)
    x = torch.randn(8, 256, 32, 32, device=device, dtype=dtype).to(memory_format=torch.channels_last)
    flops = 2 * 8 * 256 * 256 * 9 * 32 * 32
    with torch.inference_mode():
        return flops / best_seconds(lambda: conv(x), repeats, sync)


def bench_ganimation(device: torch.device, repeats: int) -> dict[str, object]:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    bf16 = device.type == "cuda"
    torch.manual_seed(0)
    generator = GANimationGenerator(GANimationNetwork(), device=device, bf16=bf16)
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        generator.network(torch.zeros(1, 3, SIZE, SIZE, device=device), torch.zeros(1, 17, device=device))
    flops = counter.get_total_flops()
    result: dict[str, object] = {
        "device": str(device),
        "threads": torch.get_num_threads(),
        "bf16": bf16,
        "gflop_per_frame": round(flops / 1e9, 2),
    }
    aus = np.full((32, 17), 1.0, np.float32)
    for batch in (1, 32):
        faces = torch.rand(batch, 3, SIZE, SIZE, device=device)
        runs = repeats if batch == 1 or device.type == "cuda" else 1
        seconds = best_seconds(lambda: generator(faces, aus[:batch]), runs, sync)  # noqa: B023
        result[f"fps_batch{batch}"] = round(batch / seconds, 2)
    dtype = torch.bfloat16 if bf16 else torch.float32
    conv = _conv_flops_per_second(device, dtype, repeats, sync)
    result["conv_gflops_measured"] = round(conv / 1e9, 1)
    result["achieved_gflops_batch32"] = round(flops * result["fps_batch32"] / 1e9, 1)
    result["fraction_of_conv_throughput"] = round(flops * result["fps_batch32"] / conv, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, help="CPU threads for GANimation (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report = {
        "torch": torch.__version__,
        "image_size": SIZE,
        "warp_cpu": bench_warp(args.repeats),
        "ganimation_cpu": bench_ganimation(torch.device("cpu"), args.repeats),
    }
    if torch.cuda.is_available():
        report["ganimation_cuda"] = bench_ganimation(torch.device("cuda"), args.repeats)
        report["cuda_device"] = torch.cuda.get_device_name()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
