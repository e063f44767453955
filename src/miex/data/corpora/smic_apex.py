"""SMIC apex sheets: the apex frame of SMIC-HS clips from a table the user has, instead of the middle frame.

SMIC ships no apex annotation, so the reader takes the middle frame, which is often far from the real apex (in a
public SMIC apex table, 65 of the 164 MEGC2019 clips have their apex 10 or more frames from the middle). With
``--apex-sheet`` (``miex corpus smic``) or ``--smic-apex-sheet`` (``miex corpus megc2019``) the apex comes from a
sheet instead (docs/reference.md §Corpora). Layout, a CSV (UTF-8, comma-separated) or the first worksheet of an
.xlsx, one header row then one row per clip::

    subject,clip,apex
    s1,s1_ne_01,123458

Headers are matched without case, spaces, ``_`` or ``-``: the clip column is ``clip``, ``Filename``, ``clip name``
or ``video``; the apex column ``apex``, ``Apex``, ``ApexFrame`` or ``apex frame``; ``subject`` (``Subject``,
``sub``) is optional (without it the subject is the clip name's prefix, ``s1`` of ``s1_ne_01``). Other columns
(onset, offset, emotion, ...) are ignored. Names are read as MEGC2019 writes them too (``s01``, ``s01_ne_01``). The
apex is an ABSOLUTE frame number, as the frame files are numbered (``image123458.bmp``).

Every bad row is reported with the sheet, its row number and the field: an unknown clip, an apex that is not a
whole number, an apex outside the clip's onset..offset (its first..last frame) or on a missing frame file, a
duplicate clip (the first row is kept). A clip whose row is bad is skipped; a clip the sheet does not list keeps
the middle frame (or ``--apex F``), and how many did is reported as one note.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any

from miex.core.errors import MiexInputError
from miex.core.fileio import first_line, name_problem
from miex.core.report import ValidationReport
from miex.data.corpora.clips import Clip, index_of_frame
from miex.data.corpora.sheets import HEADER_SEARCH_ROWS, cell_int, cell_text, utf8_csv_text

ROLES: dict[str, tuple[str, ...]] = {
    "subject": ("subject", "sub", "subjectid"),
    "clip": ("clip", "filename", "clipname", "video"),
    "apex": ("apex", "apexframe", "apexframenumber"),
}
"""Column role -> the header spellings it accepts (after :func:`header_key`)."""
SUFFIXES = (".csv", ".xlsx")
SAVE_AS_CSV = "save the apex sheet as a comma-separated UTF-8 CSV"


def header_key(text: object) -> str:
    """``' Apex Frame'``, ``'apex_frame'`` -> ``'apexframe'``."""
    return re.sub(r"[\s_\-]", "", str(text or "")).lower()


@dataclass(frozen=True)
class ApexRow:
    row: int
    subject: str
    clip: str
    frame: int


@dataclass(frozen=True)
class ApexSheet:
    """The usable rows of an apex sheet by (subject folder, clip folder), and its headers as written."""

    path: Path
    headers: dict[str, str]
    """role -> the header as the sheet writes it (names the field in reports)."""
    rows: dict[tuple[str, str], ApexRow]

    def field(self, role: str) -> str:
        return self.headers.get(role, role)


def read_apex_sheet(path: str | PathLike[str], report: ValidationReport, *, option: str = "--apex-sheet") -> ApexSheet:
    """The sheet's rows; a missing or unreadable file, or one without clip and apex columns, is an error (nothing
    sensible can be read from it); each bad row is reported and left out."""
    path = Path(path)
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "not found"
        raise MiexInputError(f"apex sheet {state}; pass a .csv or .xlsx file with {option}", file=path)
    if path.suffix.lower() not in SUFFIXES:
        raise MiexInputError(
            f"an apex sheet is a .csv or .xlsx file, not {path.suffix or 'a file without suffix'}; "
            "save it as CSV (subject,clip,apex)",
            file=path,
        )
    table = _xlsx_rows(path) if path.suffix.lower() == ".xlsx" else _csv_rows(path)
    header_row, columns = _header(table, path)
    headers = {role: str(table[header_row - 1][index]).strip() for role, index in columns.items()}
    sheet = ApexSheet(path=path, headers=headers, rows={})
    for number, cells in enumerate(table[header_row:], start=header_row + 1):
        if any(cell_text(cell) for cell in cells):
            _add_row(sheet, number, cells, columns, report)
    return sheet


def _csv_rows(path: Path) -> list[list[Any]]:
    return [list(row) for row in csv.reader(utf8_csv_text(path, SAVE_AS_CSV).splitlines())]


def _xlsx_rows(path: Path) -> list[list[Any]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, data_only=True, read_only=True)
    except Exception as error:  # openpyxl raises several unrelated types for a non-xlsx file
        raise MiexInputError(
            f"cannot read as an xlsx workbook ({first_line(error)}); save the apex sheet as CSV (subject,clip,apex)",
            file=path,
        ) from error
    try:
        return [list(values) for values in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()


def _header(table: Sequence[Sequence[Any]], path: Path) -> tuple[int, dict[str, int]]:
    """The 1-based header row and the column index of each role found in it (clip and apex required)."""
    for number, cells in enumerate(table[:HEADER_SEARCH_ROWS], start=1):
        keys = [header_key(cell) for cell in cells]
        columns = {
            role: next(i for i, key in enumerate(keys) if key in names)
            for role, names in ROLES.items()
            if any(key in names for key in keys)
        }
        if "clip" in columns and "apex" in columns:
            return number, columns
    first = next((cells for cells in table if any(cell_text(c) for c in cells)), [])
    raise MiexInputError(
        f"no header row with a clip column ({' / '.join(ROLES['clip'])}) and an apex column "
        f"({' / '.join(ROLES['apex'])}) in the first {HEADER_SEARCH_ROWS} rows (first row: {list(first)[:6]}); the "
        "layout is subject,clip,apex with the apex an absolute frame number",
        file=path,
    )


def _add_row(
    sheet: ApexSheet, number: int, cells: Sequence[Any], columns: dict[str, int], report: ValidationReport
) -> None:
    from miex.data.corpora.smic import folder_clip, folder_subject

    def cell(role: str) -> Any:
        index = columns.get(role)
        return cells[index] if index is not None and index < len(cells) else None

    where = {"file": sheet.path, "row": number}
    name = cell_text(cell("clip"))
    if not name:
        report.add("empty clip name", field=sheet.field("clip"), **where)
        return
    for role, text in (("clip", name), ("subject", cell_text(cell("subject")))):
        problem = name_problem(text) if text else None
        if problem is not None:
            report.add(problem, field=sheet.field(role), **where)
            return
    clip = folder_clip(name)
    if "subject" in columns:
        numbered = cell_int(cell("subject"))  # a number cell (1, 1.0, "1.0") is the subject's number
        text = f"s{numbered}" if numbered is not None and numbered >= 0 else cell_text(cell("subject"))
        subject = folder_subject(text)
        if not subject:
            report.add(
                f"{cell('subject')!r} is not a SMIC subject (s1, s01 or 1)", field=sheet.field("subject"), **where
            )
            return
    else:
        subject = folder_subject(clip.partition("_")[0])
        if not subject:
            report.add(
                f"clip {name!r} does not start with its subject (s1_...); add a subject column",
                field=sheet.field("clip"),
                **where,
            )
            return
    label = f"{subject}/{clip}"
    raw = cell("apex")
    frame = cell_int(raw)
    if frame is None or frame < 0:
        report.add(
            f"apex {raw!r} is not a whole frame number (the absolute number in the frame file names)",
            field=sheet.field("apex"),
            clip=label,
            **where,
        )
        return
    first = sheet.rows.get((subject, clip))
    if first is not None:
        report.add(
            f"duplicate row for this clip (first on row {first.row}, apex {first.frame}); the first is kept",
            field=sheet.field("clip"),
            clip=label,
            **where,
        )
        return
    sheet.rows[(subject, clip)] = ApexRow(row=number, subject=subject, clip=clip, frame=frame)


def apply_apex_sheet(
    clips: Iterable[Clip],
    sheet: ApexSheet,
    report: ValidationReport,
    *,
    folders: set[tuple[str, str]],
    fallback: str,
) -> list[Clip]:
    """``clips`` with the sheet's apex (``apex_source`` ``apex-sheet``); a clip whose row is unusable is skipped,
    a clip without a row keeps its ``fallback`` apex (counted in one note). ``folders`` are every (subject, clip)
    folder of the tree, so a row of a clip skipped for another reason is not called unknown."""
    clips = list(clips)
    taken, missing = [], []
    for clip in clips:
        entry = sheet.rows.get((clip.subject, clip.clip))
        if entry is None:
            missing.append(clip)
            taken.append(clip)
            continue
        moved = _with_apex(clip, entry, sheet, report)
        if moved is not None:
            taken.append(moved)
    read = {(clip.subject, clip.clip) for clip in clips}
    for key, entry in sheet.rows.items():
        if key not in read and key not in folders:
            report.add(
                f"unknown clip: no SMIC-HS clip folder {entry.subject}/micro/<emotion>/{entry.clip}",
                file=sheet.path,
                row=entry.row,
                field=sheet.field("clip"),
                clip=f"{entry.subject}/{entry.clip}",
            )
    if missing:
        names = ", ".join(f"{c.subject}/{c.clip}" for c in missing[:3]) + (", ..." if len(missing) > 3 else "")
        report.note(
            f"{len(missing)} of {len(clips)} SMIC clip(s) are not in the apex sheet and keep the {fallback} "
            f"as their apex ({names})",
            file=sheet.path,
            field=sheet.field("apex"),
        )
    return taken


def _with_apex(clip: Clip, entry: ApexRow, sheet: ApexSheet, report: ValidationReport) -> Clip | None:
    where = {"file": sheet.path, "row": entry.row, "field": sheet.field("apex"), "clip": f"{clip.subject}/{clip.clip}"}
    first, last = clip.frame_numbers[clip.onset], clip.frame_numbers[clip.offset]
    if not first <= entry.frame <= last:
        report.add(
            f"apex {entry.frame} outside the clip's onset..offset {first}..{last} (absolute frame numbers)", **where
        )
        return None
    index = index_of_frame(clip.frame_numbers, entry.frame)
    if index < 0:
        report.add(
            f"apex {entry.frame} has no frame file in the clip (its frames run {first}..{last} with gaps)", **where
        )
        return None
    return replace(clip, apex=index, apex_source="apex-sheet")
