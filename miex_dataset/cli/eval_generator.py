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
import os
from pathlib import Path

from ..errors import MiexInputError
from ..fileio import describe_os_error, guard_output_file, same_file

EPILOG = """\
examples:
  miex eval-generator --generator warp --out reports/warp.json --intensities 0 2.5 5   # the astronaut, ~10 s on CPU
  miex eval-generator --generator warp --faces pool/ --out reports/warp.json           # a `miex faces` output folder
  miex eval-generator --generator ganimation --checkpoint run/generator --faces pool/ --out reports/gan.json

writes the report JSON (--out), a PNG grid of the sweeps (--grid) and prints a per-AU summary; the report names its
judge and the judge's blind spots.
"""


def writable_output(path: Path, option: str) -> Path:
    """Check an output file and create its folder before any work (a folder, a path under a file or an unwritable
    place fails now, not after a minute of rendering)."""
    guard_output_file(path, option=option)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MiexInputError(f"{option}: cannot create its folder: {describe_os_error(error)}", file=path) from error
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise MiexInputError(f"{option}: its folder is not writable; choose another path", file=path)
    return path


def grid_output(args: argparse.Namespace, out: Path) -> Path:
    """The grid path: an image format PIL can write, never the report itself (checked before any folder is made)."""
    from PIL import Image

    grid = Path(args.grid) if args.grid else out.with_suffix(".png")
    Image.init()
    known = Image.registered_extensions()
    if known.get(grid.suffix.lower()) not in Image.SAVE:
        raise MiexInputError("--grid needs an image extension PIL can write (.png, .jpg, .webp)", file=grid)
    if grid == out or (grid.exists() and same_file(grid, out)):
        raise MiexInputError("--grid is the report path; give the grid its own file (e.g. .png)", file=grid)
    return grid


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("--generator", choices=("warp", "ganimation"), required=True)
    parser.add_argument("--checkpoint", help="GANimation: save_pretrained folder or official/replicate .pth")
    parser.add_argument("--faces", help="face pool folder (`miex faces` output), its crops/, or a folder of aligned "
                        "crops (default: the skimage astronaut)")  # fmt: skip
    parser.add_argument("--out", required=True, help="report JSON path (its folder is created)")
    parser.add_argument("--grid", help="PNG grid path (default: REPORT with .png)")
    parser.add_argument("--size", type=int, default=128, help="face crop size")
    parser.add_argument("--max-faces", type=int, default=8, help="faces evaluated (default 8, at least 1)")
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
    from ..generators.mediapipe_face import close_shared_analyzer

    # every input and output is checked before the long work, and inputs before any output folder is made
    out = guard_output_file(args.out, option="--out")
    grid = grid_output(args, out)
    if args.size < 16:
        raise MiexInputError(f"--size must be at least 16 pixels, got {args.size}", field="--size")
    if args.faces is not None:
        load_faces(args.faces, 16, args.max_faces)  # a bad --faces fails before the generator loads
    if args.generator == "warp":
        generator = load_generator("warp", appearance=not args.no_appearance)
    else:
        generator = load_generator("ganimation", checkpoint=args.checkpoint, device=args.device)
    writable_output(out, "--out")
    writable_output(grid, "--grid")
    size = getattr(generator, "image_size", None) or args.size
    faces = astronaut_face(size) if args.faces is None else load_faces(args.faces, size, args.max_faces)
    try:
        report = evaluate_generator(generator, faces, intensities=args.intensities, grid_path=grid,
                                    judge=args.judge, grid_faces=args.grid_faces)  # fmt: skip
    finally:
        close_shared_analyzer()  # MediaPipe's landmarker is closed here, success or error, never at interpreter exit
    write_report(report, out)
    print(summary(report))
    print(f"report -> {out}, grid -> {grid}")
    return 0
