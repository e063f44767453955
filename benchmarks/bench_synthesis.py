"""End-to-end MiE-X synthesis throughput and memory: samples/s, frames/s, time shares, peak RSS per dataset size.

Each size runs in a fresh process (``--child``) so its peak RSS is its own. The limit measured in the same run is
the warp generator alone on the same frames (same plan and batches, no encoding or writing):
``end_to_end_over_generator`` is
how much of the generator's speed survives the pipeline. Prints one JSON object.

    python benchmarks/bench_synthesis.py --sizes 1000 10000 45000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child(samples: int, out: Path, batch: int) -> dict:
    from miex.data.generators import load_generator
    from miex.data.plan import PlanConfig
    from miex.data.synthesis import EngineConfig, SynthesisInputs, render_shards, resolve_plan

    resolved = resolve_plan(SynthesisInputs(plan_config=PlanConfig(samples_per_identity=samples)))
    generator = load_generator("warp")
    began = time.perf_counter()
    summary = render_shards(
        resolved.plan, generator, out, faces_dir=resolved.faces_dir, config=EngineConfig(batch_size=batch)
    )
    wall = time.perf_counter() - began
    timings = summary.timings
    total = timings.generate + timings.encode + timings.write
    return {
        "samples": summary.samples,
        "frames": timings.frames,
        "wall_s": round(wall, 2),
        "samples_per_s": round(summary.samples / wall, 1),
        "frames_per_s": round(timings.frames / wall, 1),
        "share": {k: round(getattr(timings, k) / total, 3) for k in ("generate", "encode", "write")},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "bytes_on_disk_mb": round(sum(p.stat().st_size for p in (out / "data").glob("*.parquet")) / 2**20, 1),
    }


def generator_only(samples: int, batch: int) -> float:
    """Frames/s of the generator alone on exactly the frames the pipeline renders for this size (same plan, same
    faces, same batches, no encoding or writing): the limit the pipeline is measured against."""
    from miex.core.report import ValidationReport
    from miex.data.generators import load_generator
    from miex.data.plan import PlanConfig
    from miex.data.synthesis import SynthesisInputs, resolve_plan
    from miex.data.synthesis.faces import check_faces
    from miex.data.synthesis.render import Renderer

    resolved = resolve_plan(SynthesisInputs(plan_config=PlanConfig(samples_per_identity=samples)))
    generator = load_generator("warp")
    plan, faces = check_faces(
        resolved.plan, size=128, needs_landmarks=True, faces_dir=resolved.faces_dir, report=ValidationReport()
    )
    with Renderer(generator, faces, batch_size=batch) as renderer:
        renderer.animate(plan.iloc[:batch])  # warm-up
        renderer.timings.generate, renderer.timings.frames = 0.0, 0
        for start in range(0, len(plan), batch):
            renderer.animate(plan.iloc[start : start + batch])
        return renderer.timings.frames / renderer.timings.generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.out), args.batch)))
        return
    import torch

    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            command = [
                sys.executable,
                __file__,
                "--child",
                str(size),
                "--out",
                f"{scratch}/{size}",
                "--batch",
                str(args.batch),
            ]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    for run in runs:
        limit = generator_only(run["samples"], args.batch)
        run["generator_only_frames_per_s"] = round(limit, 1)
        run["end_to_end_over_generator"] = round(run["frames_per_s"] / limit, 3)
    print(
        json.dumps(
            {
                "generator": "warp",
                "device": "cpu",
                "cores": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "batch": args.batch,
                "runs": runs,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
