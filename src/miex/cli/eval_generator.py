"""``miex eval-generator``: AU fidelity and identity preservation of a generator, as JSON, a summary and a PNG grid.

Examples:
  miex eval-generator --generator warp --faces pool/ --out warp.json            # a `miex faces` output folder
  miex eval-generator --generator warp --out warp.json                          # the built-in astronaut only
  miex eval-generator --generator ganimation --checkpoint run/generator --faces pool/ --out gan.json

Per AU it reports: correlation and slope of judged change against the requested intensity, the change at the top
intensity, whether every face's sweep is monotonic, the delivered landmark motion (re-detected / intended) and the
leak into every other AU (declared anatomical couplings are marked). The report names its judge and the judge's
blind spots (docs/reference.md §Warp generator): the built-in geometry judge is a self-consistency check of the
motion model; OpenFace 2.2, the reference, joins through files (``--export DIR``, then ``--judgement CSV ...``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from miex.core.errors import MiexInputError
from miex.core.fileio import (
    EVAL_EXPORT_KIND,
    OutputLock,
    add_overwrite_option,
    describe_os_error,
    guard_output_file,
    mark_output,
    same_file,
)

EPILOG = """\
examples:
  miex eval-generator --generator warp --out reports/warp.json --intensities 0 2.5 5   # the astronaut, ~10 s on CPU
  miex eval-generator --generator warp --faces pool/ --out reports/warp.json           # a `miex faces` output folder
  miex eval-generator --generator ganimation --checkpoint run/generator --faces pool/ --out reports/gan.json
  miex eval-generator --generator warp --faces pool/ --out reports/warp.json --export renders/   # + every render
  miex eval-generator --judgement renders/openface --export renders/ --out reports/openface.json  # OpenFace's CSVs
  miex eval-generator --generator warp --warp-model my_motion.json --faces pool/ --out reports/mine.json --export r2/

writes the report JSON (--out), a PNG grid of the sweeps (--grid) and prints a per-AU summary; the report names its
judge and the judge's blind spots. --export DIR also writes every input face and render as PNG with manifest.csv and
prints the OpenFace 2.2 commands that judge them; --judgement reads the CSVs they write (no rendering).
"""
DEFAULT_INTENSITIES = (0, 1, 2, 3, 4, 5)
RENDER_OPTIONS = (
    "generator",
    "checkpoint",
    "warp_model",
    "revision",
    "faces",
    "grid",
    "judge",
    "intensities",
    "aus",
    "device",
)
"""Options that only shape a rendering run (refused with --judgement rather than silently ignored)."""


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
    from miex.data.aus.schema import AU_NAMES
    from miex.data.generators.devices import parse_device

    parser.epilog = EPILOG
    parser.add_argument(
        "--generator", choices=("warp", "ganimation"), help="the generator to render with (needed unless --judgement)"
    )
    parser.add_argument("--checkpoint", help="GANimation: save_pretrained folder or official/replicate .pth")
    parser.add_argument(
        "--warp-model",
        help="warp: the motion model to measure, as `miex synthesize --warp-model` takes it (a JSON file, a "
        "save_pretrained folder or a Hub repo ORG/NAME; default: the built-in one); the report records its sha256, "
        "so a variant can be judged against the shipped model before it renders a dataset",
    )
    parser.add_argument("--revision", help="branch, tag or commit of a Hub repo given as --checkpoint or --warp-model")
    parser.add_argument(
        "--faces",
        help="face pool folder (`miex faces` output), its crops/, or a folder of aligned "
        "crops (default: the built-in face, the aligned astronaut that the embedded default renders)",
    )
    parser.add_argument("--out", required=True, help="report JSON path (its folder is created)")
    parser.add_argument("--grid", help="PNG grid path (default: REPORT with .png)")
    parser.add_argument("--size", type=int, default=128, help="face crop size")
    parser.add_argument("--max-faces", type=int, default=8, help="faces evaluated (default 8, at least 1)")
    parser.add_argument("--grid-faces", type=int, default=4, help="faces shown in the grid (default 4)")
    parser.add_argument(
        "--judge",
        choices=("geometry", "blendshapes"),
        help="how frames are re-measured (default: geometry; see the report's judge entry)",
    )
    parser.add_argument("--intensities", type=float, nargs="+", help="levels of each sweep (default: 0 1 2 3 4 5)")
    parser.add_argument(
        "--aus",
        nargs="+",
        choices=AU_NAMES,
        metavar="AU",
        help="sweep only these AUs (default: all 17; a prototype needs all its AUs)",
    )
    parser.add_argument(
        "--export",
        metavar="DIR",
        help="write every input face and render as PNG with manifest.csv "
        "(for OpenFace); with --judgement: the export its CSVs judged",
    )
    parser.add_argument(
        "--judgement",
        nargs="+",
        metavar="CSV",
        help="OpenFace-format AU CSVs (or folders of them) "
        "of an --export DIR's renders: score them instead of rendering",
    )
    parser.add_argument("--no-appearance", action="store_true", help="warp: no wrinkle/furrow shading")
    add_overwrite_option(parser, "its export.json, manifest.csv and face renders", option="--export")
    parser.add_argument(
        "--device", type=parse_device, help="torch device: cpu, cuda, cuda:N, mps (default: cuda when available)"
    )


def run(args: argparse.Namespace) -> int:
    if args.judgement:
        return run_judgement(args)
    from miex.data.generators import load_generator
    from miex.data.generators.external_judge import check_export_folder
    from miex.data.generators.fidelity import builtin_face, evaluate_generator, load_faces, summary, write_report
    from miex.data.generators.mediapipe_face import close_shared_analyzer

    # every input and output is checked before the long work, and inputs before any output folder is made
    if args.generator is None:
        raise MiexInputError(
            "--generator is required (or --judgement CSV ... --export DIR to score a judge's CSVs)", field="--generator"
        )
    out = guard_output_file(args.out, option="--out")
    grid = grid_output(args, out)
    if args.size < 16:
        raise MiexInputError(f"--size must be at least 16 pixels, got {args.size}", field="--size")
    if args.faces is not None:
        load_faces(args.faces, 16, args.max_faces)  # a bad --faces fails before the generator loads
    if args.export is not None:
        check_export_folder(args.export, overwrite=args.overwrite, inputs=[args.faces])
    if args.generator == "warp":
        if args.checkpoint is not None:
            raise MiexInputError("--checkpoint is GANimation's; the warp takes --warp-model", field="--checkpoint")
        generator = load_generator("warp", args.warp_model, revision=args.revision, appearance=not args.no_appearance)
    else:
        if args.warp_model is not None:
            raise MiexInputError("--warp-model is the warp's; GANimation takes --checkpoint", field="--warp-model")
        generator = load_generator("ganimation", args.checkpoint, revision=args.revision, device=args.device)
    writable_output(out, "--out")
    writable_output(grid, "--grid")
    size = getattr(generator, "image_size", None) or args.size
    faces = builtin_face(size) if args.faces is None else load_faces(args.faces, size, args.max_faces)
    try:
        with contextlib.ExitStack() as held:
            if args.export is not None:  # one run at a time writes the export; marked once claimed under the lock
                held.enter_context(OutputLock(args.export))
                check_export_folder(args.export, overwrite=args.overwrite, inputs=[args.faces])
                mark_output(args.export, EVAL_EXPORT_KIND, "miex eval-generator")
            report = evaluate_generator(
                generator,
                faces,
                intensities=args.intensities or DEFAULT_INTENSITIES,
                grid_path=grid,
                judge=args.judge or "geometry",
                grid_faces=args.grid_faces,
                aus=args.aus,
                export=args.export,
            )
    finally:
        close_shared_analyzer()  # MediaPipe's landmarker is closed here, success or error, never at interpreter exit
    write_report(report, out)
    print(summary(report))
    print(f"report -> {out}, grid -> {grid}")
    if args.export is not None:
        from miex.data.generators.external_judge import export_instructions

        print(f"renders -> {args.export} (manifest.csv)")
        print(export_instructions(Path(args.export), len(faces)))
    return 0


def run_judgement(args: argparse.Namespace) -> int:
    """``--judgement CSV ... --export DIR``: score a previous export from the CSVs a judge wrote; nothing renders."""
    from miex.data.generators.external_judge import judge_export
    from miex.data.generators.fidelity import summary, write_report

    given = [f"--{name.replace('_', '-')}" for name in RENDER_OPTIONS if getattr(args, name) is not None]
    if given:
        raise MiexInputError(
            f"{', '.join(given)}: for rendering, not for --judgement (which scores a previous export)", field=given[0]
        )
    if args.export is None:
        raise MiexInputError(
            "--judgement needs --export DIR: the export whose renders the CSVs judged", field="--export"
        )
    out = guard_output_file(args.out, option="--out")
    report = judge_export(args.export, args.judgement)
    write_report(report, writable_output(out, "--out"))
    print(summary(report))
    print(f"report -> {out}")
    return 0
