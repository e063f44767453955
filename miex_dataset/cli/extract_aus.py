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

from ..errors import MiexInputError
from ..faces.align import DEFAULT_SIZE
from .faces import add_common_options, resolve_model


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SRC", help="image, image/frame folder, or clip table (.parquet)")
    parser.add_argument("--out", required=True, metavar="AUS.parquet", help="output AU table")
    parser.add_argument("--backend", choices=("mediapipe", "openface"), default="mediapipe")
    parser.add_argument("--method", choices=("geometry", "blendshapes"), default="geometry",
                        help="mediapipe: how landmarks become AUs (default: geometry)")
    parser.add_argument("--reference", choices=("onset", "none"), default="onset",
                        help="clips, geometry: measure change from the onset frame (default) or against resting norms")
    parser.add_argument("--calibration", metavar="CAL.json", help="per-AU linear calibration of the mediapipe estimate")
    parser.add_argument(
        "--openface-dir", metavar="DIR",
        help="OpenFace CSVs: <image stem>.csv per image, or <clip>.csv per clip (FeatureExtraction on its frames)",
    )  # fmt: skip
    parser.add_argument("--all-frames", action="store_true", help="measure every frame of each clip")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="aligned crop side the AUs are measured on")
    add_common_options(parser)


def run(args: argparse.Namespace) -> int:
    from ..faces.au_extract import Calibration
    from ..faces.extract import Backend, extract_aus

    if args.backend == "openface":
        if not args.openface_dir:
            raise MiexInputError("--backend openface needs --openface-dir DIR (the CSVs OpenFace wrote)")
        backend = Backend("openface", openface_dir=args.openface_dir)
    else:
        if args.calibration:
            Calibration.load(args.calibration)  # a bad file fails here, before any worker starts
        backend = Backend("mediapipe", model_path=resolve_model(args), calibration=args.calibration,
                          method=args.method, reference=args.reference)
    table, report = extract_aus(
        args.source, args.out, backend=backend, all_frames=args.all_frames, size=args.size, workers=args.workers
    )
    print(report.render())
    names = ", ".join(sorted(set(table["extractor"]))) or backend.extractor_name()
    print(f"{len(table)} row(s) measured with {names} -> {args.out}")
    return 0
