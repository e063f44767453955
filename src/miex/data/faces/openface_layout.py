"""A clip table's frames laid out for OpenFace 2.2, and its CSVs read back into the AU table.

miex never runs OpenFace (nor depends on it); ``miex extract-aus CLIPS.parquet --openface-layout DIR`` prepares its
input and ``--backend openface --openface-dir CSVDIR`` reads what it wrote::

    DIR/openface_layout.csv                      one row per laid-out frame (:data:`LAYOUT_COLUMNS`)
    DIR/openface_commands.sh                     the FeatureExtraction run of every clip folder
    DIR/<dataset>/<subject>/<clip>/0001_onset_f46.png, 0002_apex_f48.png, ...

Each clip's onset and apex frames (every frame with ``--all-frames``) are aligned with the onset frame's transform,
as the mediapipe backend aligns them (:func:`miex.data.faces.extract_aus.clip_jobs` picks the same frames). OpenFace
numbers the images of ``-fdir`` 1..N in sorted file-name order; names start with that number, so the manifest's
``openface_frame`` is the ``frame`` of the row ``FeatureExtraction -fdir DIR/<dataset>/<subject>/<clip> -out_dir
CSVDIR/<dataset>/<subject> -aus`` writes into ``CSVDIR/<dataset>/<subject>/<clip>.csv`` (clip names repeat across
subjects, so the CSVs keep the folders). CSVDIR defaults to DIR; another one receives a copy of the manifest, which
is how the read-back finds each frame's CSV and row.
"""

from __future__ import annotations

import shlex
from os import PathLike
from pathlib import Path

import pandas as pd
from PIL import Image

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path, contained
from miex.core.report import ValidationReport
from miex.data.aus.schema import AU_NAMES
from miex.data.aus.table import write_au_table
from miex.data.corpora.clips import read_clip_table
from miex.data.faces.align import DEFAULT_SIZE, alignment_for
from miex.data.faces.au_extractors import OpenFaceAUReader
from miex.data.faces.extract_aus import AUJob, _row, clip_jobs
from miex.data.faces.image import read_rgb
from miex.data.faces.landmarker import FaceAnalyzer

LAYOUT_MANIFEST = "openface_layout.csv"
COMMANDS_FILE = "openface_commands.sh"
LAYOUT_COLUMNS = ["dataset", "subject", "clip", "position", "frame", "role", "image", "openface_frame", "csv", "source"]
"""``position`` indexes the clip table's ``frames``, ``frame`` is its frame number, ``image`` the laid-out file
(relative to DIR), ``openface_frame`` its 1-based place in the folder's sorted listing, ``csv`` the CSV OpenFace
writes for the folder (relative to CSVDIR), ``source`` the clip table's frame path."""


def lay_out_clips(
    source: str | PathLike[str],
    folder: str | PathLike[str],
    *,
    csv_dir: str | PathLike[str] | None = None,
    all_frames: bool = False,
    size: int = DEFAULT_SIZE,
    model_path: str | PathLike[str] | None = None,
) -> tuple[pd.DataFrame, ValidationReport, list[str]]:
    """Write the aligned frames of every clip of the clip table ``source`` under ``folder`` with the manifest (and
    its copy in ``csv_dir``); return the manifest, the clips or frames left out (and why), and the OpenFace
    commands."""
    folder = Path(folder)
    csv_dir = folder if csv_dir is None else Path(csv_dir)
    table = read_clip_table(source)
    for target, option in ((folder, "--openface-layout"), (csv_dir, "--openface-dir")):
        check_layout_folder(target, option)
    for stale in _previous_images(folder):
        stale.unlink(missing_ok=True)
    report = ValidationReport()
    rows: list[dict[str, object]] = []
    with FaceAnalyzer(model_path, max_faces=1) as analyzer:
        for (_, job), clip in zip(clip_jobs(table, all_frames=all_frames, size=size), table.itertuples(), strict=True):
            rows += _lay_out_clip(analyzer, job, {int(clip.onset): "onset", int(clip.apex): "apex"}, folder, report)
    manifest = pd.DataFrame(rows, columns=LAYOUT_COLUMNS)
    commands = openface_commands(manifest, folder, csv_dir)
    for target in dict.fromkeys([folder, csv_dir]):
        with atomic_path(target / LAYOUT_MANIFEST) as temporary:
            manifest.to_csv(temporary, index=False)
    with atomic_path(folder / COMMANDS_FILE) as temporary:
        temporary.write_text("#!/bin/sh\nset -e\n" + "".join(f"{line}\n" for line in commands), encoding="utf-8")
    return manifest, report, commands


def check_layout_folder(folder: Path, option: str) -> None:
    """A folder the layout may write: new, empty, or holding a previous layout's manifest."""
    if folder.exists() and not folder.is_dir():
        raise MiexInputError(f"{option} names a file; give a folder (it is created when missing)", file=folder)
    if folder.is_dir() and not (folder / LAYOUT_MANIFEST).is_file() and any(folder.iterdir()):
        raise MiexInputError(
            f"{option} folder is not empty and holds no {LAYOUT_MANIFEST} (no previous layout): "
            "choose a new or empty folder",
            file=folder,
        )


def _previous_images(folder: Path) -> list[Path]:
    """The images a previous layout in ``folder`` wrote (its manifest lists them)."""
    if not (folder / LAYOUT_MANIFEST).is_file():
        return []
    previous = read_layout(folder)
    return [contained(folder, image, what="image") for image in previous["image"]]


def _lay_out_clip(
    analyzer: FaceAnalyzer, job: AUJob, roles: dict[int, str], folder: Path, report: ValidationReport
) -> list[dict[str, object]]:
    """Align and write one clip's frames; problems (no face on the onset, an unreadable or odd-sized frame) go to
    ``report`` and leave that clip or frame out."""
    try:
        onset = read_rgb(job.frames[job.onset])
    except MiexInputError as error:
        report.add(error.reason, file=job.frames[job.onset], clip=job.name)
        return []
    faces = analyzer.analyze(onset)
    if not faces:
        report.add("no face found on the onset frame", file=job.frames[job.onset], clip=job.name)
        return []
    alignment = alignment_for(faces[0].landmarks, job.size)
    clip_folder = contained(folder, f"{job.dataset}/{job.subject}/{job.clip}", what="clip folder")
    relative = clip_folder.relative_to(folder.resolve()).as_posix()
    csv = f"{Path(relative).parent.as_posix()}/{clip_folder.name}.csv"  # what -fdir writes there, folders kept
    width = max(4, len(str(len(job.positions))))
    rows: list[dict[str, object]] = []
    for position in job.positions:
        try:
            rgb = onset if position == job.onset else read_rgb(job.frames[position])
        except MiexInputError as error:
            report.add(error.reason, file=job.frames[position], clip=job.name)
            continue
        if rgb.shape != onset.shape:
            report.add("frame differs in size from the onset frame", file=job.frames[position], clip=job.name)
            continue
        place, role, number = len(rows) + 1, roles.get(position, "frame"), job.frame_numbers[position]
        image = f"{relative}/{place:0{width}d}_{role}_f{number}.png"
        with atomic_path(folder / image, suffix=".png") as temporary:
            Image.fromarray(alignment.apply(rgb)).save(temporary, format="PNG")
        rows.append(
            {
                "dataset": job.dataset,
                "subject": job.subject,
                "clip": job.clip,
                "position": position,
                "frame": number,
                "role": role,
                "image": image,
                "openface_frame": place,
                "csv": csv,
                "source": job.frames[position],
            }
        )
    return rows


def openface_commands(manifest: pd.DataFrame, folder: Path, csv_dir: Path) -> list[str]:
    """One ``FeatureExtraction`` run per laid-out clip folder, writing ``CSVDIR/<dataset>/<subject>/<clip>.csv``."""
    folders = [Path(image).parent.as_posix() for image in manifest["image"]]
    return [
        f"FeatureExtraction -fdir {shlex.quote(str(folder / image_folder))} "
        f"-out_dir {shlex.quote(str((csv_dir / csv).parent))} -aus"
        for image_folder, csv in dict.fromkeys(zip(folders, manifest["csv"], strict=True))
    ]


def read_layout(csv_dir: str | PathLike[str]) -> pd.DataFrame:
    """The layout manifest in ``csv_dir`` (``--openface-layout DIR`` wrote it there, or a copy of it)."""
    path = Path(csv_dir) / LAYOUT_MANIFEST
    try:
        manifest = pd.read_csv(path, dtype={"dataset": str, "subject": str, "clip": str}, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise MiexInputError(f"unreadable OpenFace layout manifest: {error}", file=path) from error
    missing = [column for column in LAYOUT_COLUMNS if column not in manifest.columns]
    if missing:
        raise MiexInputError(f"layout manifest lacks columns {missing}", file=path, field=missing[0])
    return manifest


def has_layout(csv_dir: str | PathLike[str] | None) -> bool:
    return csv_dir is not None and (Path(csv_dir) / LAYOUT_MANIFEST).is_file()


def read_layout_aus(
    source: str | PathLike[str], out: str | PathLike[str], csv_dir: str | PathLike[str], *, all_frames: bool = False
) -> tuple[pd.DataFrame, ValidationReport]:
    """The AU table of the clip table ``source`` from the CSVs OpenFace wrote for a layout (found through the
    manifest in ``csv_dir``: a frame's CSV and row), written to ``out``; frames without a row are reported."""
    csv_dir = Path(csv_dir)
    manifest = read_layout(csv_dir)
    where = {
        (d, s, c, int(p)): (csv, int(f))
        for d, s, c, p, csv, f in manifest[
            ["dataset", "subject", "clip", "position", "csv", "openface_frame"]
        ].itertuples(index=False)
    }
    reader = OpenFaceAUReader(csv_dir)
    report = ValidationReport()
    rows = []
    for _, job in clip_jobs(read_clip_table(source), all_frames=all_frames, size=DEFAULT_SIZE):
        for position in job.positions:
            found = where.get((job.dataset, job.subject, job.clip, position))
            if found is None:
                report.add(
                    f"frame not in the OpenFace layout ({LAYOUT_MANIFEST}); lay the clips out again with the "
                    "same --all-frames",
                    file=job.frames[position],
                    clip=job.name,
                )
                continue
            csv = contained(csv_dir, found[0], what="CSV")
            if not csv.is_file() and (csv_dir / csv.name).is_file():  # every clip run into one -out_dir
                csv = csv_dir / csv.name
            try:
                aus = reader.frame_aus(csv, found[1])
            except MiexInputError as error:
                report.add(error.reason, file=error.file or csv, row=error.row, field=error.field or "", clip=job.name)
                continue
            rows.append(_row(job, position, aus, "openface"))
    table = pd.DataFrame(rows, columns=["path", "dataset", "subject", "clip", "frame", "extractor", *AU_NAMES])
    write_au_table(table, out)
    return table, report
