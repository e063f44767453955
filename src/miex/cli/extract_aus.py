"""``miex extract-aus SRC --out AUS.parquet``: the tidy AU table (0 to 5) of images, frames or a clip table's clips.

SRC is an image, a folder of images (or frames), or a clip table from ``miex corpus``: then the onset and apex frames
(every frame with ``--all-frames``) of each clip are measured after aligning the clip with its onset transform.
Backends: ``mediapipe`` -- ``--method calibrated`` (default: geometry and blendshape features mapped per AU onto
OpenFace 2.2 readings by a shipped calibration; the AU table records each AU's measured agreement), ``geometry``
(landmark motion explained by the FACS motion model) or ``blendshapes`` (a coarse proxy), the last two UNCALIBRATED
unless ``--calibration``; a clip's frames are measured as change from its onset frame, so a micro-expression's AUs are
the expression, not the resting face; or ``openface`` (CSVs made elsewhere: the paper-exact path).
``--openface-layout DIR`` prepares OpenFace's input instead of measuring: the clips' aligned frames in
``DIR/<dataset>/<subject>/<clip>/`` with a manifest, and the commands to run. docs/reference.md §AU extraction says what
each AU measures.

Examples:
  miex extract-aus clips.parquet --out aus.parquet                  # onset/apex of every clip, change from onset
  miex extract-aus photos/ --out photo_aus.parquet                  # single images, each on its own
  miex extract-aus clips.parquet --backend openface --openface-dir of/ --out aus.parquet
  miex extract-aus clips.parquet --openface-layout of/              # frames for OpenFace; prints its commands
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from miex.cli.faces import MIN_CROP, add_common_options, checked_workers, crop_side, resolve_model
from miex.core.errors import MiexInputError
from miex.core.fileio import add_overwrite_option
from miex.data.faces.align import DEFAULT_SIZE

EXAMPLES = """\
examples:
  miex extract-aus clips.parquet --out aus.parquet                  # onset/apex of every clip, change from onset
  miex extract-aus photos/ --out photo_aus.parquet                  # single images, each on its own
  miex extract-aus clips.parquet --backend openface --openface-dir of/ --out aus.parquet
  miex extract-aus clips.parquet --openface-layout of/              # frames for OpenFace; prints its commands
then: miex au-pool --mie-clips clips.parquet --mie-aus aus.parquet --expert 500 --out au_pool.parquet
"""
MIN_SIZE = MIN_CROP
"""Smallest aligned crop the landmarker still reads a face in."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("source", metavar="SRC", help="image, image/frame folder, or clip table (.parquet)")
    parser.add_argument("--out", metavar="AUS.parquet", help="output AU table (required unless --openface-layout)")
    add_overwrite_option(parser, "it with the AU table")
    parser.add_argument("--backend", choices=("mediapipe", "openface"), default="mediapipe")
    parser.add_argument(
        "--method",
        choices=("calibrated", "geometry", "blendshapes"),
        default="calibrated",
        help="mediapipe: how landmarks become AUs (default: calibrated, fitted to OpenFace 2.2)",
    )
    parser.add_argument(
        "--reference",
        choices=("onset", "none"),
        default="onset",
        help="clips: measure change from the onset frame (default) or each frame on its own",
    )
    parser.add_argument(
        "--calibration",
        metavar="CAL.json",
        help="calibrated: a feature calibration (v2) instead of the shipped one; geometry/blendshapes: a per-AU "
        "linear calibration (v1) of their estimate",
    )
    parser.add_argument(
        "--openface-dir",
        metavar="DIR",
        help="OpenFace CSVs: <image stem>.csv per image, <clip>.csv per clip (FeatureExtraction on its frames), or "
        "the CSVs of an --openface-layout (found through its manifest); with --openface-layout: where OpenFace will "
        "write them (default: the layout folder)",
    )
    parser.add_argument(
        "--openface-layout",
        metavar="DIR",
        help="clip tables: write the aligned onset/apex frames (all with --all-frames) for OpenFace into "
        "DIR/<dataset>/<subject>/<clip>/ with a manifest, print the OpenFace commands and the read-back; no AU table",
    )
    parser.add_argument("--all-frames", action="store_true", help="measure every frame of each clip")
    parser.add_argument(
        "--size",
        type=crop_side,
        default=DEFAULT_SIZE,
        help=f"aligned crop side the AUs are measured on (default: {DEFAULT_SIZE})",
    )
    add_common_options(parser)


def _check_source(args: argparse.Namespace) -> Path:
    """A readable SRC and a sane worker count."""
    from miex.core.fileio import read_parquet

    source = Path(args.source)
    if not source.exists():
        raise MiexInputError("SRC not found: give an image, a folder of images, or a clip table", file=source)
    if source.is_file() and source.suffix.lower() == ".parquet":
        read_parquet(source, "clip table", columns=[])  # a corrupt table is one clear line, not a pyarrow traceback
    args.workers = checked_workers(args.workers)
    return source


def _check_inputs(args: argparse.Namespace) -> None:
    """Before any worker starts: a readable SRC, a sane worker count, an --out that destroys nothing."""
    from miex.data.aus.table import AU_TABLE_KIND, guard_table_output

    source = _check_source(args)
    if args.out is None:
        raise MiexInputError("--out AUS.parquet is required (unless --openface-layout DIR)", field="--out")
    guard_table_output(args.out, AU_TABLE_KIND, inputs=[source, args.calibration], overwrite=args.overwrite)
    if source.is_dir() and Path(args.out).resolve().is_relative_to(source.resolve()):
        raise MiexInputError(
            f"--out lies inside the image folder {source} it measures: the table and its .parts "
            "would mix into the input; choose an --out outside it",
            file=args.out,
        )


def _lay_out(args: argparse.Namespace) -> int:
    """``--openface-layout DIR``: the clips' aligned frames for OpenFace, its commands, and the read-back."""
    import shlex

    from miex.data.faces.extract_aus import is_clip_table
    from miex.data.faces.openface_layout import COMMANDS_FILE, LAYOUT_MANIFEST, lay_out_clips

    if not is_clip_table(_check_source(args)):
        raise MiexInputError(
            "--openface-layout lays out a clip table's clips: give the clip table `miex corpus` wrote", file=args.source
        )
    measuring = {
        "--backend openface": args.backend == "openface",
        "--calibration": bool(args.calibration),
        "--method": args.method != "calibrated",
        "--reference": args.reference != "onset",
    }
    refused = [option for option, given in measuring.items() if given]
    if refused:
        raise MiexInputError(
            f"{', '.join(refused)}: for measuring, not for --openface-layout (which only prepares "
            "OpenFace's input; read its CSVs back with --backend openface --openface-dir)",
            field=refused[0],
        )
    folder = Path(args.openface_layout)
    csv_dir = Path(args.openface_dir) if args.openface_dir else folder
    manifest, report, commands = lay_out_clips(
        args.source, folder, csv_dir=csv_dir, all_frames=args.all_frames, size=args.size, model_path=resolve_model(args)
    )
    print(report.render())
    if manifest.empty:
        raise MiexInputError(f"no frame was laid out ({len(report)} problem(s) listed above)", file=args.source)
    clips = manifest.groupby(["dataset", "subject", "clip"]).ngroups
    print(f"{len(manifest)} frame(s) of {clips} clip(s) -> {folder} ({LAYOUT_MANIFEST}, {COMMANDS_FILE})")
    print("run OpenFace 2.2 on every clip folder (one CSV per clip):")
    print("\n".join(f"  {line}" for line in commands))
    read_back = [
        "miex",
        "extract-aus",
        args.source,
        "--backend",
        "openface",
        "--openface-dir",
        str(csv_dir),
        "--out",
        args.out or "aus.parquet",
    ] + (["--all-frames"] if args.all_frames else [])
    print(f"then read the CSVs back into an AU table:\n  {shlex.join(read_back)}")
    return 0


def _nothing_measured(args: argparse.Namespace, report_lines: int, clips: bool) -> MiexInputError:
    """Exit 2 with what failed and what to check: an empty AU table would only fail later, in au-pool."""
    Path(args.out).unlink(missing_ok=True)  # a 0-row table is not an output: leave nothing to be mistaken for one
    if report_lines == 0:
        what = "the clip table has no clips" if clips else "SRC holds no images (jpg, png, bmp, webp)"
        return MiexInputError(f"nothing to measure: {what}", file=args.source)
    from miex.data.faces.openface_layout import LAYOUT_MANIFEST, has_layout

    if args.backend == "openface" and clips and has_layout(args.openface_dir):
        check = f"that the CSVs {LAYOUT_MANIFEST} names exist (run the FeatureExtraction commands the layout printed)"
    elif args.backend == "openface":
        check = (
            f"that {args.openface_dir} holds one readable OpenFace CSV per {'clip (<clip>.csv)' if clips else 'image'}"
        )
    elif clips:
        check = (
            "that the clip table's frame paths exist from this folder (run where `miex corpus` ran, or remake "
            "the clip table) and show a face"
        )
    else:
        check = "that the images show a frontal face"
    return MiexInputError(
        f"no AU row was measured ({report_lines} problem(s) listed above); check {check}", file=args.source
    )


def run(args: argparse.Namespace) -> int:
    from miex.data.faces.au_extractors import Calibration, FeatureCalibration
    from miex.data.faces.extract_aus import Backend, extract_aus, is_clip_table
    from miex.data.faces.openface_layout import has_layout, read_layout_aus

    if args.openface_layout:
        return _lay_out(args)
    _check_inputs(args)
    if args.backend == "openface" and has_layout(args.openface_dir) and is_clip_table(Path(args.source)):
        table, report = read_layout_aus(args.source, args.out, args.openface_dir, all_frames=args.all_frames)
        return _finish(args, table, report, "openface")
    if args.backend == "openface":
        if not args.openface_dir:
            raise MiexInputError("--backend openface needs --openface-dir DIR (the CSVs OpenFace wrote)")
        backend = Backend("openface", openface_dir=args.openface_dir)
    else:
        if args.calibration and args.method == "calibrated":
            FeatureCalibration.load(args.calibration)  # a bad file fails here, before any worker starts
        elif args.calibration:
            Calibration.load(args.calibration)
        backend = Backend(
            "mediapipe",
            model_path=resolve_model(args),
            calibration=args.calibration,
            method=args.method,
            reference=args.reference,
        )
    table, report = extract_aus(
        args.source, args.out, backend=backend, all_frames=args.all_frames, size=args.size, workers=args.workers
    )
    return _finish(args, table, report, backend.extractor_name())


def _finish(args: argparse.Namespace, table: Any, report: Any, extractor: str) -> int:
    """Print the report and what was measured; nothing measured is exit 2."""
    from miex.data.faces.extract_aus import is_clip_table

    print(report.render())
    if table.empty:
        raise _nothing_measured(args, len(report), is_clip_table(Path(args.source)))
    names = ", ".join(sorted(set(table["extractor"]))) or extractor
    print(f"{len(table)} row(s) measured with {names} -> {args.out}")
    return 0
