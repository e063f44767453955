"""Statistics of composite flow images (u, v, strain; docs/reference.md §Nuisance between onset and apex), per corpus
and side by side, against the summary of the public MEGC2019 composite flow release. Prints one JSON object.

A corpus is a folder of composite flow PNGs (``--flows``, searched recursively: a release folder) or a MiE-X folder
written by ``miex synthesize`` (``--miex``), whose onset/apex pairs are turned into composite flow images here with
:func:`miex.data.faces.flow_image.pair_to_image` (TV-L1 when OpenCV has it). Per corpus: 16-bin histograms over
0..255, whole-corpus mean and sd, percentiles of the per-image sd and median, border ring against centre, motion
outside the moving features (ring over centre of strain and of |u - median u|, |v - median v|), channel correlations
and the mean maps; with two corpora or more, the correlation of their mean maps; and for every corpus the ratio of
its figures to the release's (:data:`REFERENCE`, summary numbers only: no image of the release is used here).

    miex synthesize --out /tmp/mx_off --samples-per-identity 60
    miex synthesize --out /tmp/mx_real --samples-per-identity 60 --nuisance real
    python benchmarks/bench_flow_stats.py --miex /tmp/mx_off --miex /tmp/mx_real --workers 2
    python benchmarks/bench_flow_stats.py --flows path/to/release --miex /tmp/mx_real --limit 200
"""

from __future__ import annotations

import argparse
import json
import re
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from miex.data.faces.flow import FlowParams, default_method
from miex.data.faces.flow_image import CHANNELS, pair_to_image, read_flow_png

BINS = 16
PERCENTILES = (5, 50, 95)

REFERENCE: dict[str, Any] = {
    "label": "measured on the public MEGC2019 composite flow release (442 clips, 28 x 28, u, v, strain each min-max "
    "scaled per image to 0..255); summary numbers only, no image of the release is used here",
    "images": 442,
    "pixels": 346528,
    "per_image_sd": {"u": [12, 33, 67], "v": [14, 35, 65], "strain": [11, 29, 48]},
    "per_image_median": {"u": [34, 124, 234], "v": [11, 140, 240], "strain": [3, 13, 85]},
    "mean": {"u": 126, "v": 135, "strain": 25},
    "sd": {"u": 50, "v": 64, "strain": 32},
    "border": {"u": 125, "v": 141, "strain": 20},
    "centre": {"u": 126, "v": 137, "strain": 17},
    "strain_histogram_first_bins": [184721, 81371, 32658, 16702, 9816],
    "channel_correlation": "about 0 for every pair",
    "notes": "percentile lists are p5, p50, p95; histogram bins are 16 grey levels wide; the width of the border ring "
    "of these figures is not part of the summary",
}
"""The published summary of the public MEGC2019 composite flow release (the only real figures this project uses)."""


def ring_mask(size: int, width: int) -> np.ndarray:
    """True on the outer ``width`` pixels of a ``size`` x ``size`` image."""
    mask = np.zeros((size, size), dtype=bool)
    mask[:width], mask[-width:], mask[:, :width], mask[:, -width:] = True, True, True, True
    return mask


def _percentiles(values: np.ndarray) -> list[float]:
    return [round(float(value), 1) for value in np.percentile(values, PERCENTILES)]


def corpus_stats(images: np.ndarray, ring: int) -> dict[str, Any]:
    """Statistics of (N, H, W, 3) uint8 composite flow images (channels u, v, strain)."""
    values = np.asarray(images, dtype=np.float64)
    count, height = values.shape[:2]
    border = ring_mask(height, ring)
    stats: dict[str, Any] = {"images": count, "size": height}
    per_channel: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(CHANNELS):
        channel = values[..., index]
        flat = channel.reshape(count, -1)
        counts = np.histogram(channel, bins=BINS, range=(0, 256))[0]
        per_channel[name] = {
            "mean": round(float(channel.mean()), 1),
            "sd": round(float(channel.std()), 1),
            "per_image_sd": _percentiles(flat.std(axis=1)),
            "per_image_median": _percentiles(np.median(flat, axis=1)),
            "border": round(float(channel[:, border].mean()), 1),
            "centre": round(float(channel[:, ~border].mean()), 1),
            "histogram": counts.tolist(),
            "histogram_share": [round(float(c), 4) for c in counts / counts.sum()],
        }
    stats["channels"] = per_channel
    # motion outside the moving features: the ring's share of what the image shows, relative to the centre
    outside: dict[str, float] = {}
    strain = values[..., 2]
    ratio = strain[:, border].mean() / max(strain[:, ~border].mean(), 1e-9)
    outside["strain_ring_over_centre"] = round(float(ratio), 3)
    for index, name in ((0, "u"), (1, "v")):
        channel = values[..., index]
        deviation = np.abs(channel - np.median(channel.reshape(count, -1), axis=1)[:, None, None])
        ratio = deviation[:, border].mean() / max(deviation[:, ~border].mean(), 1e-9)
        outside[f"{name}_deviation_ring_over_centre"] = round(float(ratio), 3)
    stats["motion_outside"] = outside
    pixels = values.reshape(-1, 3)
    correlation = np.corrcoef(pixels, rowvar=False) if pixels.std(axis=0).min() > 0 else np.zeros((3, 3))
    stats["channel_correlation"] = {
        f"{CHANNELS[a]}-{CHANNELS[b]}": round(float(correlation[a, b]), 3) for a, b in combinations(range(3), 2)
    }
    stats["mean_map"] = {
        name: np.round(values[..., index].mean(axis=0), 1).tolist() for index, name in enumerate(CHANNELS)
    }
    return stats


def ratio_to_reference(stats: dict[str, Any]) -> dict[str, Any]:
    """A corpus's figures over the release's (1 = the same)."""
    channels = stats["channels"]
    ratios: dict[str, Any] = {}
    for name in CHANNELS:
        own, reference = channels[name], REFERENCE
        ratios[name] = {
            "per_image_sd_median": round(own["per_image_sd"][1] / reference["per_image_sd"][name][1], 3),
            "mean": round(own["mean"] / reference["mean"][name], 3),
            "sd": round(own["sd"] / reference["sd"][name], 3),
            "border_over_centre": round(
                (own["border"] / max(own["centre"], 1e-9)) / (reference["border"][name] / reference["centre"][name]), 3
            ),
        }
    first = np.asarray(REFERENCE["strain_histogram_first_bins"], dtype=np.float64) / REFERENCE["pixels"]
    own_share = np.asarray(channels["strain"]["histogram_share"][: len(first)])
    ratios["strain"]["histogram_first_bins"] = [round(float(a / b), 3) for a, b in zip(own_share, first, strict=True)]
    return ratios


def map_correlation(first: dict[str, Any], second: dict[str, Any]) -> dict[str, float] | None:
    """Pearson correlation of two corpora's mean maps, per channel (None when their sizes differ)."""
    if first["size"] != second["size"]:
        return None
    out = {}
    for name in CHANNELS:
        a, b = np.ravel(first["mean_map"][name]), np.ravel(second["mean_map"][name])
        out[name] = round(float(np.corrcoef(a, b)[0, 1]), 3) if a.std() > 0 and b.std() > 0 else 0.0
    return out


def _spread(count: int, limit: int | None) -> list[int]:
    """``limit`` indices spread evenly over ``count`` (all when ``limit`` is None or larger)."""
    if limit is None or limit >= count:
        return list(range(count))
    return sorted({round(index) for index in np.linspace(0, count - 1, limit)})


def flow_folder(folder: Path, limit: int | None) -> np.ndarray:
    """Every composite flow PNG under ``folder`` (recursively, in path order; ``limit`` of them spread evenly)."""
    paths = sorted(path for path in folder.rglob("*") if path.suffix.lower() == ".png" and path.is_file())
    if not paths:
        raise SystemExit(f"{folder}: no PNG files found")
    images = [read_flow_png(paths[index], size=None) for index in _spread(len(paths), limit)]
    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise SystemExit(f"{folder}: the flow images differ in size ({sorted(shapes)})")
    return np.stack(images)


def _pair_image(job: tuple[np.ndarray, np.ndarray, FlowParams]) -> np.ndarray:
    onset, apex, params = job
    return pair_to_image(onset, apex, params)


def miex_folder(folder: Path, limit: int | None, params: FlowParams, workers: int) -> np.ndarray:
    """Composite flow images of a MiE-X folder's onset/apex pairs (first and last frame for the video config)."""
    from miex.train.data import load_miex

    dataset = load_miex(folder)
    video = "frames" in dataset.column_names
    jobs = []
    for index in _spread(len(dataset), limit):
        row = dataset[index]
        onset, apex = (row["frames"][0], row["frames"][-1]) if video else (row["onset"], row["apex"])
        jobs.append((np.asarray(onset.convert("RGB")), np.asarray(apex.convert("RGB")), params))
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            return np.stack(list(pool.map(_pair_image, jobs, chunksize=4)))
    return np.stack([_pair_image(job) for job in jobs])


def compact_json(value: Any) -> str:
    """Indented JSON with every list of plain numbers kept on one line (the mean maps stay readable)."""
    text = json.dumps(value, indent=2)
    return re.sub(r"\[\s+([-0-9.eE,\s]+?)\s+\]", lambda match: "[" + re.sub(r",\s+", ", ", match.group(1)) + "]", text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--flows",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="folder of composite flow PNGs, searched recursively (repeatable)",
    )
    parser.add_argument(
        "--miex",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="MiE-X folder from `miex synthesize` (repeatable)",
    )
    parser.add_argument("--limit", type=int, help="at most N images or pairs per corpus, spread evenly (default: all)")
    parser.add_argument(
        "--ring", type=int, default=1, help="width of the border ring in pixels (default: 1, the outermost pixels)"
    )
    parser.add_argument(
        "--method",
        choices=("tvl1", "farneback"),
        default=default_method(),
        help="flow for MiE-X pairs (default: %(default)s)",
    )
    parser.add_argument("--workers", type=int, default=1, help="processes computing flow (default: 1)")
    args = parser.parse_args()
    if not args.flows and not args.miex:
        parser.error("give at least one --flows or --miex folder")
    params = FlowParams(method=args.method)
    corpora: dict[str, dict[str, Any]] = {}
    for kind, folders in (("flows", args.flows), ("miex", args.miex)):
        for folder in folders:
            began = time.perf_counter()
            images = (
                flow_folder(folder, args.limit)
                if kind == "flows"
                else miex_folder(folder, args.limit, params, args.workers)
            )
            stats = corpus_stats(images, args.ring)
            stats["seconds"] = round(time.perf_counter() - began, 1)
            corpora[f"{kind}:{folder}"] = stats
    result = {
        "reference": REFERENCE,
        "settings": {"ring": args.ring, "flow": params.method, "limit": args.limit},
        "ratio_to_reference": {name: ratio_to_reference(stats) for name, stats in corpora.items()},
        "mean_map_correlation": {
            f"{a} vs {b}": map_correlation(corpora[a], corpora[b]) for a, b in combinations(corpora, 2)
        },
        "corpora": corpora,
    }
    print(compact_json(result))


if __name__ == "__main__":
    main()
