"""Pieces every corpus reader shares: numbered frame listing, emotion lookup, duplicate guard, sheet-row clips."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

from miex.core.errors import MiexInputError
from miex.core.fileio import IMAGE_SUFFIXES, contained, name_problem
from miex.core.progress import PROGRESS_DELAY_S
from miex.core.report import ValidationReport
from miex.data.corpora.clips import Clip, check_clip_frames, index_of_frame
from miex.data.corpora.labels import canonical_emotion, emotion_to_label
from miex.data.corpora.sheets import Sheet, SheetRow, cell_int, cell_text, normalize_aus

ApexFallback = Literal["skip", "middle"]
_TRAILING_DIGITS = re.compile(r"(\d+)$")
Item = TypeVar("Item")


class Corpus(NamedTuple):
    """What every reader returns: the clips taken and the report of everything not taken (or overridden)."""

    clips: list[Clip]
    report: ValidationReport


def new_report(report: ValidationReport | None, strict: bool) -> ValidationReport:
    return report if report is not None else ValidationReport(strict=strict)


def require_root(root: str | PathLike[str], corpus: str) -> Path:
    """ROOT as a Path; a missing ROOT or a file is one clear error instead of "0 clips" further down."""
    path = Path(root)
    if not path.is_dir():
        state = "is a file, not a folder" if path.exists() else "does not exist"
        raise MiexInputError(
            f"{corpus} ROOT {state}; give the folder of your {corpus} release (see `miex corpus --help`)", file=path
        )
    return path


def progress(
    items: Iterable[Item], description: str, *, total: int | None = None, unit: str = "clip"
) -> Iterator[Item]:
    """``items`` with a tqdm bar on stderr once reading takes longer than
    :data:`~miex.core.progress.PROGRESS_DELAY_S` (not on pipes)."""
    from tqdm import tqdm

    yield from tqdm(
        items,
        desc=description,
        total=total,
        unit=unit,
        file=sys.stderr,
        mininterval=0.5,
        delay=PROGRESS_DELAY_S,
        disable=None,
        leave=False,
    )


def frame_number(path: Path) -> int | None:
    """Absolute frame number = trailing digits of the stem (``img46``, ``reg_img46``, ``006_05562``, ``12``)."""
    match = _TRAILING_DIGITS.search(path.stem)
    return int(match.group(1)) if match else None


def image_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def numbered_frames(folder: Path) -> tuple[list[str], list[int], list[Path]]:
    """Frames of one clip folder sorted NUMERICALLY (``2.jpg`` before ``10.jpg``), plus files without a number.

    Lexicographic order breaks MMEW's unpadded ``1.jpg … 12.jpg``; numeric order is right for every corpus.
    """
    numbered: list[tuple[int, Path]] = []
    unnumbered: list[Path] = []
    for path in image_files(folder):
        number = frame_number(path)
        if number is None:
            unnumbered.append(path)
        else:
            numbered.append((number, path))
    numbered.sort()
    return [str(p) for _, p in numbered], [n for n, _ in numbered], sorted(unnumbered)


def clip_folder(tree: Path, subject: str, clip: str) -> Path:
    """``tree/subject/clip`` for names taken from a row; names that lead outside ``tree`` (``..``, absolute paths)
    are refused. Checked on the names, not through links: a subject folder linked to another disk is a normal way
    to lay out a large corpus, and reading through it writes nothing."""
    contained(tree, Path(subject) / clip, what="clip folder", follow_links=False)
    return tree / subject / clip


def first_existing(candidates: Iterable[Path]) -> Path | None:
    return next((path for path in candidates if path.exists()), None)


def resolve_sheet(root: Path, sheet: str | PathLike[str] | None, default: str) -> Path:
    """``--sheet`` may be a path, or a file name inside ROOT; without it the release's file name in ROOT."""
    if sheet is None:
        return root / default
    path = Path(sheet)
    return path if path.exists() or path.is_absolute() else root / path


@dataclass
class DuplicateGuard:
    """Remembers clip keys: a second clip with the same (dataset, subject, clip) is reported, never overwritten."""

    seen: dict[tuple[str, str, str], int | None] = field(default_factory=dict)

    def is_duplicate(
        self,
        key: tuple[str, str, str],
        report: ValidationReport,
        *,
        file: str | PathLike[str] = "",
        row: int | None = None,
        field: str = "Filename",
    ) -> bool:
        if key in self.seen:
            first = self.seen[key]
            report.add(
                f"duplicate clip (first seen{f' on row {first}' if first is not None else ''}); the first is kept",
                file=file,
                row=row,
                field=field,
                clip=f"{key[1]}/{key[2]}",
            )
            return True
        self.seen[key] = row
        return False


def lookup_emotion(
    name: str,
    report: ValidationReport,
    *,
    file: str | PathLike[str] = "",
    row: int | None = None,
    field: str = "Estimated Emotion",
    clip: str = "",
) -> tuple[str, int] | None:
    """Native emotion -> (canonical name, 3-class label); an unknown name is reported (None), never guessed."""
    label = emotion_to_label(name)
    if label is None:
        report.add(
            f"unknown emotion {name!r} (known: see miex.data.corpora.labels.EMOTION_SYNONYMS)",
            file=file,
            row=row,
            field=field,
            clip=clip,
        )
        return None
    return str(canonical_emotion(name)), label


def sequence_clip(
    *,
    dataset: str,
    subject: str,
    clip: str,
    folder: Path,
    emotion: str,
    label: int,
    fps: float,
    aus: str = "",
    expression: str = "macro",
    report: ValidationReport,
    file: str | PathLike[str] = "",
    apex: Callable[[int], int] | None = None,
    apex_source: str = "",
) -> Clip | None:
    """A clip that is a whole folder of frames: onset = first, offset = last, apex = ``apex(n)`` (default last).

    Used for posed macro-expression sequences (neutral -> peak: the peak is the last frame) and SMIC (no apex
    annotation). ``apex_source`` says how ``apex`` chose (:data:`~.clips.APEX_SOURCES`; ``last`` without ``apex``).
    Returns None (reported) when the folder has no usable frames.
    """
    frames, numbers, unnumbered = numbered_frames(folder)
    if unnumbered:
        report.add(
            f"{len(unnumbered)} image file(s) without a frame number, first {unnumbered[0].name}",
            file=folder,
            field="frames",
            clip=f"{subject}/{clip}",
        )
        return None
    count = len(frames)
    candidate = Clip(
        dataset=dataset,
        subject=subject,
        clip=clip,
        frames=frames,
        frame_numbers=numbers,
        onset=0,
        apex=(apex(count) if apex else count - 1),
        offset=max(count - 1, 0),
        emotion=emotion,
        label=label,
        fps=fps,
        aus=aus,
        expression=expression,
        apex_source=apex_source or ("last" if apex is None else ""),
    )
    return candidate if check_clip_frames(candidate, report, file=file or folder) else None


# --------------------------------------------------------------------------------------------------------------
# Sheet rows -> clips (CASME II, SAMM, MMEW share this: only their subject/folder naming differs)


@dataclass(frozen=True)
class SheetLayout:
    """How one corpus names things: its dataset key, fps, and how a row's subject and clip map to a folder."""

    dataset: str
    fps: float
    subject: Callable[[object], str]
    """subject cell -> subject folder name ('' when the cell is unusable)"""
    folder: Callable[[str, str], Path | None]
    """(subject, clip) -> the clip's frame folder (None when it cannot be found)"""


def sheet_clips(
    sheet: Sheet, layout: SheetLayout, report: ValidationReport, *, apex_fallback: ApexFallback = "skip"
) -> list[Clip]:
    """Every valid row of a coding sheet as a clip; each invalid row is reported with its Excel row and column."""
    guard = DuplicateGuard()
    clips = []
    for row in progress(sheet, f"reading {layout.dataset}", total=len(sheet.rows)):
        clip = _row_clip(sheet, row, layout, report, guard, apex_fallback)
        if clip is not None:
            clips.append(clip)
    return clips


def _row_clip(
    sheet: Sheet,
    row: SheetRow,
    layout: SheetLayout,
    report: ValidationReport,
    guard: DuplicateGuard,
    apex_fallback: ApexFallback,
) -> Clip | None:
    where = {"file": sheet.path, "row": row.row}
    subject, name = layout.subject(row.get("Subject")), cell_text(row.get("Filename"))
    if not subject or not name:
        missing = "Subject" if not subject else "Filename"
        report.add(f"empty or unreadable {missing} ({row.get(missing)!r})", field=sheet.header(missing), **where)
        return None
    for column, value in (("Subject", subject), ("Filename", name)):
        problem = name_problem(value)
        if problem is not None:
            report.add(problem, field=sheet.header(column), **where)
            return None
    label_of = f"{subject}/{name}"
    numbers = _onset_apex_offset(sheet, row, report, apex_fallback, label_of)
    emotion = lookup_emotion(
        cell_text(row.get("Estimated Emotion")),
        report,
        field=sheet.header("Estimated Emotion"),
        clip=label_of,
        **where,
    )
    if numbers is None or emotion is None:
        return None
    if guard.is_duplicate((layout.dataset, subject, name), report, field=sheet.header("Filename"), **where):
        return None
    try:
        folder = layout.folder(subject, name)
    except MiexInputError as error:  # a folder link that leads out of the frame tree
        report.add(error.reason, field=sheet.header("Filename"), clip=label_of, **where)
        return None
    if folder is None or not folder.is_dir():
        report.add(f"clip folder not found{f' ({folder})' if folder else ''}", field="frames", clip=label_of, **where)
        return None
    frames, frame_numbers, unnumbered = numbered_frames(folder)
    if unnumbered:
        report.note(
            f"{len(unnumbered)} image file(s) without a frame number ignored, first {unnumbered[0].name}",
            field="frames",
            clip=label_of,
            **where,
        )
    indices = _indices(sheet, row, numbers, frame_numbers, report, label_of, folder)
    if indices is None:
        return None
    clip = Clip(
        dataset=layout.dataset,
        subject=subject,
        clip=name,
        frames=frames,
        frame_numbers=frame_numbers,
        onset=indices[0],
        apex=indices[1],
        offset=indices[2],
        emotion=emotion[0],
        label=emotion[1],
        fps=layout.fps,
        aus=normalize_aus(row.get("Action Units")),
        expression="micro",
        apex_source="middle" if _apex_missing(row) else "annotated",
    )
    return clip if check_clip_frames(clip, report, **where) else None


def _apex_missing(row: SheetRow) -> bool:
    """Whether the row's apex is not annotated (``'/'``, empty, -1), so ``--apex-fallback middle`` chose it."""
    apex = cell_int(row.get("ApexFrame"))
    return apex is None or apex < 0


_FRAME_COLUMNS = ("OnsetFrame", "ApexFrame", "OffsetFrame")


def _onset_apex_offset(
    sheet: Sheet, row: SheetRow, report: ValidationReport, apex_fallback: ApexFallback, clip: str
) -> tuple[int, int, int] | None:
    """Validated (onset, apex, offset) frame numbers: whole numbers, apex annotated, onset <= apex <= offset."""
    where = {"file": sheet.path, "row": row.row, "clip": clip}
    onset, apex, offset = (cell_int(row.get(column)) for column in _FRAME_COLUMNS)
    for column, value in (("OnsetFrame", onset), ("OffsetFrame", offset)):
        if value is None:
            report.add(f"not a frame number: {row.get(column)!r}", field=sheet.header(column), **where)
            return None
    assert onset is not None and offset is not None
    if onset > offset:
        report.add(f"onset {onset} after offset {offset}", field=sheet.header("OffsetFrame"), **where)
        return None
    if apex is None or apex < 0:
        raw = row.get("ApexFrame")
        if apex_fallback != "middle":
            report.add(
                f"apex not annotated ({raw!r}); use --apex-fallback middle to take the middle frame",
                field=sheet.header("ApexFrame"),
                **where,
            )
            return None
        apex = (onset + offset) // 2
        report.note(f"apex not annotated ({raw!r}): middle frame {apex} used", field=sheet.header("ApexFrame"), **where)
    if not onset <= apex <= offset:
        report.add(f"apex {apex} outside onset..offset {onset}..{offset}", field=sheet.header("ApexFrame"), **where)
        return None
    return onset, apex, offset


def _indices(
    sheet: Sheet,
    row: SheetRow,
    numbers: Sequence[int],
    frame_numbers: Sequence[int],
    report: ValidationReport,
    clip: str,
    folder: Path,
) -> tuple[int, int, int] | None:
    """Frame numbers -> indices into the clip's frame files; a number with no file is reported."""
    indices = []
    for column, number in zip(_FRAME_COLUMNS, numbers, strict=True):
        index = index_of_frame(frame_numbers, number)
        if index < 0:
            report.add(
                f"frame {number} has no file in {folder}",
                file=sheet.path,
                row=row.row,
                field=sheet.header(column),
                clip=clip,
            )
            return None
        indices.append(index)
    expected = numbers[2] - numbers[0] + 1
    present = indices[2] - indices[0] + 1
    if present != expected:
        report.add(
            f"{expected - present} frame file(s) missing between onset {numbers[0]} and offset {numbers[2]}"
            f" in {folder}",
            file=sheet.path,
            row=row.row,
            field="frames",
            clip=clip,
        )
        return None
    return indices[0], indices[1], indices[2]
