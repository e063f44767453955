"""Build an identity pool of aligned face crops with ``index.parquet`` (the face-pool contract of CONTRIBUTING.md).

Every input image gives zero or more crops; images with no face, with several faces (unless ``multi``), unreadable,
tiny, or exact duplicates of an earlier image (same bytes, or same decoded pixels) are reported and skipped.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..corpora.common import IMAGE_SUFFIXES
from ..corpora.report import ValidationReport
from ..errors import MiexInputError
from .align import DEFAULT_SIZE, align_face
from .image import pixel_digest, read_rgb
from .landmarker import FaceAnalyzer
from .runner import failure, run_resumable

INDEX_NAME = "index.parquet"
PARTS_DIR = ".parts"
CROPS_DIR = "crops"


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
    identity: str
    out_dir: str
    size: int
    multi: bool


def list_images(root: Path) -> list[Path]:
    """Images below ``root`` (or ``root`` itself), sorted by path so the output order never depends on the disk."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise MiexInputError("no such file or folder", file=root)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def save_png(path: Path, rgb: np.ndarray) -> None:
    """Write a PNG atomically (a killed run never leaves a truncated crop behind a finished marker)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    Image.fromarray(rgb).save(temporary, format="PNG")
    temporary.replace(path)


def crop_faces(analyzer: FaceAnalyzer, job: CropJob) -> dict[str, Any]:
    """Worker: one source image -> its crop rows, or the reason it gave none."""
    try:
        rgb = read_rgb(job.source)
    except MiexInputError as error:
        return {"rows": [], "skip": error.reason, "digest": None}
    faces = analyzer.analyze(rgb)
    digest = pixel_digest(rgb)
    if not faces:
        return {"rows": [], "skip": "no face found", "digest": digest}
    if len(faces) > 1 and not job.multi:
        return {"rows": [], "skip": f"{len(faces)} faces found (pass --multi to keep every face)", "digest": digest}
    rows = []
    for number, face in enumerate(faces):
        crop, landmarks, _ = align_face(rgb, face.landmarks, job.size)
        file = f"{CROPS_DIR}/{Path(job.relative).with_suffix('').as_posix()}_{number}.png"
        save_png(Path(job.out_dir) / file, crop)
        identity = job.identity if len(faces) == 1 else f"{job.identity}#{number}"
        rows.append({
            "file": file, "identity": identity, "source": job.source,
            "landmarks": [float(v) for v in landmarks.reshape(-1)],
            "yaw": face.yaw, "pitch": face.pitch, "roll": face.roll, "score": face.score,
            "width": job.size, "height": job.size,
        })  # fmt: skip
    return {"rows": rows, "skip": None, "digest": digest}


def _identity(relative: Path, identity_from: str) -> str:
    """Per image by default (no two pictures silently merged into one person), or the parent folder's name."""
    if identity_from == "folder":
        return relative.parent.name or "."
    return relative.with_suffix("").as_posix()


def _byte_duplicates(images: list[Path], report: ValidationReport) -> list[Path]:
    """Drop images whose bytes equal an earlier image's (reported): no work is spent on them."""
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
        kept.append(image)
    return kept


def build_face_pool(
    source: str | PathLike[str],
    out_dir: str | PathLike[str],
    *,
    size: int = DEFAULT_SIZE,
    multi: bool = False,
    identity_from: str = "image",
    model_path: str | PathLike[str] | None = None,
    workers: int = 1,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Crop every face below ``source`` into ``out_dir`` and write ``out_dir/index.parquet``; resumable."""
    root, out = Path(source), Path(out_dir)
    report = ValidationReport()
    images = _byte_duplicates(list_images(root), report)
    base = root if root.is_dir() else root.parent
    jobs = []
    for image in images:
        relative = image.relative_to(base)
        job = CropJob(str(image), relative.as_posix(), _identity(relative, identity_from), str(out), size, multi)
        jobs.append((relative.as_posix(), job))
    factory = functools.partial(FaceAnalyzer, model_path, max_faces=8 if multi else 2)
    options = {"size": size, "multi": multi, "identity_from": identity_from}
    results = run_resumable(crop_faces, jobs, parts_dir=out / PARTS_DIR, options=options, factory=factory,
                            workers=workers, desc="faces")  # fmt: skip
    index = _merge(jobs, results, out, report)
    write_index(index, out / INDEX_NAME)
    return index, report


def _merge(
    jobs: list[tuple[str, CropJob]], results: list[dict[str, Any]], out: Path, report: ValidationReport
) -> pd.DataFrame:
    """Rows in input order; a later image with the same decoded pixels as an earlier one is dropped with its crops."""
    rows: list[dict[str, Any]] = []
    first_with: dict[str, str] = {}
    for (_, job), result in zip(jobs, results, strict=True):
        reason = failure(result) or result["skip"]
        if reason:
            report.add(reason, file=job.source)
            continue
        digest = result["digest"]
        if digest in first_with:
            report.add(f"exact duplicate (same pixels) of {first_with[digest]}", file=job.source)
            for row in result["rows"]:
                (out / row["file"]).unlink(missing_ok=True)
            continue
        first_with[digest] = job.source
        rows.extend(result["rows"])
    return pd.DataFrame(rows, columns=pool_schema().names)


def write_index(index: pd.DataFrame, path: Path) -> None:
    arrow = pa.Table.from_pandas(index, schema=pool_schema(), preserve_index=False)
    temporary = path.with_name(path.name + ".tmp")
    pq.write_table(arrow, temporary)
    temporary.replace(path)


def read_index(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a face pool's ``index.parquet``; missing columns are an error naming them."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("face-pool index not found (make one with `miex faces SRC --out DIR`)", file=path)
    frame = pq.read_table(path).to_pandas()
    missing = [name for name in pool_schema().names if name not in frame.columns]
    if missing:
        raise MiexInputError(f"not a face-pool index: missing columns {missing}", file=path)
    return frame

