"""CASME II reader (docs/reference.md §Corpora): coding sheet + raw or cropped frame tree -> clips.

Layout::

    ROOT/CASME2-coding-20140508.xlsx          (or the 2019 sheet, chosen with ``sheet=``)
    ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg      raw release
    ROOT/Cropped/sub01/EP02_01f/reg_img46.jpg              cropped release

The file number is the absolute frame number. The sheet's ``Subject`` is text ``"01"`` (or a number when re-saved);
the folder is ``sub`` + 2 digits. One real row has ApexFrame ``"/"``: reported and skipped by default, or the middle
frame between onset and offset with ``apex_fallback="middle"`` (reported as a note).
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path
from typing import Literal

from ..errors import MiexInputError
from .common import ApexFallback, Corpus, SheetLayout, first_existing, new_report, resolve_sheet, sheet_clips
from .report import ValidationReport
from .sheets import cell_text, open_sheet

FPS = 200.0
SHEET_2014 = "CASME2-coding-20140508.xlsx"
SHEET_2019 = "CASME2-coding-20190701.xlsx"
FRAME_TREES = {"raw": "CASME2_RAW_selected", "cropped": "Cropped"}
REQUIRED_COLUMNS = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion")
FrameTree = Literal["auto", "raw", "cropped"]


def folder_subject(value: object) -> str:
    """``'01'``, ``1``, ``'1'`` or ``'sub01'`` -> ``'sub01'``; '' when it is not a subject id."""
    match = re.fullmatch(r"(?:sub)?0*(\d+)", cell_text(value), flags=re.IGNORECASE)
    return f"sub{int(match.group(1)):02d}" if match else ""


def frame_tree(root: Path, frames: FrameTree = "auto") -> Path:
    """The frame tree to read: ``raw`` or ``cropped``, or (auto) the raw tree if present, else the cropped one."""
    if frames != "auto":
        return root / FRAME_TREES[frames]
    found = first_existing(root / name for name in FRAME_TREES.values())
    return found if found is not None else root / FRAME_TREES["raw"]


def read_casme2(
    root: str | PathLike[str],
    *,
    sheet: str | PathLike[str] | None = None,
    frames: FrameTree = "auto",
    apex_fallback: ApexFallback = "skip",
    strict: bool = False,
    report: ValidationReport | None = None,
) -> Corpus:
    """Read CASME II. ``sheet``: path or file name in ROOT (default the 2014 sheet, which MEGC2019 follows)."""
    root = Path(root)
    report = new_report(report, strict)
    tree = frame_tree(root, frames)
    if not tree.is_dir():
        expected = " or ".join(str(root / name) for name in FRAME_TREES.values())
        raise MiexInputError(f"no CASME II frame tree (expected {expected})", file=tree, field="frames")
    coding = open_sheet(resolve_sheet(root, sheet, SHEET_2014), required=REQUIRED_COLUMNS)

    def folder(subject: str, clip: str) -> Path:
        return tree / subject / clip

    layout = SheetLayout(dataset="casme2", fps=FPS, subject=folder_subject, folder=folder)
    return Corpus(sheet_clips(coding, layout, report, apex_fallback=apex_fallback), report)
