"""MMEW reader (docs/reference.md §Corpora): micro clips from ``MMEW_Micro_Exp.xlsx``, optionally the macro clips too.

Layout::

    ROOT/MMEW_Micro_Exp.xlsx
    ROOT/Micro_Expression/<emotion>/S01-01-001/1.jpg … 12.jpg     1-based, UNPADDED: sorted numerically
    ROOT/Macro_Expression/<emotion>/<clip>/1.jpg …

A micro clip is found by its ``Filename`` under any emotion folder (the sheet's emotion is the label, so a
folder spelling difference does not lose the clip). The sheet's frame columns are file numbers. Macro clips have
no apex annotation: onset = first frame, apex = offset = last frame, like every posed sequence here (the MaE
source draws its own apex inside the sequence anyway, docs/reference.md §AU sources). A numeric ``Subject`` cell
becomes ``S01``;
macro subjects are the clip name's prefix before the first ``-``.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path
from typing import Literal

from miex.core.errors import MiexInputError
from miex.core.report import ValidationReport
from miex.data.corpora.clips import Clip
from miex.data.corpora.common import (
    ApexFallback,
    Corpus,
    DuplicateGuard,
    SheetLayout,
    lookup_emotion,
    new_report,
    progress,
    require_root,
    resolve_sheet,
    sequence_clip,
    sheet_clips,
)
from miex.data.corpora.sheets import cell_text, open_sheet

FPS = 90.0
SHEET = "MMEW_Micro_Exp.xlsx"
MICRO, MACRO = "Micro_Expression", "Macro_Expression"
REQUIRED_COLUMNS = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion")
Part = Literal["micro", "macro", "both"]


def folder_subject(value: object) -> str:
    """``1`` or ``'1'`` -> ``'S01'``; ``'S01'`` stays; '' when empty."""
    text = cell_text(value)
    return f"S{int(text):02d}" if re.fullmatch(r"\d+", text) else text


def _micro_clips(
    root: Path, sheet: str | PathLike[str] | None, apex_fallback: ApexFallback, report: ValidationReport
) -> list[Clip]:
    coding = open_sheet(resolve_sheet(root, sheet, SHEET), required=REQUIRED_COLUMNS)
    if not (root / MICRO).is_dir():
        raise MiexInputError("no MMEW micro-expression frame tree", file=root / MICRO, field="frames")
    folders = {p.name: p for p in sorted((root / MICRO).glob("*/*")) if p.is_dir()}

    def folder(_subject: str, clip: str) -> Path | None:
        return folders.get(clip)

    layout = SheetLayout(dataset="mmew", fps=FPS, subject=folder_subject, folder=folder)
    return sheet_clips(coding, layout, report, apex_fallback=apex_fallback)


def _macro_clips(root: Path, report: ValidationReport, guard: DuplicateGuard) -> list[Clip]:
    clips = []
    for clip_dir in progress(sorted(p for p in (root / MACRO).glob("*/*") if p.is_dir()), "reading mmew macro"):
        emotion = lookup_emotion(clip_dir.parent.name, report, file=clip_dir.parent, field="emotion folder")
        subject = clip_dir.name.split("-")[0]
        if emotion is None or guard.is_duplicate(
            ("mmew", subject, clip_dir.name), report, file=clip_dir, field="clip folder"
        ):
            continue
        clip = sequence_clip(
            dataset="mmew",
            subject=subject,
            clip=clip_dir.name,
            folder=clip_dir,
            emotion=emotion[0],
            label=emotion[1],
            fps=FPS,
            report=report,
        )
        if clip is not None:
            clips.append(clip)
    return clips


def read_mmew(
    root: str | PathLike[str],
    *,
    sheet: str | PathLike[str] | None = None,
    part: Part = "micro",
    apex_fallback: ApexFallback = "skip",
    strict: bool = False,
    report: ValidationReport | None = None,
) -> Corpus:
    """Read MMEW: ``part`` = ``micro`` (sheet-annotated clips), ``macro`` (sequence folders) or ``both``."""
    root = require_root(root, "MMEW")
    report = new_report(report, strict)
    clips = _micro_clips(root, sheet, apex_fallback, report) if part in ("micro", "both") else []
    if part in ("macro", "both"):
        guard = DuplicateGuard({clip.key: None for clip in clips})
        clips += _macro_clips(root, report, guard)
    return Corpus(clips, report)
