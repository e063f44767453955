"""``miex flow INPUT --out DIR``: onset -> apex optical flow and optical strain, and composite flow images.

INPUT is a clip table (frames are aligned with the onset transform, then flow is computed per clip) or a MiE-X folder
(its pairs are aligned crops already). ``--release`` (always on for MiE-X) also writes the composite flow images in the
layout the field exchanges (docs/reference.md §Flow images), readable by ``miex corpus flow-images``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from miex.cli.faces import add_common_options, checked_workers, crop_side, resolve_model
from miex.core.errors import MiexInputError
from miex.core.fileio import add_overwrite_option, first_line
from miex.data.faces.align import DEFAULT_SIZE


def configure(parser: argparse.ArgumentParser) -> None:
    from miex.data.faces.flow import default_method

    parser.add_argument("input", metavar="INPUT", help="clip table from `miex corpus`, or a MiE-X folder")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--method",
        choices=("tvl1", "farneback"),
        default=default_method(),
        help="flow algorithm (default: tvl1 when cv2.optflow exists)",
    )
    parser.add_argument(
        "--size",
        type=crop_side,
        default=DEFAULT_SIZE,
        help=f"aligned crop side the flow is computed on (default {DEFAULT_SIZE})",
    )
    add_overwrite_option(parser, "its flow files, index.parquet and release")
    parser.add_argument(
        "--release",
        action="store_true",
        help="also write composite flow images (28x28 u/v/strain PNGs + labels.csv) in DIR/release/",
    )
    parser.add_argument(
        "--layout",
        choices=("flat", "loso"),
        default="flat",
        help="release layout: flat (<subject>_<clip> .png + labels.csv) or loso (per-subject u_train/u_test folders)",
    )
    add_common_options(parser)
    parser.epilog = """\
examples:
  miex flow clips.parquet --out flow/                       # TV-L1 onset->apex flow + strain, aligned on the onset
  miex flow clips.parquet --out flow/ --release             # + flow/release/: the shared 28x28 composite format
  miex flow miex/ --out miex-flow/ --layout loso            # MiE-X pairs as a LOSO flow-image release
  miex flow clips.parquet --out flow-fb/ --method farneback --workers 2   # ~75x faster on a CPU
"""


FLOW_WRITES = ("index.parquet", ".parts", "flow_params.json", "release", "labels.csv")
"""What ``miex flow`` writes or replaces inside --out, besides ``<dataset>/<subject>/<clip>.npz``/``.png`` and the
release's images (paths from data, each checked to stay inside --out)."""


def guard_flow_folder(out: str, overwrite: bool, inputs: list[Path]) -> None:
    """Refuse an --out that is, or lies inside, an input folder, holds links where flow writes, or (without
    --overwrite) is a non-empty folder that is not a flow set of ``miex flow``."""
    from miex.core.fileio import FLOW_KIND, guard_output_folder

    guard_output_folder(
        out,
        overwrite,
        kind=FLOW_KIND,
        command="miex flow",
        writes=FLOW_WRITES,
        trees=(".parts", "release"),
        inputs=inputs,
        replaced="its flow files, index.parquet and release",
    )


def _inputs(source: Path, out: str) -> list[Path]:
    """The folders and files flow reads: a MiE-X folder, or a clip table and the folders holding its onset and apex
    frames (a missing frame is reported per clip; its folder is not read). A clip whose output path would leave --out
    is refused here, before the folder is created."""
    if source.is_dir():
        return [source]
    from miex.data.corpora.clips import read_clip_table
    from miex.data.faces.flow_clips import flow_targets

    table = read_clip_table(source)
    flow_targets(table, out, source)
    frames = {frame for row in table.itertuples(index=False) for frame in (row.frames[row.onset], row.frames[row.apex])}
    return [source, *sorted({Path(frame).parent for frame in frames if Path(frame).is_file()})]


def run(args: argparse.Namespace) -> int:
    from miex.core.fileio import FLOW_KIND, OutputLock, mark_output
    from miex.data.faces.flow import FlowParams, tvl1_available

    if args.method == "tvl1" and not tvl1_available():
        raise MiexInputError("--method tvl1 needs opencv-contrib (cv2.optflow); install it or use --method farneback")
    workers = checked_workers(args.workers)
    params = FlowParams(method=args.method)
    source = Path(args.input)
    if not source.exists():
        raise MiexInputError("INPUT not found: give a clip table from `miex corpus` or a MiE-X folder", file=source)
    if source.is_file():
        from miex.data.corpora.clips import FLOW_IMAGES, table_holds

        if table_holds(source) == FLOW_IMAGES:
            raise MiexInputError(
                "this clip table already holds flow images (`miex corpus flow-images`): train on it as it is",
                file=source,
            )
    model = None if source.is_dir() else resolve_model(args)
    inputs = _inputs(source, args.out)
    guard_flow_folder(args.out, args.overwrite, inputs)  # before the lock: a refused folder gets no .miex/
    with OutputLock(args.out):
        guard_flow_folder(args.out, args.overwrite, inputs)  # again under the lock
        mark_output(args.out, FLOW_KIND, "miex flow")
        if source.is_dir():
            out = Path(args.out) / "release" if args.release else Path(args.out)
            count = export_miex(source, out, params, args.layout, workers)
            print(f"{count} MiE-X flow image(s) ({args.method}, {args.layout}) -> {out}")
            return 0
        return _clip_flows(source, args, params, model, workers)


def _clip_flows(source: Path, args: argparse.Namespace, params, model: str | None, workers: int) -> int:
    """The clip-table path: flow per clip, its index, and with --release the composite images."""
    from miex.data.faces.flow_clips import compute_clip_flows

    index, report = compute_clip_flows(
        source, args.out, params=params, size=args.size, model_path=model, workers=workers
    )
    print(report.render())
    if index.empty:
        raise MiexInputError(
            "0 clip flows computed, no index written: every clip failed (the problems above say "
            "why); check the clip table's frames and that faces are visible on the onset frames",
            file=source,
        )
    print(f"{len(index)} clip flow(s) ({args.method}) -> {args.out}")
    if args.release:
        count = export_clip_flows(source, index, Path(args.out), args.layout)
        print(f"{count} composite flow image(s) ({args.layout}) -> {Path(args.out) / 'release'}")
    return 0


def export_clip_flows(table_path: Path, index, out: Path, layout: str) -> int:
    """The release images of the clips ``miex flow`` computed (their saved flow, so nothing is computed twice)."""
    import numpy as np

    from miex.data.corpora.clips import read_clip_table
    from miex.data.faces.flow_image import flow_to_image
    from miex.data.faces.flow_release import ReleaseEntry, write_release

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


def export_miex(folder: Path, out: Path, params, layout: str, workers: int) -> int:
    """Every MiE-X pair's composite flow image (cached), as a release: dataset ``miex``, subject = the identity,
    clip = the sample id."""
    from miex.data.faces.flow_cache import dataset_pairs, pairs_to_images
    from miex.data.faces.flow_release import ReleaseEntry, write_release
    from miex.data.steps import load

    try:
        dataset = load(folder)
    except ValueError as error:  # datasets' "Instruction 'train' corresponds to no data", no data files, ...
        raise MiexInputError(
            f"not a MiE-X folder with rows ({first_line(error)}); give a folder `miex synthesize` made", file=folder
        ) from error
    needed = [c for c in ("identity", "sample_id") if c not in dataset.column_names]
    if needed:
        raise MiexInputError(f"MiE-X folder lacks column(s) {needed} that name the exported files", file=folder)
    if len(dataset) == 0:
        raise MiexInputError(
            "not a MiE-X folder with rows: nothing to export (remake it with `miex synthesize`)", file=folder
        )
    images = pairs_to_images(dataset_pairs(dataset), params, workers=workers, desc="MiE-X flow images")
    entries = [
        ReleaseEntry("miex", str(identity), str(sample), int(label))
        for identity, sample, label in zip(dataset["identity"], dataset["sample_id"], dataset["label"], strict=True)
    ]
    return write_release(out, entries, images, layout=layout)
