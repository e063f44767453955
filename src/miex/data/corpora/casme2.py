"""CASME II reader (docs/reference.md §Corpora): coding sheet + raw or cropped frame tree -> clips.

Layout::

    ROOT/CASME2-coding-20140508.xlsx          (or the 2019 sheet, chosen with ``sheet=``)
    ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg      raw release (selected frames)
    ROOT/CASME2-RAW/sub01/EP02_01f/img46.jpg               raw release (full, as widely distributed)
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

from miex.core.errors import MiexInputError
from miex.core.report import ValidationReport
from miex.data.corpora.common import (
    ApexFallback,
    Corpus,
    SheetLayout,
    clip_folder,
    first_existing,
    new_report,
    require_root,
    resolve_sheet,
    sheet_clips,
)
from miex.data.corpora.sheets import cell_text, open_sheet

FPS = 200.0
SHEET_2014 = "CASME2-coding-20140508.xlsx"
SHEET_2019 = "CASME2-coding-20190701.xlsx"
FRAME_TREES: dict[str, tuple[str, ...]] = {"raw": ("CASME2_RAW_selected", "CASME2-RAW"), "cropped": ("Cropped",)}
"""Frame-tree folder names of each kind, in order of preference (both raw releases number frames the same way)."""
REQUIRED_COLUMNS = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Estimated Emotion")
FrameTree = Literal["auto", "raw", "cropped"]


def folder_subject(value: object) -> str:
    """``'01'``, ``1``, ``'1'`` or ``'sub01'`` -> ``'sub01'``; '' when it is not a subject id."""
    match = re.fullmatch(r"(?:sub)?0*(\d+)", cell_text(value), flags=re.IGNORECASE)
    return f"sub{int(match.group(1)):02d}" if match else ""


def frame_tree_names(frames: FrameTree = "auto") -> tuple[str, ...]:
    """The folder names ``frames`` may use: one kind's names, or (auto) every raw name, then the cropped one."""
    kinds = ("raw", "cropped") if frames == "auto" else (frames,)
    return tuple(name for kind in kinds for name in FRAME_TREES[kind])


def frame_tree(root: Path, frames: FrameTree = "auto") -> Path:
    """The frame tree to read: the first existing folder of :func:`frame_tree_names` (raw before cropped)."""
    names = frame_tree_names(frames)
    found = first_existing(root / name for name in names)
    return found if found is not None else root / names[0]


def read_casme2(
    root: str | PathLike[str],
    *,
    sheet: str | PathLike[str] | None = None,
    frames: FrameTree = "auto",
    apex_fallback: ApexFallback = "skip",
    strict: bool = False,
    report: ValidationReport | None = None,
    sheet_option: str = "--sheet",
) -> Corpus:
    """Read CASME II. ``sheet``: path or file name in ROOT (default the 2014 sheet, which MEGC2019 follows).

    ``sheet_option`` is the flag named in errors (``--casme2-sheet`` when read as part of MEGC2019)."""
    root = require_root(root, "CASME II")
    report = new_report(report, strict)
    tree = frame_tree(root, frames)
    if not tree.is_dir():
        expected = ", ".join(f"{name}/" for name in frame_tree_names(frames))
        raise MiexInputError(
            f"no CASME II frame tree in {root} (expected one of {expected} holding sub01/EP02_01f/...); "
            "give the folder that contains it",
            file=root,
            field="frames",
        )
    coding = open_sheet(resolve_sheet(root, sheet, SHEET_2014), required=REQUIRED_COLUMNS, option=sheet_option)

    def folder(subject: str, clip: str) -> Path:
        return clip_folder(tree, subject, clip)

    layout = SheetLayout(dataset="casme2", fps=FPS, subject=folder_subject, folder=folder)
    return Corpus(sheet_clips(coding, layout, report, apex_fallback=apex_fallback), report)
