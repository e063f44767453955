"""AU tables from an image folder or a clip table (``miex extract-aus``), resumable and in a deterministic order.

Clip frames are aligned with the ONSET frame's transform (:func:`align_clip` semantics) before the mediapipe proxy
measures them; the openface backend only looks up CSV rows that OpenFace computed elsewhere.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from miex.core.errors import MiexInputError
from miex.core.report import ValidationReport
from miex.data.aus.schema import AU_NAMES
from miex.data.aus.table import write_au_table
from miex.data.corpora.clips import CLIP_COLUMNS, read_clip_table
from miex.data.faces.align import DEFAULT_SIZE, Alignment, alignment_for
from miex.data.faces.au_extractors import (
    DEFAULT_CALIBRATION,
    Calibration,
    FeatureCalibration,
    MediapipeAUExtractor,
    OpenFaceAUReader,
    extractor_name,
)
from miex.data.faces.image import read_rgb
from miex.data.faces.landmarker import FaceAnalyzer, FaceRecord
from miex.data.faces.pool import list_images
from miex.data.faces.runner import content_key, failure, run_resumable

Rows = list[dict[str, Any]]
Problems = list[dict[str, Any]]


@dataclass(frozen=True)
class AUJob:
    """One image (``frames`` of length 1, no clip) or one clip with the positions to measure."""

    frames: tuple[str, ...]
    positions: tuple[int, ...]
    frame_numbers: tuple[int, ...] = ()
    dataset: str = ""
    subject: str = ""
    clip: str = ""
    onset: int = 0
    size: int = DEFAULT_SIZE

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.subject}/{self.clip}" if self.clip else self.frames[0]


@dataclass
class Backend:
    """What a worker holds: the proxy extractor (mediapipe) or the CSV reader (openface). Picklable recipe."""

    kind: str
    model_path: str | None = None
    calibration: str | None = None
    openface_dir: str | None = None
    method: str = "calibrated"
    reference: str = "onset"  # clips: "onset" (change from the onset frame) or "none" (resting norms)
    _tool: Any = field(default=None, init=False, repr=False)

    def build(self) -> Backend:
        """A copy holding the live tool (called once per worker process)."""
        built = replace(self)
        if self.kind == "openface":
            built._tool = OpenFaceAUReader(self.openface_dir or ".")
        else:
            features = self.feature_calibration()
            calibration = Calibration.load(self.calibration) if self.calibration and features is None else None
            analyzer = FaceAnalyzer(self.model_path, max_faces=1)
            built._tool = MediapipeAUExtractor(analyzer, calibration, method=self.method, features=features)
        return built

    def feature_calibration(self) -> FeatureCalibration | None:
        """The calibrated method's map (``calibration`` or the shipped default); None for other methods."""
        if self.kind != "mediapipe" or self.method != "calibrated":
            return None
        return FeatureCalibration.load(self.calibration or DEFAULT_CALIBRATION)

    def reliability(self) -> dict[str, float] | None:
        """Per-AU agreement with OpenFace the AU table records, where it was measured (the calibrated method)."""
        features = self.feature_calibration()
        return features.reliability_map() if features is not None else None

    def close(self) -> None:
        """Close the worker's landmarker before interpreter exit (mediapipe's late clean-up prints noise)."""
        getattr(getattr(self._tool, "analyzer", None), "close", lambda: None)()

    def extractor_name(self, *, clip: bool = False) -> str:
        """What the AU table records per row: backend, method, calibration and the neutral reference used."""
        if self.kind == "openface":
            return "openface"
        reference = self.reference if clip and self.reference != "none" else "norms"
        return extractor_name(self.method, calibrated=self.calibration is not None, reference=reference)


def _row(job: AUJob, position: int, aus: np.ndarray, extractor: str) -> dict[str, Any]:
    frame = job.frame_numbers[position] if job.clip else -1
    keys = {
        "path": job.frames[position],
        "dataset": job.dataset,
        "subject": job.subject,
        "clip": job.clip,
        "frame": int(frame),
        "extractor": extractor,
    }
    return {**keys, **dict(zip(AU_NAMES, map(float, aus), strict=True))}


def measure(backend: Backend, job: AUJob) -> dict[str, Any]:
    """Worker: the rows of one image or clip, plus a problem per frame that gave none (never a wrong row)."""
    rows: Rows = []
    problems: Problems = []
    try:
        if backend.kind == "openface":
            _measure_openface(backend, job, rows, problems)
        else:
            _measure_mediapipe(backend, job, rows, problems)
    except MiexInputError as error:
        rows.clear()
        problems.append(_problem(error, job.frames[job.onset]))
    return {"rows": rows, "problems": problems}


def _problem(error: MiexInputError, frame: str) -> dict[str, Any]:
    """A frame's problem as stored in its part: the file the error names (an OpenFace CSV, with its line and column)
    or else the frame."""
    return {"file": error.file or frame, "reason": error.reason, "row": error.row, "field": error.field}


def _measure_openface(backend: Backend, job: AUJob, rows: Rows, problems: Problems) -> None:
    reader: OpenFaceAUReader = backend._tool
    for position in job.positions:
        try:
            aus = reader.clip_aus(job.clip, position) if job.clip else reader.image_aus(job.frames[position])
        except MiexInputError as error:
            problem = _problem(error, job.frames[position])
            if problem not in problems:  # a broken CSV is one problem, not one per frame read from it
                problems.append(problem)
            continue
        rows.append(_row(job, position, aus, backend.extractor_name()))


def _measure_mediapipe(backend: Backend, job: AUJob, rows: Rows, problems: Problems) -> None:
    extractor: MediapipeAUExtractor = backend._tool
    onset = read_rgb(job.frames[job.onset])
    faces = extractor.analyzer.analyze(onset)
    if not faces:
        raise MiexInputError("no face found" + (" on the onset frame" if job.clip else ""), file=job.frames[job.onset])
    alignment = alignment_for(faces[0].landmarks, job.size)
    reference = None
    if job.clip and backend.reference == "onset":  # a micro-expression is a change: measure it from the onset
        aligned_onset = extractor.analyzer.analyze(alignment.apply(onset))
        if not aligned_onset:
            raise MiexInputError("no face found in the aligned onset frame", file=job.frames[job.onset])
        reference = aligned_onset[0]
    name = backend.extractor_name(clip=bool(job.clip))
    for position in job.positions:
        if reference is not None and position == job.onset:  # already measured: the reference itself
            rows.append(_row(job, position, extractor.from_face(reference, reference), name))
            continue
        problem = _measure_frame(extractor, job, position, onset.shape, alignment, rows, name, reference)
        if problem:
            problems.append({"file": job.frames[position], "reason": problem})


def _measure_frame(
    extractor: MediapipeAUExtractor,
    job: AUJob,
    position: int,
    shape: tuple[int, ...],
    alignment: Alignment,
    rows: Rows,
    name: str,
    reference: FaceRecord | None = None,
) -> str | None:
    """Append the row of one frame and return None, or return why the frame has no row."""
    try:
        rgb = read_rgb(job.frames[position])
    except MiexInputError as error:
        return error.reason
    if rgb.shape != shape:
        return f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the onset frame {shape[1]}x{shape[0]}: frames differ in size"
    aus = extractor.extract(alignment.apply(rgb), reference)
    if aus is None:
        return "no face found in the aligned frame"
    rows.append(_row(job, position, aus, name))
    return None


def _openface_csv(backend: Backend, job: AUJob) -> Path:
    """The CSV :class:`OpenFaceAUReader` reads for ``job``: ``<clip>.csv``, or ``<image stem>.csv``."""
    name = job.clip if job.clip else Path(job.frames[0]).stem
    return Path(backend.openface_dir or ".") / f"{name}.csv"


def is_clip_table(path: Path) -> bool:
    """A ``.parquet`` whose columns include the clip table's."""
    if path.suffix.lower() != ".parquet" or not path.is_file():
        return False
    return set(CLIP_COLUMNS) <= set(pq.read_schema(path).names)


def image_jobs(root: Path, size: int) -> list[tuple[str, AUJob]]:
    return [
        (content_key(str(image), [image]), AUJob(frames=(str(image),), positions=(0,), size=size))
        for image in list_images(root)
    ]


def clip_jobs(table: pd.DataFrame, *, all_frames: bool, size: int) -> list[tuple[str, AUJob]]:
    jobs = []
    for row in table.itertuples(index=False):
        count = len(row.frames)
        positions = tuple(range(count)) if all_frames else tuple(sorted({int(row.onset), int(row.apex)}))
        job = AUJob(
            frames=tuple(row.frames),
            positions=positions,
            frame_numbers=tuple(row.frame_numbers),
            dataset=row.dataset,
            subject=row.subject,
            clip=row.clip,
            onset=int(row.onset),
            size=size,
        )
        used = [job.frames[position] for position in sorted({*positions, job.onset})]
        jobs.append((content_key(job.name, used), job))
    return jobs


def extract_aus(
    source: str | PathLike[str],
    out: str | PathLike[str],
    *,
    backend: Backend,
    all_frames: bool = False,
    size: int = DEFAULT_SIZE,
    workers: int = 1,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Measure AUs for every image below ``source`` or every clip of a clip table; write the AU table ``out``."""
    source, out = Path(source), Path(out)
    if is_clip_table(source):
        jobs = clip_jobs(read_clip_table(source), all_frames=all_frames, size=size)
    else:
        jobs = image_jobs(source, size)
    if backend.kind == "openface":  # an OpenFace CSV rewritten (or fixed) since the last run is read again
        jobs = [(f"{key}\n{content_key('openface', [_openface_csv(backend, job)])}", job) for key, job in jobs]
    options = {
        "backend": backend.kind,
        "calibration": backend.calibration,
        "openface_dir": backend.openface_dir,
        "method": backend.method,
        "reference": backend.reference,
        "all_frames": all_frames,
        "size": size,
        "source": str(source),
    }
    results = run_resumable(
        measure,
        jobs,
        parts_dir=out.with_name(out.name + ".parts"),
        options=options,
        factory=functools.partial(Backend.build, backend),
        workers=workers,
        desc="extract-aus",
    )
    report = ValidationReport()
    rows: list[dict[str, Any]] = []
    for (_, job), result in zip(jobs, results, strict=True):
        if failure(result):
            report.add(failure(result) or "", file=job.frames[job.onset], clip=job.name if job.clip else "")
            continue
        rows.extend(result["rows"])
        for problem in result["problems"]:
            report.add(
                problem["reason"],
                file=problem["file"],
                row=problem.get("row"),
                field=problem.get("field") or "",
                clip=job.name if job.clip else "",
            )
    table = pd.DataFrame(rows, columns=["path", "dataset", "subject", "clip", "frame", "extractor", *AU_NAMES])
    write_au_table(table, out, reliability=backend.reliability())
    return table, report
