"""SMIC-HS reader (docs/reference.md §Corpora): no sheet, labels come from the folders.

Layout::

    ROOT/HS/s1/micro/{negative,positive,surprise}/s1_ne_01/image123456.bmp
    (or ROOT/s1/... when ROOT is the HS folder itself)

Frames are numbered by absolute frame (trailing digits). There is no apex annotation: apex = the middle frame
(index ``(n - 1) // 2``, as MiE-X does) or ``floor(fraction * (n - 1))`` for a fraction in [0, 1], unless an apex
sheet gives it (:mod:`.smic_apex`); the clip table's ``apex_source`` says which (``middle``, ``fraction``,
``apex-sheet``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Literal

from miex.core.report import ValidationReport
from miex.data.corpora.clips import Clip
from miex.data.corpora.common import (
    Corpus,
    DuplicateGuard,
    lookup_emotion,
    new_report,
    progress,
    require_root,
    sequence_clip,
)
from miex.data.corpora.smic_apex import apply_apex_sheet, read_apex_sheet

FPS = 100.0
HS_FOLDER = "HS"
Apex = Literal["middle"] | float


def folder_subject(value: object) -> str:
    """``'s01'``, ``'s1'``, ``'1'`` or ``1`` -> ``'s1'`` (the folder name); '' when it is not a subject id."""
    match = re.fullmatch(r"s?0*(\d+)", str(value).strip(), flags=re.IGNORECASE)
    return f"s{int(match.group(1))}" if match else ""


def folder_clip(value: object) -> str:
    """``'s01_ne_01'`` -> ``'s1_ne_01'``: MEGC2019 pads the subject inside the clip name, the folders do not."""
    text = str(value).strip()
    head, _, tail = text.partition("_")
    subject = folder_subject(head)
    return f"{subject}_{tail}" if subject and tail else text


def apex_index(apex: Apex) -> Callable[[int], int]:
    """``'middle'`` or a fraction -> a function (frame count -> apex index)."""
    fraction = 0.5 if apex == "middle" else float(apex)
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"apex must be 'middle' or a fraction in [0, 1], got {apex!r}")
    return lambda count: math.floor(fraction * max(count - 1, 0))


def hs_tree(root: Path) -> Path:
    return root / HS_FOLDER if (root / HS_FOLDER).is_dir() else root


def read_smic(
    root: str | PathLike[str],
    *,
    apex: Apex = "middle",
    apex_sheet: str | PathLike[str] | None = None,
    strict: bool = False,
    report: ValidationReport | None = None,
    sheet_option: str = "--apex-sheet",
) -> Corpus:
    """Read SMIC-HS micro-expression clips: ``<subject>/micro/<emotion>/<clip>``; with ``apex_sheet`` (a CSV or
    .xlsx, :mod:`.smic_apex`) the apex of each clip it lists comes from it, the others keep ``apex``."""
    tree = hs_tree(require_root(root, "SMIC"))
    report = new_report(report, strict)
    pick_apex = apex_index(apex)
    sheet = read_apex_sheet(apex_sheet, report, option=sheet_option) if apex_sheet is not None else None
    guard = DuplicateGuard()
    clips: list[Clip] = []
    emotion_dirs = sorted(p for p in tree.glob("*/micro/*") if p.is_dir())
    for emotion_dir in progress(emotion_dirs, "reading smic", unit="folder"):
        subject = folder_subject(emotion_dir.parent.parent.name)
        if not subject:
            report.add("subject folder is not s<number>", file=emotion_dir.parent.parent, field="subject")
            continue
        emotion = lookup_emotion(emotion_dir.name, report, file=emotion_dir, field="emotion folder")
        if emotion is None:
            continue
        for clip_dir in sorted(p for p in emotion_dir.iterdir() if p.is_dir()):
            if guard.is_duplicate(("smic", subject, clip_dir.name), report, file=clip_dir, field="clip folder"):
                continue
            clip = sequence_clip(
                dataset="smic",
                subject=subject,
                clip=clip_dir.name,
                folder=clip_dir,
                emotion=emotion[0],
                label=emotion[1],
                fps=FPS,
                expression="micro",
                report=report,
                apex=pick_apex,
                apex_source="middle" if apex == "middle" else "fraction",
            )
            if clip is not None:
                clips.append(clip)
    if not clips and not report.problems:
        report.add("no SMIC-HS clips found (expected <subject>/micro/<emotion>/<clip>/)", file=tree, field="frames")
    if sheet is not None:
        fallback = "middle frame" if apex == "middle" else f"apex at fraction {float(apex):g} of the clip"
        folders = {(folder_subject(p.parents[2].name), p.name) for p in tree.glob("*/micro/*/*") if p.is_dir()}
        clips = apply_apex_sheet(clips, sheet, report, folders=folders, fallback=fallback)
    return Corpus(clips, report)
