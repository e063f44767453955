"""Build an identity pool of aligned face crops with ``index.parquet`` (the face-pool contract of CONTRIBUTING.md).

Every input image gives zero or more crops; images with no face, with several faces (unless ``multi``), unreadable,
tiny, or exact duplicates of an earlier image (same bytes, or same decoded pixels) are reported and skipped.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from miex.core.errors import MiexInputError
from miex.core.fileio import FACE_POOL_KIND, atomic_path, mark_output, read_json, read_parquet
from miex.core.paths import resolve_paths, store_paths, with_paths_rule
from miex.core.report import ValidationReport
from miex.data.faces.align import DEFAULT_SIZE, align_face
from miex.data.faces.image import FACE_IMAGE_SUFFIXES, pixel_digest, read_rgb
from miex.data.faces.landmarker import FaceAnalyzer, FaceRecord, crop_problem, mesh_problem
from miex.data.faces.mesh import NUM_LANDMARKS
from miex.data.faces.runner import OPTIONS_NAME, failure, part_path, run_resumable

INDEX_NAME = "index.parquet"
PARTS_DIR = ".parts"
CROPS_DIR = "crops"
CROP_DIGEST_CHARS = 10
"""Hex characters of the source file's sha256 in a crop's name."""
DEFAULT_MAX_FACES = 8
"""With --multi, faces kept per image (largest first); more are reported."""
DETECT_MARGIN = 8
"""Faces detected beyond the number kept, so that faces over the limit are reported rather than never seen."""
QUALITY_GATE_VERSION = 1
"""Recorded in the resume options: parts made before (or by another version of) the face-quality gate are not mixed
with new ones."""


def pool_schema() -> pa.Schema:
    return pa.schema(
        [
            pa.field("file", pa.string()),
            pa.field("identity", pa.string()),
            pa.field("source", pa.string()),
            pa.field("landmarks", pa.list_(pa.float32())),
            pa.field("yaw", pa.float32()),
            pa.field("pitch", pa.float32()),
            pa.field("roll", pa.float32()),
            pa.field("score", pa.float32()),
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
        ],
        metadata={b"miex.table": b"face_pool"},
    )


@dataclass(frozen=True)
class CropJob:
    source: str
    relative: str
    digest: str  # sha256 of the source file's bytes: crops and resume parts belong to this content only
    identity: str
    out_dir: str
    size: int
    multi: bool
    max_faces: int


@dataclass
class ImageScan:
    """What a folder scan found: the image files to read and, per suffix, how many other files were not read."""

    images: list[Path]
    other_suffixes: Counter[str] = field(default_factory=Counter)

    def describe_others(self) -> str:
        """One report line for the files not read, naming what would have been read."""
        counts = ", ".join(f"{suffix} ({count})" for suffix, count in sorted(self.other_suffixes.items()))
        total = sum(self.other_suffixes.values())
        return (
            f"{total} file(s) not read, their suffix is not an image type: {counts}; "
            f"read are {', '.join(sorted(FACE_IMAGE_SUFFIXES))} (convert others to PNG)"
        )


def scan_images(root: Path, *, exclude: Sequence[Path] = ()) -> ImageScan:
    """Images below ``root`` (or ``root`` itself), sorted by path so the output order never depends on the disk.

    Symlinked sub-folders are followed, each real folder once (a link to an ancestor cannot loop); folders in
    ``exclude`` (the output folder) are skipped so a rerun never crops its own crops."""
    if root.is_file():
        return ImageScan([root])
    if not root.is_dir():
        raise MiexInputError("no such file or folder", file=root)
    excluded = {path.resolve() for path in exclude}
    visited: set[tuple[int, int]] = set()
    scan = ImageScan([])
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = Path(folder).resolve()
        status = real.stat()
        if real in excluded or (status.st_dev, status.st_ino) in visited:
            subfolders.clear()
            continue
        visited.add((status.st_dev, status.st_ino))
        for name in files:
            path = Path(folder) / name
            suffix = path.suffix.lower()
            if suffix in FACE_IMAGE_SUFFIXES:
                scan.images.append(path)
            else:
                scan.other_suffixes[suffix or "(no suffix)"] += 1
    scan.images.sort()
    return scan


def list_images(root: Path) -> list[Path]:
    """The image files :func:`scan_images` finds below ``root``."""
    return scan_images(root).images


def save_png(path: Path, rgb: np.ndarray) -> None:
    """Write a PNG atomically (a killed run never leaves a truncated crop behind a finished marker)."""
    from PIL import Image

    with atomic_path(path, ".png") as temporary:
        Image.fromarray(rgb).save(temporary, format="PNG")


def crop_name(relative: str, digest: str, number: int) -> str:
    """``crops/<relative path with its suffix>.<digest>_<n>.png``: unique per source file (``a.jpg`` and ``a.png``
    never share a crop) and per content (an edited photo gets a new crop, never the old one's pixels)."""
    return f"{CROPS_DIR}/{relative}.{digest[:CROP_DIGEST_CHARS]}_{number}.png"


def _where(face: FaceRecord) -> str:
    x0, y0, x1, y1 = face.box
    return f"at ({x0:.0f},{y0:.0f})-({x1:.0f},{y1:.0f})"


def crop_faces(analyzer: FaceAnalyzer, job: CropJob) -> dict[str, Any]:
    """Worker: one source image -> its crop rows, or the reason it gave none; every detected face not kept is listed
    in ``dropped`` with why (too small, cut off, implausible landmarks, several faces, beyond ``max_faces``)."""
    try:
        rgb = read_rgb(job.source)
    except MiexInputError as error:
        return {"rows": [], "skip": error.reason, "digest": None, "dropped": []}
    digest = pixel_digest(rgb)
    detected = analyzer.analyze(rgb)
    if not detected:
        return {"rows": [], "skip": "no face found", "digest": digest, "dropped": []}
    height, width = rgb.shape[:2]
    dropped: list[str] = []
    accepted = []
    for number, face in enumerate(detected, 1):
        problem = mesh_problem(face, width, height)
        if problem is None:
            crop, landmarks, _ = align_face(rgb, face.landmarks, job.size, border="soft")
            problem = crop_problem(analyzer, crop, landmarks)
        if problem:
            dropped.append(f"face {number} of {len(detected)} {_where(face)} dropped: {problem}")
        else:
            accepted.append((face, crop, landmarks))
    if len(accepted) > 1 and not job.multi:
        return {
            "rows": [],
            "skip": f"{len(accepted)} faces found (pass --multi to keep every face)",
            "digest": digest,
            "dropped": dropped,
        }
    for face, _, _ in accepted[job.max_faces :]:
        dropped.append(f"face {_where(face)} dropped: beyond --max-faces {job.max_faces} (larger faces kept)")
    accepted = accepted[: job.max_faces]
    if not accepted:
        return {"rows": [], "skip": "no usable face (see the dropped faces)", "digest": digest, "dropped": dropped}
    rows = []
    for number, (face, crop, landmarks) in enumerate(accepted):
        file = crop_name(job.relative, job.digest, number)
        save_png(Path(job.out_dir) / file, crop)
        identity = job.identity if len(accepted) == 1 else f"{job.identity}#{number}"
        rows.append(
            {
                "file": file,
                "identity": identity,
                "source": job.source,
                "landmarks": [float(v) for v in landmarks.reshape(-1)],
                "yaw": face.yaw,
                "pitch": face.pitch,
                "roll": face.roll,
                "score": face.score,
                "width": job.size,
                "height": job.size,
            }
        )
    return {"rows": rows, "skip": None, "digest": digest, "dropped": dropped}


def _identity(relative: Path, identity_from: str) -> str:
    """Per image by default (no two pictures silently merged into one person), or the parent folder's name."""
    if identity_from == "folder":
        return relative.parent.name or "."
    return relative.with_suffix("").as_posix()


def _byte_digests(images: list[Path], report: ValidationReport) -> list[tuple[Path, str]]:
    """Each readable image with the sha256 of its bytes; one whose bytes equal an earlier image's is dropped
    (reported), so no work is spent on it."""
    seen: dict[str, Path] = {}
    kept = []
    for image in images:
        try:
            digest = hashlib.sha256(image.read_bytes()).hexdigest()
        except OSError as error:
            report.add(f"cannot read file ({error})", file=image)
            continue
        if digest in seen:
            report.add(f"exact duplicate (same bytes) of {seen[digest]}", file=image)
            continue
        seen[digest] = image
        kept.append((image, digest))
    return kept


def build_face_pool(
    source: str | PathLike[str],
    out_dir: str | PathLike[str],
    *,
    size: int = DEFAULT_SIZE,
    multi: bool = False,
    max_faces: int = DEFAULT_MAX_FACES,
    identity_from: str = "image",
    model_path: str | PathLike[str] | None = None,
    workers: int = 1,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Crop every face below ``source`` into ``out_dir`` and write ``out_dir/index.parquet``; resumable.

    Resume is keyed on each file's relative path AND the sha256 of its bytes: another photo under the same name, or
    an edited one, is cropped anew; crops and parts no current image uses are removed."""
    root, out = Path(source), Path(out_dir)
    if max_faces < 1:
        raise MiexInputError(f"--max-faces must be at least 1, got {max_faces}")
    report = ValidationReport()
    scan = scan_images(root, exclude=[out])
    if scan.other_suffixes:
        report.add(scan.describe_others(), file=root)
    base = root if root.is_dir() else root.parent
    jobs = []
    for image, digest in _byte_digests(scan.images, report):
        relative = image.relative_to(base)
        job = CropJob(
            str(image),
            relative.as_posix(),
            digest,
            _identity(relative, identity_from),
            str(out),
            size,
            multi,
            max_faces if multi else 1,
        )
        jobs.append((f"{job.relative}\n{digest}", job))
    parts_dir = out / PARTS_DIR
    mark_output(out, FACE_POOL_KIND, "miex faces")  # before any crop: the folder is a face pool from now on
    _forget_parts_with_missing_crops(parts_dir, jobs, out)
    factory = functools.partial(FaceAnalyzer, model_path, max_faces=max_faces + DETECT_MARGIN)
    options = {
        "size": size,
        "multi": multi,
        "max_faces": max_faces,
        "identity_from": identity_from,
        "quality_gate": QUALITY_GATE_VERSION,
    }
    results = run_resumable(
        crop_faces, jobs, parts_dir=parts_dir, options=options, factory=factory, workers=workers, desc="faces"
    )
    index = _merge(jobs, results, report)
    if index.empty:  # an index of no face would read as a finished, empty pool
        (out / INDEX_NAME).unlink(missing_ok=True)
    else:
        write_index(index, out / INDEX_NAME)
    _remove_unused(out, parts_dir, jobs, set(index["file"]))
    return index, report


def _forget_parts_with_missing_crops(parts_dir: Path, jobs: list[tuple[str, CropJob]], out: Path) -> None:
    """A finished part whose crop files are gone (deleted by hand, or removed as a duplicate's in an earlier run) is
    redone rather than trusted."""
    for key, _ in jobs:
        path = part_path(parts_dir, key)
        if path.is_file() and not all((out / row["file"]).is_file() for row in read_json(path)["rows"]):
            path.unlink()


def _remove_unused(out: Path, parts_dir: Path, jobs: list[tuple[str, CropJob]], referenced: set[str]) -> None:
    """Delete the crops the index does not reference and the parts of images no longer in the source (another set,
    an edited photo): what stays in ``out`` is exactly this run's pool."""
    crops = out / CROPS_DIR
    if crops.is_dir():
        for crop in crops.rglob("*.png"):
            if crop.relative_to(out).as_posix() not in referenced:
                crop.unlink()
    wanted = {part_path(parts_dir, key).name for key, _ in jobs}
    for part in parts_dir.glob("*.json"):
        if part.name != OPTIONS_NAME and part.name not in wanted:
            part.unlink()


def _merge(jobs: list[tuple[str, CropJob]], results: list[dict[str, Any]], report: ValidationReport) -> pd.DataFrame:
    """Rows in input order; a later image with the same decoded pixels as an earlier one is dropped (its crops are
    then unreferenced and removed); every dropped face of every image is reported."""
    rows: list[dict[str, Any]] = []
    first_with: dict[str, str] = {}
    for (_, job), result in zip(jobs, results, strict=True):
        for line in result.get("dropped", []):
            report.add(line, file=job.source)
        reason = failure(result) or result["skip"]
        if reason:
            report.add(reason, file=job.source)
            continue
        digest = result["digest"]
        if digest in first_with:
            report.add(f"exact duplicate (same pixels) of {first_with[digest]}", file=job.source)
            continue
        first_with[digest] = job.source
        rows.extend({**row, "source": job.source} for row in result["rows"])  # a part may come from another folder
    return pd.DataFrame(rows, columns=pool_schema().names)


def write_index(index: pd.DataFrame, path: Path) -> None:
    """Write ``index.parquet`` with ``file`` and ``source`` stored by the rule of :mod:`miex.core.paths`
    (relative to the pool folder when inside it, else absolute), so the pool works from any folder."""
    path = Path(path)
    stored = index.assign(
        file=store_paths(index["file"].map(lambda name: path.parent / str(name)), path.parent),
        source=store_paths(index["source"].map(str), path.parent),
    )
    schema = pool_schema()
    schema = schema.with_metadata(with_paths_rule(schema.metadata))
    arrow = pa.Table.from_pandas(stored, schema=schema, preserve_index=False)
    with atomic_path(path) as temporary:
        pq.write_table(arrow, temporary, write_page_checksum=True)


def read_index(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a face pool's ``index.parquet``; missing columns are an error naming them.

    ``file`` stays as stored (relative to the pool folder, or absolute: resolve it with :func:`crop_paths`);
    ``source`` comes back absolute."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("face-pool index not found (make one with `miex faces SRC --out DIR`)", file=path)
    arrow = read_parquet(path, "face-pool index")
    frame = arrow.to_pandas()
    missing = [name for name in pool_schema().names if name not in frame.columns]
    if missing:
        raise MiexInputError(f"not a face-pool index: missing columns {missing}", file=path)
    frame["source"] = resolve_paths(frame["source"].map(str), path.parent)
    check_landmarks(frame, path)
    return frame


LANDMARK_MARGIN = 0.25
"""How far (fraction of the crop side) a landmark may lie beyond the crop's edge: a chin or a turned cheek may leave
an aligned crop a little (~1 % on the astronaut), a value far outside is not a landmark of this crop."""


def check_landmarks(index: pd.DataFrame, path: Path) -> None:
    """Refuse, naming file, row and field, a pool row whose crop size is not positive or whose landmarks are not 478
    finite points inside its crop: synthesis warps the face along them, and a NaN or far-off point gives an apex
    equal to its onset that still carries AU labels."""
    for row, (values, width, height) in enumerate(
        zip(index["landmarks"], index["width"], index["height"], strict=True)
    ):
        if not (np.isfinite(width) and np.isfinite(height) and width >= 1 and height >= 1):
            raise MiexInputError(
                f"crop size {width}x{height} is not a size in pixels; remake the pool with `miex faces`",
                file=path,
                row=row,
                field="width",
            )
        points = np.asarray([] if values is None else values, dtype=np.float64)
        if points.size != NUM_LANDMARKS * 2:
            raise MiexInputError(
                f"expected {NUM_LANDMARKS * 2} landmark values (x, y of {NUM_LANDMARKS} points), "
                f"got {points.size}; remake the pool with `miex faces`",
                file=path,
                row=row,
                field="landmarks",
            )
        points = points.reshape(NUM_LANDMARKS, 2)
        if not np.isfinite(points).all():
            point = int(np.flatnonzero(~np.isfinite(points).all(axis=1))[0])
            raise MiexInputError(
                f"landmark {point} is not a finite number ({points[point].tolist()}); remake the "
                "pool with `miex faces`",
                file=path,
                row=row,
                field="landmarks",
            )
        size = np.array([width, height], dtype=np.float64)
        outside = ((points < -LANDMARK_MARGIN * size) | (points > (1 + LANDMARK_MARGIN) * size)).any(axis=1)
        if outside.any():
            point = int(np.flatnonzero(outside)[0])
            x, y = points[point]
            raise MiexInputError(
                f"landmark {point} at ({x:.6g}, {y:.6g}) lies outside the {int(width)}x{int(height)} "
                "crop; remake the pool with `miex faces`",
                file=path,
                row=row,
                field="landmarks",
            )


def check_crop_size(crop: str | PathLike[str], width: int, height: int, *, index: Path, row: int) -> None:
    """Refuse a crop whose pixel size is not the one its index row records (a crop replaced or resized after
    `miex faces`): its landmarks are in the index's pixels and would land on the wrong parts of the face. Only the
    image header is read; an unreadable or missing crop is reported where it is decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(crop) as image:
            actual = image.size
    except (OSError, UnidentifiedImageError, ValueError):
        return
    if actual != (int(width), int(height)):
        raise MiexInputError(
            f"crop is {actual[0]}x{actual[1]} px but row {row} of {index} says {int(width)}x"
            f"{int(height)} (its landmarks are in those pixels): the crop was replaced or resized; "
            "remake the pool with `miex faces`",
            file=crop,
        )


def crop_paths(index: pd.DataFrame, folder: str | PathLike[str]) -> list[str]:
    """The absolute path of every crop of a pool index read from ``folder`` (its ``file`` column resolved)."""
    return resolve_paths(index["file"].map(str), folder)
