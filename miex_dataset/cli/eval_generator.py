"""``miex eval-generator``: AU fidelity and identity preservation of a generator, as JSON plus a PNG grid."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", choices=("warp", "ganimation"), required=True)
    parser.add_argument("--checkpoint", help="GANimation: save_pretrained folder or official/replicate .pth")
    parser.add_argument("--faces", help="folder of aligned face crops (default: the skimage astronaut, cropped)")
    parser.add_argument("--out", required=True, help="report JSON path")
    parser.add_argument("--grid", help="PNG grid path (default: REPORT with .png)")
    parser.add_argument("--size", type=int, default=128, help="face crop size")
    parser.add_argument("--max-faces", type=int, default=8)
    parser.add_argument("--intensities", type=float, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--shading", action="store_true", help="warp: darken AU06/AU09 regions")
    parser.add_argument("--device", help="torch device (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    from ..generators import load_generator
    from ..generators.fidelity import astronaut_face, evaluate_generator, load_faces, write_report

    if args.generator == "warp":
        generator = load_generator("warp", shading=args.shading)
    else:
        generator = load_generator("ganimation", checkpoint=args.checkpoint, device=args.device)
    size = getattr(generator, "image_size", None) or args.size
    faces = astronaut_face(size) if args.faces is None else load_faces(args.faces, size, args.max_faces)
    grid = Path(args.grid) if args.grid else Path(args.out).with_suffix(".png")
    report = evaluate_generator(generator, faces, intensities=args.intensities, grid_path=grid)
    logger.info("mean AU correlation %s, identity %s", report["mean_correlation"], report["identity"])
    write_report(report, args.out)
    return 0
