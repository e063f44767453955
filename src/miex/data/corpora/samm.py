"""SAMM reader (docs/reference.md §Corpora): ``SAMM_Micro_FACS_Codes_v2.xlsx`` sheet ``MICRO_ONLY`` + frame tree ->
clips.

Layout::

    ROOT/SAMM_Micro_FACS_Codes_v2.xlsx         13 preamble rows, header on row 14
    ROOT/SAMM/006/006_1_2/006_05562.jpg        <subject>_<frame:05d>.jpg, grayscale
    (or ROOT/006/006_1_2/... when ROOT is the frame tree itself)

Subjects are text ``"006"``; openpyxl gives ints when the cell was typed as a number, so they are zero-padded to 3.
Rows with the apex outside onset..offset (real: ``028_4_1``, ``032_3_1``) or an apex of -1 are reported.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

from miex.core.report import ValidationReport
from miex.data.corpora.common import (
    ApexFallback,
    Corpus,
    SheetLayout,
    clip_folder,
    new_report,
    require_root,
    resolve_sheet,
    sheet_clips,
)
from miex.data.corpora.sheets import cell_text, open_sheet

FPS = 200.0
SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
WORKSHEET = "MICRO_ONLY"
FRAME_TREE = "SAMM"
REQUIRED_COLUMNS = ("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame", "Estimated Emotion")


def folder_subject(value: object) -> str:
    """``6``, ``'6'`` or ``'006'`` -> ``'006'``; '' when it is not a subject id."""
    text = cell_text(value)
    return f"{int(text):03d}" if re.fullmatch(r"\d+", text) else ""


def frame_tree(root: Path) -> Path:
    """``ROOT/SAMM`` when it exists (the release layout), else ROOT itself."""
    return root / FRAME_TREE if (root / FRAME_TREE).is_dir() else root


def read_samm(
    root: str | PathLike[str],
    *,
    sheet: str | PathLike[str] | None = None,
    worksheet: str = WORKSHEET,
    apex_fallback: ApexFallback = "skip",
    strict: bool = False,
    report: ValidationReport | None = None,
    sheet_option: str = "--sheet",
) -> Corpus:
    """Read SAMM's micro-expressions (worksheet ``MICRO_ONLY``); ``sheet_option`` is the flag errors name."""
    root = require_root(root, "SAMM")
    report = new_report(report, strict)
    tree = frame_tree(root)
    coding = open_sheet(
        resolve_sheet(root, sheet, SHEET), required=REQUIRED_COLUMNS, sheet=worksheet, option=sheet_option
    )

    def folder(subject: str, clip: str) -> Path:
        return clip_folder(tree, subject, clip)

    layout = SheetLayout(dataset="samm", fps=FPS, subject=folder_subject, folder=folder)
    return Corpus(sheet_clips(coding, layout, report, apex_fallback=apex_fallback), report)
