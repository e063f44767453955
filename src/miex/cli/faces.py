"""``miex faces SRC --out DIR``: an identity pool of aligned face crops plus ``DIR/index.parquet``.

Images with no face, several faces (without ``--multi``), unreadable, tiny or duplicate images are skipped and listed
at the end, and so is every detected face that was dropped (too small, cut off, implausible landmarks, over
``--max-faces``). Rerunning with the same options only processes images whose content has no finished part yet.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from miex.core.errors import MiexInputError
from miex.core.fileio import add_overwrite_option
from miex.data.faces.align import DEFAULT_SIZE
from miex.data.faces.image import FACE_IMAGE_SUFFIXES
from miex.data.faces.pool import DEFAULT_MAX_FACES
from miex.data.faces.runner import default_workers

logger = logging.getLogger(__name__)

EXAMPLES = """\
examples:
  miex faces PHOTOS/ --out pool/                           # one face per photo -> pool/crops/, pool/index.parquet
  miex faces people/ --out pool/ --identity-from folder    # people/<name>/<photo>: one identity per folder
  miex faces group_photos/ --out pool/ --multi --max-faces 4 --workers 2
"""


MIN_CROP = 32
"""Smallest aligned crop side (pixels) the landmarker still finds a face in (8 px crops show none)."""
MAX_CROP = 1024
"""Largest aligned crop side: the pipeline works at 128 px; far larger crops only cost memory and disk."""


def crop_side(text: str) -> int:
    """An argparse type: a crop side in pixels within [MIN_CROP, MAX_CROP] (``--size 1`` would fail per image)."""
    try:
        value = int(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from error
    if not MIN_CROP <= value <= MAX_CROP:
        raise argparse.ArgumentTypeError(f"the crop side must lie between {MIN_CROP} and {MAX_CROP} px, got {value}")
    return value


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options every face command shares: workers and where the landmarker bundle comes from."""
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="processes, at least 1 (default and most: the cores this process may use)",
    )
    parser.add_argument(
        "--landmarker",
        metavar="TASK",
        help="MediaPipe's face_landmarker.task (default: $MIEX_FACE_LANDMARKER, else the installed one; see docs)",
    )
    parser.add_argument(
        "--download-landmarker", action="store_true", help="fetch face_landmarker.task into the user cache if missing"
    )


def checked_workers(requested: int) -> int:
    """``--workers`` as used: below 1 is refused (0 or -1 never silently means "the default"), more than the cores
    this process may use is capped with a one-line warning (each worker holds a landmarker of ~250 MB)."""
    if requested < 1:
        raise MiexInputError(f"--workers must be at least 1, got {requested} (leave it out to use every core)")
    cores = default_workers()
    if requested > cores:
        logger.warning(
            "--workers %d is more than the %d core(s) this process may use: using %d", requested, cores, cores
        )
        return cores
    return requested


def resolve_model(args: argparse.Namespace) -> str:
    """Resolve the bundle once in the parent (download included) so workers only open a known file."""
    from miex.data.faces.bundle import resolve_bundle

    return str(resolve_bundle(args.landmarker, allow_download=args.download_landmarker))


def configure(parser: argparse.ArgumentParser) -> None:
    suffixes = ", ".join(sorted(FACE_IMAGE_SUFFIXES))
    parser.add_argument(
        "source",
        metavar="SRC",
        help=f"an image, or a folder searched recursively (symlinked folders too) for {suffixes} files; other files "
        "are counted in the report; EXIF rotation and 16-bit images are handled",
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output folder (crops/ and index.parquet); may lie inside SRC, it is never scanned itself",
    )
    parser.add_argument(
        "--size",
        type=crop_side,
        default=DEFAULT_SIZE,
        help=f"crop side in pixels, {MIN_CROP} to {MAX_CROP} (default {DEFAULT_SIZE})",
    )
    parser.add_argument("--multi", action="store_true", help="keep every face of a multi-face image")
    parser.add_argument(
        "--max-faces",
        type=int,
        default=DEFAULT_MAX_FACES,
        metavar="N",
        help=f"with --multi, keep at most N faces per image, largest first; the rest are reported "
        f"(default {DEFAULT_MAX_FACES})",
    )
    parser.add_argument(
        "--identity-from",
        choices=("image", "folder"),
        default="image",
        help="identity per image (default) or the parent folder's name (<person>/<image> trees)",
    )
    add_overwrite_option(parser, "its crops/ and index.parquet")
    add_common_options(parser)
    parser.epilog = EXAMPLES


def guard_pool_folder(out: str, overwrite: bool) -> None:
    """Refuse an --out that holds links where a pool is written, or (without --overwrite) anything but a face pool."""
    from miex.core.fileio import FACE_POOL_KIND, guard_output_folder
    from miex.data.faces.pool import CROPS_DIR, INDEX_NAME, PARTS_DIR

    guard_output_folder(
        out,
        overwrite,
        kind=FACE_POOL_KIND,
        command="miex faces",
        writes=(INDEX_NAME, PARTS_DIR, CROPS_DIR),
        trees=(PARTS_DIR, CROPS_DIR),
        replaced="its crops/ and index.parquet",
    )


def run(args: argparse.Namespace) -> int:
    from miex.core.fileio import OutputLock, same_file
    from miex.data.faces.pool import build_face_pool

    workers, model = checked_workers(args.workers), resolve_model(args)  # a bad option touches no folder
    if Path(args.source).is_dir() and same_file(args.source, args.out):  # inside SRC is fine: it is never scanned
        raise MiexInputError(
            "--out is the source folder itself: the crops would land among the photos; choose an "
            "--out of its own (it may lie inside SRC)",
            file=args.out,
        )
    guard_pool_folder(args.out, args.overwrite)  # before the lock: a refused folder gets no .miex/
    with OutputLock(args.out):
        guard_pool_folder(args.out, args.overwrite)  # again under the lock; build_face_pool then marks it
        index, report = build_face_pool(
            args.source,
            args.out,
            size=args.size,
            multi=args.multi,
            max_faces=args.max_faces,
            identity_from=args.identity_from,
            model_path=model,
            workers=workers,
        )
    print(report.render())
    if index.empty:
        raise MiexInputError(
            "no usable face in any image (see the report above); give photos with one clear, upright face each",
            file=args.source,
        )
    print(f"{len(index)} face crop(s), {index['identity'].nunique()} identities -> {args.out}/index.parquet")
    return 0
