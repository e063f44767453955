"""MEGC2019 composite (CompMiE) reader: the official ground truth joined to the CASME II, SAMM and SMIC readers.

``combined_3class_gt.csv`` has NO header and CRLF line endings; rows are ``dataset, subject, clip, label`` with dataset
``casme2`` / ``samm`` / ``smic`` and label 0 negative, 1 positive, 2 surprise (a class name is accepted too). 442 rows =
CASME II 145 + SAMM 133 + SMIC 164 (docs/reference.md §Corpora). Its ids are not folder names: SAMM ``6`` -> ``006``,
SMIC ``s01`` / ``s01_ne_01`` -> ``s1`` / ``s1_ne_01``, CASME II ``01`` / ``1`` / ``sub01`` -> ``sub01``.

The ground truth decides which clips belong to the composite and their label: a corpus clip outside it (CASME II
fear, sadness, others; SAMM Other; …) is not taken, and a GT label that disagrees with the corpus's own merged
emotion is kept with a note. A GT row whose clip the corpus reader did not produce is reported.

The composite is built from whichever parts are found (a CASME II-only user gets the CASME II part). A missing
part is reported as one problem naming it and counting its GT rows (the composite is PARTIAL), so ``strict=True``
fails on it: strict asks for the whole composite. Strict judges only GT clips: a sheet problem of a clip outside
the GT (CASME II ``sub04/EP12_01f`` of the 2014 sheet) is reported, never fatal.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path

from miex.core.errors import MiexInputError
from miex.core.fileio import name_problem
from miex.core.report import ValidationReport
from miex.data.corpora import casme2, samm, smic
from miex.data.corpora.clips import Clip
from miex.data.corpora.common import ApexFallback, Corpus, DuplicateGuard, first_existing, new_report, require_root
from miex.data.corpora.labels import emotion_to_label, label_name
from miex.data.corpora.sheets import utf8_csv_text

GT_FILE = "combined_3class_gt.csv"
DATASET_NAMES: dict[str, str] = {
    "casme2": "casme2",
    "casmeii": "casme2",
    "casme_ii": "casme2",
    "samm": "samm",
    "smic": "smic",
}
DEFAULT_FOLDERS: dict[str, tuple[str, ...]] = {
    "casme2": ("CASME2", "CASME_II", "CASMEII", "casme2"),
    "samm": ("SAMM", "samm"),
    "smic": ("SMIC", "SMIC_all_raw", "smic"),
}
PART_NAMES: dict[str, str] = {"casme2": "CASME II", "samm": "SAMM", "smic": "SMIC"}
SEPARATORS: dict[str, str] = {";": "semicolons", "\t": "tabs"}
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


def looks_like(dataset: str, folder: Path) -> bool:
    """Whether ``folder`` is the root of ``dataset``'s release: its coding sheet, or its frame tree."""
    if not folder.is_dir():
        return False
    if dataset == "casme2":
        names = (casme2.SHEET_2014, *casme2.frame_tree_names())
        return any((folder / name).exists() for name in names)
    if dataset == "samm":
        return (folder / samm.SHEET).exists()
    return (folder / smic.HS_FOLDER).is_dir() or any(p.is_dir() for p in folder.glob("*/micro"))


def find_part(root: Path, dataset: str) -> Path | None:
    """The release folder of ``dataset`` inside ROOT (usual names), ROOT itself (all releases merged), or None."""
    candidates = [root / name for name in DEFAULT_FOLDERS[dataset]]
    found = first_existing(c for c in candidates if looks_like(dataset, c))
    if found is None and looks_like(dataset, root):
        return root
    return found or first_existing(c for c in candidates if c.is_dir())


def default_root(root: Path, dataset: str) -> Path:
    """:func:`find_part`, else ROOT itself."""
    return find_part(root, dataset) or root


def parse_label(text: str) -> int | None:
    """``'0'`` / ``'1'`` / ``'2'`` or a class name -> 0..2; None otherwise."""
    value = text.strip()
    label = int(value) if value.isdigit() else emotion_to_label(value)
    return label if label in (0, 1, 2) else None


def read_ground_truth(path: str | PathLike[str], report: ValidationReport) -> list[GroundTruthRow]:
    """The GT rows with ids already turned into folder names; bad rows are reported with their line number."""
    path = Path(path)
    if path.is_dir():
        raise MiexInputError(f"--gt names a folder; pass the ground-truth CSV file ({GT_FILE})", file=path)
    if not path.is_file():
        raise MiexInputError(f"MEGC2019 ground truth not found (expected {GT_FILE}; pass --gt)", file=path)
    lines = list(enumerate(csv.reader(utf8_csv_text(path, _SAVE_AS).splitlines()), start=1))
    _check_separator(path, lines)
    rows = []
    skipped = len(report.skipped)
    for number, fields in lines:
        if any(field.strip() for field in fields):
            row = _parse_row(path, number, [field.strip() for field in fields], report)
            if row is not None:
                rows.append(row)
    if not rows and len(report.skipped) == skipped:  # nothing but blank lines or a header: not one clip to judge
        raise MiexInputError(
            f"the ground truth holds no clip rows (it is empty, or only a header); {_SAVE_AS}", file=path
        )
    return rows


_SAVE_AS = "save it as a comma-separated UTF-8 CSV, one 'dataset,subject,clip,label' per line, and run again"


def _check_separator(path: Path, lines: list[tuple[int, list[str]]]) -> None:
    """A GT written with ';' or tabs parses as one field per line: say so once, not once per row."""
    texts = [",".join(fields) for _, fields in lines if any(field.strip() for field in fields)]
    if not texts or any(len(fields) == 4 for _, fields in lines):
        return
    for separator, name in SEPARATORS.items():
        if sum(len(text.split(separator)) == 4 for text in texts) * 2 > len(texts):
            raise MiexInputError(f"fields are separated by {name}, not commas; {_SAVE_AS}", file=path)


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
    for column, value in (("subject", fields[1]), ("clip", fields[2])):
        problem = name_problem(value)
        if problem is not None:
            report.add(problem, field=column, **where)
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
    samm_sheet: str | PathLike[str] | None = None,
    casme2_frames: casme2.FrameTree = "auto",
    apex_fallback: ApexFallback = "skip",
    smic_apex: smic.Apex = "middle",
    smic_apex_sheet: str | PathLike[str] | None = None,
    strict: bool = False,
    report: ValidationReport | None = None,
) -> Corpus:
    """Read the composite from the parts found: per-dataset roots default to the usual release folders in ``root``.
    ``smic_apex_sheet`` gives SMIC's apex frames (:mod:`.smic_apex`); without it SMIC clips use ``smic_apex``."""
    report = new_report(report, strict)
    base = require_root(root, "MEGC2019") if root is not None else None
    if gt is not None:
        gt_path = Path(gt)
    elif base is not None:
        gt_path = base / GT_FILE
    else:
        raise MiexInputError(f"give ROOT (the folder holding {GT_FILE}) or --gt CSV")
    truth = read_ground_truth(gt_path, report)
    sheets = {"casme2": casme2_sheet, "samm": samm_sheet, "smic": smic_apex_sheet}
    given = {"casme2": casme2_root, "samm": samm_root, "smic": smic_root}
    roots = {name: _part_root(base, name, given[name], sheets[name]) for name in PART_NAMES}
    if all(path is None for path in roots.values()):
        raise MiexInputError(
            f"none of CASME II, SAMM, SMIC found{f' in {base} (expected CASME2/, SAMM/, SMIC/)' if base else ''}; "
            "give ROOT holding them, or --casme2-root / --samm-root / --smic-root DIR for the parts you have"
        )
    readers: dict[str, Callable[[Path, ValidationReport], Corpus]] = {
        "casme2": lambda path, part: casme2.read_casme2(
            path,
            sheet=casme2_sheet,
            frames=casme2_frames,
            apex_fallback=apex_fallback,
            report=part,
            sheet_option="--casme2-sheet",
        ),
        "samm": lambda path, part: samm.read_samm(
            path, sheet=samm_sheet, apex_fallback=apex_fallback, report=part, sheet_option="--samm-sheet"
        ),
        "smic": lambda path, part: smic.read_smic(
            path, apex=smic_apex, apex_sheet=smic_apex_sheet, report=part, sheet_option="--smic-apex-sheet"
        ),
    }
    gt_clips = {(row.dataset, f"{row.subject}/{row.clip}") for row in truth}
    available: dict[tuple[str, str, str], Clip] = {}
    for name, path in roots.items():
        if path is None:
            continue
        part = ValidationReport()  # never strict: only problems of GT clips may stop a strict run (below)
        available.update((clip.key, clip) for clip in readers[name](path, part).clips)
        for problem in part.problems:
            if problem.kept or (name, problem.clip) not in gt_clips:
                report.problems.append(problem)
            else:
                report.add(problem.reason, file=problem.file, row=problem.row, field=problem.field, clip=problem.clip)
    missing = {name for name, path in roots.items() if path is None}
    for name in sorted(missing):
        _report_missing_part(name, [row for row in truth if row.dataset == name], gt_path, base, report)
    return Corpus(_join([row for row in truth if row.dataset not in missing], available, gt_path, report), report)


def _part_root(
    base: Path | None, name: str, given: str | PathLike[str] | None, sheet: str | PathLike[str] | None
) -> Path | None:
    """The root of one part: given explicitly (must exist), found in ROOT, or None (the part is missing)."""
    option = f"--{name}-root"
    if given is not None:
        return require_root(given, f"{PART_NAMES[name]} ({option})")
    found = find_part(base, name) if base is not None else None
    if found is None and sheet is not None:
        flag = "--smic-apex-sheet" if name == "smic" else f"--{name}-sheet"
        raise MiexInputError(f"{flag} given but no {PART_NAMES[name]} release found; give {option} DIR")
    return found


def _report_missing_part(
    name: str, rows: list[GroundTruthRow], gt_path: Path, base: Path | None, report: ValidationReport
) -> None:
    """A part that was not found: one line that names it and counts the GT clips left out (a PARTIAL composite)."""
    where = f" in {base} (no {'/, '.join(DEFAULT_FOLDERS[name])}/)" if base is not None else ""
    how = f"give --{name}-root DIR"
    if not rows:
        report.note(
            f"{PART_NAMES[name]} not found{where}; the ground truth has no {name} rows, nothing is lost",
            file=gt_path,
            field="dataset",
        )
        return
    report.add(
        f"{PART_NAMES[name]} not found{where}: the composite is PARTIAL, its {len(rows)} ground-truth clip(s) "
        f"(rows {rows[0].row}..{rows[-1].row}) are left out; {how} to include them",
        file=gt_path,
        field="dataset",
    )


def _join(
    truth: list[GroundTruthRow],
    available: dict[tuple[str, str, str], Clip],
    gt_path: Path,
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
            report.add(
                f"{row.dataset} clip in the ground truth but not read from disk (missing, or skipped: see "
                "the problems above)",
                field="clip",
                **where,
            )
            continue
        if clip.label != row.label:
            report.note(
                f"ground truth says {label_name(row.label)}, the {row.dataset} sheet says {clip.emotion!r} "
                f"({label_name(clip.label)}): ground truth kept",
                field="label",
                **where,
            )
        clips.append(replace(clip, label=row.label))
    return clips
