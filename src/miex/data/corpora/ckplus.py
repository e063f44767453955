"""CK+ reader (docs/reference.md §Corpora): posed neutral -> peak sequences, a macro-expression (MaE) source.

Layout::

    ROOT/cohn-kanade-images/S005/001/S005_001_00000001.png
    ROOT/Emotion/S005/001/S005_001_00000011_emotion.txt     one float code; only 327 sequences have one
    ROOT/FACS/S005/001/S005_001_00000011_facs.txt            lines "AU intensity" (floats)

Codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise. Sadness is NEGATIVE
(the authors' code mapped it to positive: a defect, not copied). Onset = first frame, apex = offset = last frame
(the peak). Sequences without an emotion file are kept with emotion '' and label -1 (``drop_unlabelled=True``
drops them, with a note). ``aus`` is ``'1+2+5B+27'``: AU number, plus the FACS intensity letter A..E when the
coded intensity is 1..5 (0 = intensity not coded -> number alone).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from miex.core.report import ValidationReport
from miex.data.aus.schema import NO_LABEL
from miex.data.corpora.clips import Clip
from miex.data.corpora.common import Corpus, new_report, progress, require_root, sequence_clip
from miex.data.corpora.labels import emotion_to_label

FPS = 30.0
IMAGES, EMOTION, FACS = "cohn-kanade-images", "Emotion", "FACS"
EMOTION_CODES: dict[int, str] = {
    0: "neutral",
    1: "anger",
    2: "contempt",
    3: "disgust",
    4: "fear",
    5: "happiness",
    6: "sadness",
    7: "surprise",
}
INTENSITY_LETTERS = "ABCDE"


def _numbers(path: Path) -> list[list[float]]:
    """Whitespace-separated float rows of a CK+ text file (``'   3.0000000e+00'``)."""
    return [[float(x) for x in line.split()] for line in path.read_text().splitlines() if line.strip()]


def _single(folder: Path, suffix: str) -> Path | None:
    files = sorted(folder.glob(f"*{suffix}")) if folder.is_dir() else []
    return files[-1] if files else None


def read_emotion(path: Path, report: ValidationReport, clip: str) -> tuple[str, int] | None:
    """An emotion file -> (canonical emotion, 3-class label); a malformed file or unknown code is reported."""
    try:
        values = [v for row in _numbers(path) for v in row]
    except ValueError:
        values = []
    code = int(values[0]) if len(values) == 1 and float(values[0]).is_integer() else None
    if code not in EMOTION_CODES:
        report.add(
            f"expected one emotion code 0..7, got {path.read_text().strip()!r}", file=path, field="emotion", clip=clip
        )
        return None
    name = EMOTION_CODES[code]
    label = emotion_to_label(name)
    assert label is not None  # every CK+ code name is a known emotion
    return name, label


def facs_string(path: Path) -> str:
    """``'1 0 / 2 0 / 5 2 / 27 0'`` rows -> ``'1+2+5B+27'`` (see module docstring); ValueError when malformed."""
    parts = []
    for row in _numbers(path):
        au, intensity = int(row[0]), int(row[1]) if len(row) > 1 else 0
        letter = INTENSITY_LETTERS[intensity - 1] if 1 <= intensity <= len(INTENSITY_LETTERS) else ""
        parts.append(f"{au}{letter}")
    return "+".join(parts)


def read_facs(path: Path | None, report: ValidationReport, clip: str) -> str:
    """The sequence's FACS string; '' without a file; an unreadable file keeps the clip with a note."""
    if path is None:
        return ""
    try:
        return facs_string(path)
    except (ValueError, IndexError):
        report.note("unreadable FACS file: aus left empty", file=path, field="aus", clip=clip)
        return ""


def read_ckplus(
    root: str | PathLike[str],
    *,
    drop_unlabelled: bool = False,
    strict: bool = False,
    report: ValidationReport | None = None,
) -> Corpus:
    """Read every CK+ sequence under ``cohn-kanade-images``; the label comes from ``Emotion`` when present."""
    root = require_root(root, "CK+")
    report = new_report(report, strict)
    images = root / IMAGES
    if not images.is_dir():
        report.add("CK+ image tree not found", file=images, field="frames")
        return Corpus([], report)
    clips: list[Clip] = []
    unlabelled = 0
    sequences = sorted(p for p in images.glob("*/*") if p.is_dir())
    for sequence in progress(sequences, "reading ckplus"):
        subject, name = sequence.parent.name, sequence.name
        relative = Path(subject) / name
        emotion_file = _single(root / EMOTION / relative, "_emotion.txt")
        if emotion_file is None:
            unlabelled += 1
            if drop_unlabelled:
                continue
            emotion: tuple[str, int] | None = ("", NO_LABEL)
        else:
            emotion = read_emotion(emotion_file, report, f"{subject}/{name}")
            if emotion is None:
                continue
        clip = sequence_clip(
            dataset="ckplus",
            subject=subject,
            clip=name,
            folder=sequence,
            emotion=emotion[0],
            label=emotion[1],
            fps=FPS,
            aus=read_facs(_single(root / FACS / relative, "_facs.txt"), report, f"{subject}/{name}"),
            report=report,
        )
        if clip is not None:
            clips.append(clip)
    if drop_unlabelled and unlabelled:
        report.note(f"{unlabelled} sequence(s) without an emotion file dropped (drop_unlabelled)", file=root / EMOTION)
    return Corpus(clips, report)
