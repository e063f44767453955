"""MEGC2019 composite (CompMiE) reader: the official ground truth joined to the CASME II, SAMM and SMIC readers.

``combined_3class_gt.csv`` has NO header and CRLF line endings; rows are ``dataset, subject, clip, label`` with
dataset ``casme2`` / ``samm`` / ``smic`` and label 0 negative, 1 positive, 2 surprise (a class name is accepted
too). 442 rows = CASME II 145 + SAMM 133 + SMIC 164 (docs/reference.md §Corpora). Its ids are not folder names: SAMM
``6`` ->
``006``, SMIC ``s01`` / ``s01_ne_01`` -> ``s1`` / ``s1_ne_01``, CASME II ``01`` / ``1`` / ``sub01`` -> ``sub01``.

The ground truth decides which clips belong to the composite and their label: a corpus clip outside it (CASME II
fear, sadness, others; SAMM Other; …) is not taken, and a GT label that disagrees with the corpus's own merged
emotion is kept with a note. A GT row whose clip the corpus reader did not produce is reported.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path

from ..errors import MiexInputError
from . import casme2, samm, smic
from .clips import Clip
from .common import ApexFallback, Corpus, DuplicateGuard, first_existing, new_report
from .labels import emotion_to_label, label_name
from .report import ValidationReport

GT_FILE = "combined_3class_gt.csv"
DATASET_NAMES: dict[str, str] = {"casme2": "casme2", "casmeii": "casme2", "casme_ii": "casme2", "samm": "samm",
                                 "smic": "smic"}  # fmt: skip
DEFAULT_FOLDERS: dict[str, tuple[str, ...]] = {
    "casme2": ("CASME2", "CASME_II", "CASMEII", "casme2"),
    "samm": ("SAMM", "samm"),
    "smic": ("SMIC", "SMIC_all_raw", "smic"),
}
MARKERS: dict[str, str] = {"casme2": casme2.SHEET_2014, "samm": samm.SHEET, "smic": smic.HS_FOLDER}
"""A file or folder that identifies each release's root."""
IDS: dict[str, tuple[Callable[[object], str], Callable[[object], str]]] = {
    "casme2": (casme2.folder_subject, lambda value: str(value).strip()),
    "samm": (samm.folder_subject, lambda value: str(value).strip()),
    "smic": (smic.folder_subject, smic.folder_clip),
}
"""GT (subject, clip) -> folder names."""


@dataclass(frozen=True)
class GroundTruthRow:
    row: int
    dataset: str
    subject: str
    clip: str
    label: int

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dataset, self.subject, self.clip)


def default_root(root: Path, dataset: str) -> Path:
    """The release folder of ``dataset`` inside ROOT (usual names), else ROOT itself (all releases merged)."""
    candidates = [root / name for name in DEFAULT_FOLDERS[dataset]]
    marked = first_existing(c for c in candidates if (c / MARKERS[dataset]).exists())
    if marked is not None or (root / MARKERS[dataset]).exists():
        return marked or root
    return first_existing(c for c in candidates if c.is_dir()) or root


def parse_label(text: str) -> int | None:
    """``'0'`` / ``'1'`` / ``'2'`` or a class name -> 0..2; None otherwise."""
    value = text.strip()
    label = int(value) if value.isdigit() else emotion_to_label(value)
    return label if label in (0, 1, 2) else None


def read_ground_truth(path: str | PathLike[str], report: ValidationReport) -> list[GroundTruthRow]:
    """The GT rows with ids already turned into folder names; bad rows are reported with their line number."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError(f"MEGC2019 ground truth not found (expected {GT_FILE}; pass --gt)", file=path)
    rows = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for number, fields in enumerate(csv.reader(handle), start=1):
            if any(field.strip() for field in fields):
                row = _parse_row(path, number, [field.strip() for field in fields], report)
                if row is not None:
                    rows.append(row)
    return rows


def _parse_row(path: Path, number: int, fields: list[str], report: ValidationReport) -> GroundTruthRow | None:
    where = {"file": path, "row": number}
    if len(fields) != 4:
        report.add(f"expected 4 fields (dataset, subject, clip, label), got {len(fields)}", field="row", **where)
        return None
    dataset = DATASET_NAMES.get(fields[0].lower())
    label = parse_label(fields[3])
    if number == 1 and dataset is None and label is None:
        report.note(f"first line {fields} looks like a header: ignored (the official file has none)", **where)
        return None
    if dataset is None:
        report.add(f"unknown dataset {fields[0]!r} (expected casme2, samm or smic)", field="dataset", **where)
        return None
    if label is None:
        report.add(f"label {fields[3]!r} is not 0, 1, 2 or a class name", field="label", **where)
        return None
    to_subject, to_clip = IDS[dataset]
    subject, clip = to_subject(fields[1]), to_clip(fields[2])
    if not subject or not clip:
        report.add(f"unreadable subject {fields[1]!r} or clip {fields[2]!r}", field="subject", **where)
        return None
    return GroundTruthRow(row=number, dataset=dataset, subject=subject, clip=clip, label=label)


def read_megc2019(
    root: str | PathLike[str] | None = None,
    *,
    gt: str | PathLike[str] | None = None,
    casme2_root: str | PathLike[str] | None = None,
    samm_root: str | PathLike[str] | None = None,
    smic_root: str | PathLike[str] | None = None,
    casme2_sheet: str | PathLike[str] | None = None,
    casme2_frames: casme2.FrameTree = "auto",
    apex_fallback: ApexFallback = "skip",
    smic_apex: smic.Apex = "middle",
    strict: bool = False,
    report: ValidationReport | None = None,
) -> Corpus:
    """Read the composite: per-dataset roots default to the usual release folders inside ``root``."""
    report = new_report(report, strict)
    base = Path(root) if root is not None else None
    roots = {"casme2": casme2_root, "samm": samm_root, "smic": smic_root}
    resolved = {name: _resolve(base, name, value) for name, value in roots.items()}
    gt_path = Path(gt) if gt is not None else _resolve(base, "gt", None) / GT_FILE
    truth = read_ground_truth(gt_path, report)
    corpora = [
        casme2.read_casme2(resolved["casme2"], sheet=casme2_sheet, frames=casme2_frames,
                           apex_fallback=apex_fallback, report=report).clips,
        samm.read_samm(resolved["samm"], apex_fallback=apex_fallback, report=report).clips,
        smic.read_smic(resolved["smic"], apex=smic_apex, report=report).clips,
    ]  # fmt: skip
    available = {clip.key: clip for clips in corpora for clip in clips}
    return Corpus(_join(truth, available, gt_path, report), report)


def _resolve(base: Path | None, name: str, given: str | PathLike[str] | None) -> Path:
    if given is not None:
        return Path(given)
    if base is None:
        raise MiexInputError(f"give ROOT or --{name.replace('_', '-')}{'' if name == 'gt' else '-root'}")
    return base if name == "gt" else default_root(base, name)


def _join(
    truth: list[GroundTruthRow], available: dict[tuple[str, str, str], Clip], gt_path: Path,
    report: ValidationReport,
) -> list[Clip]:
    """GT rows -> clips labelled by the GT; missing clips reported, label disagreements noted."""
    guard = DuplicateGuard()
    clips = []
    for row in truth:
        where = {"file": gt_path, "row": row.row, "clip": f"{row.subject}/{row.clip}"}
        if guard.is_duplicate(row.key, report, file=gt_path, row=row.row, field="clip"):
            continue
        clip = available.get(row.key)
        if clip is None:
            report.add(f"{row.dataset} clip in the ground truth but not read from disk (missing, or skipped: see "
                       "the problems above)", field="clip", **where)  # fmt: skip
            continue
        if clip.label != row.label:
            report.note(
                f"ground truth says {label_name(row.label)}, the {row.dataset} sheet says {clip.emotion!r} "
                f"({label_name(clip.label)}): ground truth kept", field="label", **where,
            )
        clips.append(replace(clip, label=row.label))
    return clips
