"""``miex extract-aus SRC --out AUS.parquet``: the tidy AU table (0 to 5) of images, frames or a clip table's clips.

SRC is an image, a folder of images (or frames), or a clip table from ``miex corpus``: then the onset and apex frames
(every frame with ``--all-frames``) of each clip are measured after aligning the clip with its onset transform.
Backends: ``mediapipe`` -- ``--method geometry`` (default: landmark motion explained by the FACS motion model; a clip's
frames are measured as change from its onset frame, so a micro-expression's AUs are the expression, not the resting
face) or ``--method blendshapes`` (the older proxy) -- UNCALIBRATED unless ``--calibration``; or ``openface`` (CSVs
made elsewhere: the paper-exact path). docs/reference.md §AU extraction says what each AU measures.

Examples:
  miex extract-aus clips.parquet --out aus.parquet                  # onset/apex of every clip, change from onset
  miex extract-aus photos/ --out photo_aus.parquet                  # single images: compared with resting norms
  miex extract-aus clips.parquet --backend openface --openface-dir of/ --out aus.parquet
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import MiexInputError
from ..faces.align import DEFAULT_SIZE
from .faces import add_common_options, resolve_model
from .plan import whole_number

EXAMPLES = """\
examples:
  miex extract-aus clips.parquet --out aus.parquet                  # onset/apex of every clip, change from onset
  miex extract-aus photos/ --out photo_aus.parquet                  # single images: compared with resting norms
  miex extract-aus clips.parquet --backend openface --openface-dir of/ --out aus.parquet
then: miex au-pool --mie-clips clips.parquet --mie-aus aus.parquet --expert 500 --out au_pool.parquet
"""
MIN_SIZE = 32
"""Smallest aligned crop the landmarker still reads a face in."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("source", metavar="SRC", help="image, image/frame folder, or clip table (.parquet)")
    parser.add_argument("--out", required=True, metavar="AUS.parquet", help="output AU table")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out that is not an AU table made by miex"
    )
    parser.add_argument("--backend", choices=("mediapipe", "openface"), default="mediapipe")
    parser.add_argument(
        "--method",
        choices=("geometry", "blendshapes"),
        default="geometry",
        help="mediapipe: how landmarks become AUs (default: geometry)",
    )
    parser.add_argument(
        "--reference",
        choices=("onset", "none"),
        default="onset",
        help="clips, geometry: measure change from the onset frame (default) or against resting norms",
    )
    parser.add_argument("--calibration", metavar="CAL.json", help="per-AU linear calibration of the mediapipe estimate")
    parser.add_argument(
        "--openface-dir", metavar="DIR",
        help="OpenFace CSVs: <image stem>.csv per image, or <clip>.csv per clip (FeatureExtraction on its frames)",
    )  # fmt: skip
    parser.add_argument("--all-frames", action="store_true", help="measure every frame of each clip")
    parser.add_argument(
        "--size",
        type=whole_number(MIN_SIZE),
        default=DEFAULT_SIZE,
        help=f"aligned crop side the AUs are measured on (default: {DEFAULT_SIZE})",
    )
    add_common_options(parser)


def _check_inputs(args: argparse.Namespace) -> None:
    """Before any worker starts: a readable SRC, a sane worker count, an --out that destroys nothing."""
    from ..aus.table import AU_TABLE_KIND, guard_table_output
    from ..fileio import read_parquet

    source = Path(args.source)
    if not source.exists():
        raise MiexInputError("SRC not found: give an image, a folder of images, or a clip table", file=source)
    if source.is_file() and source.suffix.lower() == ".parquet":
        read_parquet(source, "clip table", columns=[])  # a corrupt table is one clear line, not a pyarrow traceback
    if args.workers < 1:
        raise MiexInputError(f"--workers must be >= 1, got {args.workers}")
    guard_table_output(args.out, AU_TABLE_KIND, inputs=[source], overwrite=args.overwrite)


def _nothing_measured(args: argparse.Namespace, report_lines: int, clips: bool) -> MiexInputError:
    """Exit 2 with what failed and what to check: an empty AU table would only fail later, in au-pool."""
    Path(args.out).unlink(missing_ok=True)  # a 0-row table is not an output: leave nothing to be mistaken for one
    if report_lines == 0:
        what = "the clip table has no clips" if clips else "SRC holds no images (jpg, png, bmp, webp)"
        return MiexInputError(f"nothing to measure: {what}", file=args.source)
    if args.backend == "openface":
        check = f"that {args.openface_dir} holds one OpenFace CSV per {'clip (<clip>.csv)' if clips else 'image'}"
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
    from ..faces.au_extract import Calibration
    from ..faces.extract import Backend, extract_aus, is_clip_table

    _check_inputs(args)
    if args.backend == "openface":
        if not args.openface_dir:
            raise MiexInputError("--backend openface needs --openface-dir DIR (the CSVs OpenFace wrote)")
        backend = Backend("openface", openface_dir=args.openface_dir)
    else:
        if args.calibration:
            Calibration.load(args.calibration)  # a bad file fails here, before any worker starts
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
    print(report.render())
    if table.empty:
        raise _nothing_measured(args, len(report), is_clip_table(Path(args.source)))
    names = ", ".join(sorted(set(table["extractor"]))) or backend.extractor_name()
    print(f"{len(table)} row(s) measured with {names} -> {args.out}")
    return 0
