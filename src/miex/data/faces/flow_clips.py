"""Onset -> apex flow for every clip of a clip table (``miex flow``): aligned with the onset transform, resumable.

Outputs per clip ``DIR/<dataset>/<subject>/<clip>.npz`` (float32 ``u``, ``v``, ``strain``) and a 3-channel PNG beside
it; ``DIR/flow_params.json`` records the method and parameters; ``DIR/index.parquet`` lists the clips in table order.
Those paths come from the clip table, so each is checked to stay inside ``DIR`` (a row naming ``../..`` is an error
naming the row and field, before anything is computed).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import pandas as pd

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path, contained
from miex.core.report import ValidationReport
from miex.data.corpora.clips import read_clip_table
from miex.data.faces.align import DEFAULT_SIZE, alignment_for
from miex.data.faces.flow import FlowParams, optical_flow, optical_strain, save_flow, write_params
from miex.data.faces.image import read_rgb
from miex.data.faces.landmarker import FaceAnalyzer
from miex.data.faces.runner import content_key, failure, run_resumable

INDEX_COLUMNS = ("dataset", "subject", "clip", "onset_frame", "apex_frame", "file", "method")
PATH_FIELDS = ("dataset", "subject", "clip")
"""Clip-table fields the output path ``<dataset>/<subject>/<clip>.npz`` is built from."""


@dataclass(frozen=True)
class FlowJob:
    onset_path: str
    apex_path: str
    target: str
    size: int
    params: FlowParams


def clip_flow(analyzer: FaceAnalyzer, job: FlowJob) -> dict[str, Any]:
    """Worker: align onset and apex with the onset transform, compute flow + strain, save; or say why not."""
    try:
        onset, apex = read_rgb(job.onset_path), read_rgb(job.apex_path)
    except MiexInputError as error:
        return {"skip": error.reason, "file": error.file}
    if onset.shape != apex.shape:
        return {
            "skip": f"onset {onset.shape[1]}x{onset.shape[0]} and apex {apex.shape[1]}x{apex.shape[0]} differ in size",
            "file": job.apex_path,
        }
    faces = analyzer.analyze(onset)
    if not faces:
        return {"skip": "no face found on the onset frame", "file": job.onset_path}
    alignment = alignment_for(faces[0].landmarks, job.size)
    flow = optical_flow(alignment.apply(onset), alignment.apply(apex), job.params)
    save_flow(job.target, flow, optical_strain(flow))
    return {"skip": None, "file": job.target}


def _escapes(value: object) -> bool:
    """Whether one path field could lead out of the output folder on its own (absolute, or a ``..`` part)."""
    path = Path(str(value))
    return path.is_absolute() or ".." in path.parts


def flow_target(out: Path, row: Any, *, clip_table: str | PathLike[str], row_number: int) -> Path:
    """``out/<dataset>/<subject>/<clip>.npz`` for one clip-table row, refused when it would lie outside ``out``."""
    relative = Path(str(row.dataset)) / str(row.subject) / f"{row.clip}.npz"
    try:
        return contained(out, relative, what="flow output")
    except MiexInputError as error:
        field = next((name for name in PATH_FIELDS if _escapes(getattr(row, name))), None)
        raise MiexInputError(
            f"{error.reason}; fix or drop this row of the clip table", file=clip_table, row=row_number, field=field
        ) from error


def flow_targets(table: pd.DataFrame, out: str | PathLike[str], clip_table: str | PathLike[str]) -> list[Path]:
    """Every clip's output path (:func:`flow_target`), all checked before anything is created."""
    return [
        flow_target(Path(out).resolve(), row, clip_table=clip_table, row_number=number)
        for number, row in enumerate(table.itertuples(index=False))
    ]


def compute_clip_flows(
    clip_table: str | PathLike[str],
    out_dir: str | PathLike[str],
    *,
    params: FlowParams,
    size: int = DEFAULT_SIZE,
    model_path: str | PathLike[str] | None = None,
    workers: int = 1,
) -> tuple[pd.DataFrame, ValidationReport]:
    out = Path(out_dir).resolve()
    table = read_clip_table(clip_table)
    jobs = []
    for row, target in zip(table.itertuples(index=False), flow_targets(table, out, clip_table), strict=True):
        job = FlowJob(row.frames[row.onset], row.frames[row.apex], str(target), size, params)
        jobs.append((content_key(f"{row.dataset}/{row.subject}/{row.clip}", [job.onset_path, job.apex_path]), job))
    options = {"size": size, **params.to_json()}
    results = run_resumable(
        clip_flow,
        jobs,
        parts_dir=out / ".parts",
        options=options,
        factory=functools.partial(FaceAnalyzer, model_path, max_faces=1),
        workers=workers,
        desc="flow",
    )
    write_params(out, params)
    report = ValidationReport()
    rows = []
    for row, (_, job), result in zip(table.itertuples(index=False), jobs, results, strict=True):
        reason = failure(result) or result["skip"]
        if reason:
            clip = f"{row.dataset}/{row.subject}/{row.clip}"
            report.add(reason, file=result.get("file") or job.onset_path, clip=clip)
            continue
        rows.append(
            (
                row.dataset,
                row.subject,
                row.clip,
                row.frame_numbers[row.onset],
                row.frame_numbers[row.apex],
                Path(result["file"]).relative_to(out).as_posix(),
                params.method,
            )
        )
    index = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
    if rows:
        with atomic_path(out / "index.parquet") as temporary:
            index.to_parquet(temporary, index=False, write_page_checksum=True)
    else:  # an index of no clip (or an earlier run's, of other clips) would read as this run's finished output
        (out / "index.parquet").unlink(missing_ok=True)
    return index, report
