"""``miex eval-generator``: AU fidelity and identity preservation of a generator, as JSON, a summary and a PNG grid.

Examples:
  miex eval-generator --generator warp --faces pool/ --out warp.json            # a `miex faces` output folder
  miex eval-generator --generator warp --out warp.json                          # the built-in astronaut only
  miex eval-generator --generator ganimation --checkpoint run/generator --faces pool/ --out gan.json

Per AU it reports: correlation and slope of judged change against the requested intensity, the change at the top
intensity, whether every face's sweep is monotonic, the delivered landmark motion (re-detected / intended) and the
leak into every other AU (declared anatomical couplings are marked). The report names its judge and the judge's
blind spots (docs/reference.md §Warp generator).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", choices=("warp", "ganimation"), required=True)
    parser.add_argument("--checkpoint", help="GANimation: save_pretrained folder or official/replicate .pth")
    parser.add_argument("--faces", help="face pool folder (`miex faces` output), its crops/, or a folder of aligned "
                        "crops (default: the skimage astronaut)")  # fmt: skip
    parser.add_argument("--out", required=True, help="report JSON path (its folder is created)")
    parser.add_argument("--grid", help="PNG grid path (default: REPORT with .png)")
    parser.add_argument("--size", type=int, default=128, help="face crop size")
    parser.add_argument("--max-faces", type=int, default=8, help="faces evaluated (default 8)")
    parser.add_argument("--grid-faces", type=int, default=4, help="faces shown in the grid (default 4)")
    parser.add_argument(
        "--judge",
        choices=("geometry", "blendshapes"),
        default="geometry",
        help="how frames are re-measured (default: geometry; see the report's judge entry)",
    )
    parser.add_argument("--intensities", type=float, nargs="+", default=[0, 1, 2, 3, 4, 5])
    parser.add_argument("--no-appearance", action="store_true", help="warp: no wrinkle/furrow shading")
    parser.add_argument("--device", help="torch device (default: cuda when available)")


def run(args: argparse.Namespace) -> int:
    from ..generators import load_generator
    from ..generators.fidelity import astronaut_face, evaluate_generator, load_faces, summary, write_report

    if args.generator == "warp":
        generator = load_generator("warp", appearance=not args.no_appearance)
    else:
        generator = load_generator("ganimation", checkpoint=args.checkpoint, device=args.device)
    size = getattr(generator, "image_size", None) or args.size
    faces = astronaut_face(size) if args.faces is None else load_faces(args.faces, size, args.max_faces)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid = Path(args.grid) if args.grid else out.with_suffix(".png")
    report = evaluate_generator(generator, faces, intensities=args.intensities, grid_path=grid, judge=args.judge,
                                grid_faces=args.grid_faces)  # fmt: skip
    write_report(report, out)
    print(summary(report))
    print(f"report -> {out}, grid -> {grid}")
    return 0
