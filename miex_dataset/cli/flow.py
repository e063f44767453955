"""``miex flow INPUT --out DIR``: onset -> apex optical flow and optical strain, and composite flow images.

INPUT is a clip table (frames are aligned with the onset transform, then flow is computed per clip) or a MiE-X folder
(its pairs are aligned crops already). ``--release`` (always on for MiE-X) also writes the composite flow images in the
layout the field exchanges (docs/reference.md §Flow images), readable by ``miex corpus flow-images``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import MiexInputError
from ..faces.align import DEFAULT_SIZE
from .faces import add_common_options, resolve_model


def configure(parser: argparse.ArgumentParser) -> None:
    from ..faces.flow import default_method

    parser.add_argument("input", metavar="INPUT", help="clip table from `miex corpus`, or a MiE-X folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--method", choices=("tvl1", "farneback"), default=default_method(),
                        help="flow algorithm (default: tvl1 when cv2.optflow exists)")  # fmt: skip
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="aligned crop side the flow is computed on")
    parser.add_argument("--release", action="store_true",
                        help="also write composite flow images (28x28 u/v/strain PNGs + labels.csv) in "
                             "DIR/release/")  # fmt: skip
    parser.add_argument("--layout", choices=("flat", "loso"), default="flat",
                        help="release layout: flat (<subject>_<clip> .png + labels.csv) or loso (per-subject "
                             "u_train/u_test folders)")  # fmt: skip
    add_common_options(parser)
    parser.epilog = """\
examples:
  miex flow clips.parquet --out flow/                       # TV-L1 onset->apex flow + strain, aligned on the onset
  miex flow clips.parquet --out flow/ --release             # + flow/release/: the shared 28x28 composite format
  miex flow miex/ --out miex-flow/ --layout loso            # MiE-X pairs as a LOSO flow-image release
  miex flow clips.parquet --out flow-fb/ --method farneback --workers 2   # ~75x faster on a CPU
"""


def run(args: argparse.Namespace) -> int:
    from ..faces.flow import FlowParams, tvl1_available

    if args.method == "tvl1" and not tvl1_available():
        raise MiexInputError("--method tvl1 needs opencv-contrib (cv2.optflow); install it or use --method farneback")
    params = FlowParams(method=args.method)
    source = Path(args.input)
    if source.is_dir():
        count = export_miex(source, Path(args.out) / "release" if args.release else Path(args.out), params, args)
        print(f"{count} MiE-X flow image(s) ({args.method}, {args.layout}) -> {args.out}")
        return 0
    from ..corpora.clips import FLOW_IMAGES, table_holds
    from ..faces.flow_clips import compute_clip_flows

    if source.is_file() and table_holds(source) == FLOW_IMAGES:
        raise MiexInputError("this clip table already holds flow images (`miex corpus flow-images`): train on it as "
                             "it is", file=source)  # fmt: skip
    index, report = compute_clip_flows(
        source, args.out, params=params, size=args.size, model_path=resolve_model(args), workers=args.workers
    )
    print(report.render())
    if index.empty:
        raise MiexInputError("0 clip flows computed, no index written: every clip failed (the problems above say "
                             "why); check the clip table's frames and that faces are visible on the onset frames",
                             file=source)  # fmt: skip
    print(f"{len(index)} clip flow(s) ({args.method}) -> {args.out}")
    if args.release:
        count = export_clip_flows(source, index, Path(args.out), args.layout)
        print(f"{count} composite flow image(s) ({args.layout}) -> {Path(args.out) / 'release'}")
    return 0


def export_clip_flows(table_path: Path, index, out: Path, layout: str) -> int:
    """The release images of the clips ``miex flow`` computed (their saved flow, so nothing is computed twice)."""
    import numpy as np

    from ..corpora.clips import read_clip_table
    from ..faces.flow_image import flow_to_image
    from ..faces.flow_release import ReleaseEntry, write_release

    table = read_clip_table(table_path).set_index(["dataset", "subject", "clip"])
    entries, images = [], []
    for row in index.itertuples(index=False):
        with np.load(out / row.file) as saved:
            images.append(flow_to_image(np.stack([saved["u"], saved["v"]], axis=-1)))
        label = int(table.loc[(row.dataset, row.subject, row.clip), "label"])
        entries.append(ReleaseEntry(row.dataset, row.subject, row.clip, label))
    if not entries:
        return 0
    return write_release(out / "release", entries, np.stack(images), layout=layout)


def export_miex(folder: Path, out: Path, params, args: argparse.Namespace) -> int:
    """Every MiE-X pair's composite flow image (cached), as a release: dataset ``miex``, subject = the identity,
    clip = the sample id."""
    from ..faces.flow_cache import dataset_pairs, pairs_to_images
    from ..faces.flow_release import ReleaseEntry, write_release
    from ..steps import load

    dataset = load(folder)
    needed = [c for c in ("identity", "sample_id") if c not in dataset.column_names]
    if needed:
        raise MiexInputError(f"MiE-X folder lacks column(s) {needed} that name the exported files", file=folder)
    images = pairs_to_images(dataset_pairs(dataset), params, workers=args.workers, desc="MiE-X flow images")
    entries = [ReleaseEntry("miex", str(identity), str(sample), int(label))
               for identity, sample, label in zip(dataset["identity"], dataset["sample_id"], dataset["label"],
                                                  strict=True)]  # fmt: skip
    return write_release(out, entries, images, layout=args.layout)
