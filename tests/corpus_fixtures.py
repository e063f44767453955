"""Builders of SMALL corpus trees that reproduce each real release's layout and quirks (docs/reference.md §Corpora).

Plain functions (pytest fixtures in conftest.py call them). Images are real 8x8 files, encoded once per format and
copied as bytes, so even the 442-clip MEGC2019 composite builds in well under a second or two.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import openpyxl
from PIL import Image

# --------------------------------------------------------------------------------------------------------------
# primitives


@cache
def _image_bytes(suffix: str, mode: str) -> bytes:
    formats = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP"}
    buffer = io.BytesIO()
    Image.new(mode, (8, 8), 128 if mode == "L" else (120, 90, 60)).save(buffer, formats[suffix])
    return buffer.getvalue()


def write_image(path: Path, *, grayscale: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_image_bytes(path.suffix.lower(), "L" if grayscale else "RGB"))
    return path


def write_xlsx(
    path: Path,
    header: Sequence[Any],
    rows: Iterable[Sequence[Any]],
    *,
    title: str | None = None,
    preamble: Sequence[Sequence[Any]] = (),
    other_sheets: Sequence[str] = (),
) -> Path:
    """One workbook: optional decoy sheets first, then the data sheet (preamble rows, header, rows)."""
    workbook = openpyxl.Workbook()
    first = workbook.active
    for index, name in enumerate(other_sheets):
        sheet = first if index == 0 else workbook.create_sheet(name)
        sheet.title = name
        sheet.append(["decoy", "sheet"])
    sheet = workbook.create_sheet(title) if other_sheets else first
    if title:
        sheet.title = title
    for line in [*preamble, header, *rows]:
        sheet.append(list(line))
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def write_frames(folder: Path, numbers: Iterable[int], name: str, *, grayscale: bool = False) -> None:
    """``name`` is a format string of the frame number, e.g. ``'img{}.jpg'``."""
    for number in numbers:
        write_image(folder / name.format(number), grayscale=grayscale)


# --------------------------------------------------------------------------------------------------------------
# CASME II


CASME2_HEADER = (
    "Subject",
    "Filename",
    None,
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    None,
    "Action Units",
    "Estimated Emotion",
)
CASME2_ROWS: list[tuple[Any, ...]] = [
    # Subject (text "01"; one int cell), Filename, -, onset, apex, offset, -, AUs (int or str), emotion
    ("01", "EP02_01f", None, 46, 48, 50, None, 12, "happiness"),  # sheet row 2
    ("01", "EP03_02", None, 10, 12, 14, None, "4+L10", "disgust"),  # row 3
    ("02", "EP01_11f", None, 20, "/", 24, None, "R12", "happiness"),  # row 4: "/" apex
    ("02", "EP09_03", None, 30, 33, 35, None, "?", "repression"),  # row 5
    (3, "EP01_01", None, 1, 2, 4, None, 14, "others"),  # row 6: int subject; others -> label -1
    ("03", "EP05_02", None, 5, 7, 9, None, "1+2", "surprise"),  # row 7
    ("04", "EP12_01", None, 40, 42, 44, None, 9, "disgust"),  # row 8: offset frame file missing
    ("04", "EP13_02", None, 50, 52, 54, None, 4, "angst"),  # row 9: unknown emotion
    ("01", "EP02_01f", None, 46, 48, 50, None, 12, "happiness"),  # row 10: duplicate of row 2
    ("05", "EP06_01", None, 60, 65, 64, None, 4, "fear"),  # row 11: apex outside onset..offset
    ("05", "EP07_01", None, 70, 72, 76, None, 4, "sadness"),  # row 12: frame 74 missing in the middle
]
CASME2_VALID = {"EP02_01f", "EP03_02", "EP09_03", "EP01_01", "EP05_02"}
CASME2_RELABEL_2019 = {"EP02_01f": "others", "EP09_03": "disgust", "EP05_02": "happiness"}
CASME2_TREES = {
    "raw": ("CASME2_RAW_selected", "img{}.jpg"),
    "cropped": ("Cropped", "reg_img{}.jpg"),
    "full": ("CASME2-RAW", "img{}.jpg"),
}


def _casme2_subject(cell: Any) -> str:
    return f"sub{int(cell):02d}"


def build_casme2(root: Path, *, trees: Sequence[str] = ("raw",)) -> Path:
    """CASME II fixture: the 2014 sheet (quirks in :data:`CASME2_ROWS`), the 2019 sheet, and frame trees."""
    write_xlsx(root / "CASME2-coding-20140508.xlsx", CASME2_HEADER, CASME2_ROWS, title="Sheet1")
    relabelled = [(*row[:8], CASME2_RELABEL_2019.get(row[1], row[8]), "I") for row in CASME2_ROWS]
    write_xlsx(root / "CASME2-coding-20190701.xlsx", (*CASME2_HEADER, "Objective Classes"), relabelled)
    for tree in trees:
        folder, name = CASME2_TREES[tree]
        for row in CASME2_ROWS[:8] + CASME2_ROWS[9:]:
            numbers = set(range(row[3], row[5] + 1))
            numbers -= {44} if row[1] == "EP12_01" else {74} if row[1] == "EP07_01" else set()
            write_frames(root / folder / _casme2_subject(row[0]) / row[1], numbers, name)
    return root


# --------------------------------------------------------------------------------------------------------------
# SAMM


SAMM_HEADER = (
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Duration",
    "Micro",
    "Action Units",
    "Estimated Emotion",
    "Objective Classes",
    "Notes",
)
SAMM_PREAMBLE: list[tuple[Any, ...]] = [
    ("SAMM - Spontaneous Micro-Facial Movement Dataset",),
    *[()] * 5,
    ("Coded by three coders",),
    *[()] * 6,
]
SAMM_ROWS: list[tuple[Any, ...]] = [
    # header is Excel row 14, so data starts on row 15
    ("006", "006_1_2", 1, 5562, 5563, 5565, 4, "Micro - 1/2", "R12+R15", "Contempt", 3, ""),  # row 15
    ("006", "006_1_3", 1, 100, 102, 104, 5, "Micro - 1/2", "12", "Happiness", 1, ""),  # row 16
    (7, "007_3_1", 3, 10, 11, 12, 3, "Micro - 1/4", 1, "Surprise", 2, ""),  # row 17: int subject
    ("028", "028_4_1", 4, 20, 30, 25, 6, "Micro - 1/2", "4", "Anger", 5, "apex outside"),  # row 18
    ("032", "032_3_1", 3, 50, 45, 55, 6, "Micro - 1/2", "4", "Anger", 5, "apex outside"),  # row 19
    ("011", "011_2_3", 2, 60, -1, 64, 5, "Micro - 1/2", "14", "Contempt", 3, "no apex"),  # row 20
    ("009", "009_1_1", 1, 70, 71, 73, 4, "Micro - 1/2", "7", "Other", 7, ""),  # row 21: others -> label -1
]
SAMM_VALID = {"006_1_2", "006_1_3", "007_3_1", "009_1_1"}


def build_samm(root: Path, *, frame_tree: str = "SAMM") -> Path:
    """SAMM fixture: 13 preamble rows, header on row 14, decoy first worksheet, grayscale frames."""
    write_xlsx(
        root / "SAMM_Micro_FACS_Codes_v2.xlsx",
        SAMM_HEADER,
        SAMM_ROWS,
        title="MICRO_ONLY",
        preamble=SAMM_PREAMBLE,
        other_sheets=("MACRO_AND_MICRO",),
    )
    for row in SAMM_ROWS:
        subject = f"{int(row[0]):03d}"
        numbers = range(row[3], row[5] + 1)
        write_frames(root / frame_tree / subject / row[1], numbers, subject + "_{:05d}.jpg", grayscale=True)
    return root


# --------------------------------------------------------------------------------------------------------------
# SMIC-HS


SMIC_CLIPS: list[tuple[str, str, str, range, str]] = [
    # subject folder, emotion folder, clip, absolute frame numbers, file name
    ("s1", "negative", "s1_ne_01", range(123456, 123461), "image{}.bmp"),  # 5 frames
    ("s1", "positive", "s1_po_01", range(2000, 2004), "image{}.bmp"),  # 4 frames
    ("s2", "surprise", "s2_sur_01", range(998, 1003), "image{}.bmp"),  # 998..1002: lexicographic order is wrong
]


def build_smic(root: Path) -> Path:
    """SMIC-HS fixture: ``HS/<s>/micro/<emotion>/<clip>/image<n>.bmp`` plus a non-micro folder and two bad items."""
    hs = root / "HS"
    for subject, emotion, clip, numbers, name in SMIC_CLIPS:
        write_frames(hs / subject / "micro" / emotion / clip, numbers, name)
    write_frames(hs / "s1" / "non_micro" / "negative" / "s1_ne_09", range(1, 4), "image{}.bmp")  # not micro
    write_frames(hs / "s3" / "micro" / "happy-ish" / "s3_x_01", range(1, 4), "image{}.bmp")  # unknown emotion
    bad = hs / "s3" / "micro" / "negative" / "s3_ne_01"
    write_frames(bad, range(1, 4), "image{}.bmp")
    write_image(bad / "thumbnail.bmp")  # no frame number
    return root


def write_apex_sheet(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """A SMIC apex sheet: a UTF-8 CSV (``.csv``) or one worksheet (``.xlsx``) with ``header`` then ``rows``."""
    if path.suffix == ".xlsx":
        return write_xlsx(path, header, rows)
    lines = [",".join(str(cell) for cell in line) for line in [header, *rows]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------------------------
# MEGC2019 composite


@dataclass(frozen=True)
class CompositeClip:
    """One clip of a composite fixture: where it lives, its native emotion, and its ground-truth fate."""

    dataset: str  # casme2 | samm | smic
    subject: int
    clip: str
    emotion: str  # CASME II / SAMM sheet emotion, or SMIC emotion folder
    gt: int | None  # ground-truth label; None = not in the ground truth
    on_disk: bool = True


def composite_gt_ids(item: CompositeClip, *, casme2_prefix: bool = False) -> tuple[str, str]:
    """The ids as the official GT writes them: CASME II ``01``, SAMM ``6``, SMIC ``s01`` / ``s01_ne_01``."""
    if item.dataset == "casme2":
        return (f"sub{item.subject:02d}" if casme2_prefix else f"{item.subject:02d}"), item.clip
    if item.dataset == "samm":
        return str(item.subject), item.clip
    return f"s{item.subject:02d}", f"s{item.subject:02d}_" + item.clip.split("_", 1)[1]


def build_composite(
    root: Path,
    clips: Sequence[CompositeClip],
    *,
    extra_gt: Sequence[str] = (),
    parts: Sequence[str] = ("casme2", "samm", "smic"),
    casme2_tree: str = "CASME2_RAW_selected",
) -> Path:
    """``root/{CASME2,SAMM,SMIC}`` releases (3-frame clips) and ``root/combined_3class_gt.csv`` (no header, CRLF).

    ``parts`` are the releases written (the GT always lists every clip); ``casme2_tree`` the CASME II frame tree."""
    casme2_rows, samm_rows = [], []
    for item in clips:
        if item.dataset not in parts:
            continue
        if item.dataset == "casme2":
            casme2_rows.append((f"{item.subject:02d}", item.clip, None, 1, 2, 3, None, "4", item.emotion))
            folder = root / "CASME2" / casme2_tree / f"sub{item.subject:02d}" / item.clip
            frame_name = "img{}.jpg"
        elif item.dataset == "samm":
            subject = f"{item.subject:03d}"
            samm_rows.append((subject, item.clip, 1, 1, 2, 3, 3, "Micro", "4", item.emotion, 1, ""))
            folder, frame_name = root / "SAMM" / "SAMM" / subject / item.clip, subject + "_{:05d}.jpg"
        else:
            folder = root / "SMIC" / "HS" / f"s{item.subject}" / "micro" / item.emotion / item.clip
            frame_name = "image{}.bmp"
        if item.on_disk:
            write_frames(folder, (1, 2, 3), frame_name)
    if "casme2" in parts:
        write_xlsx(root / "CASME2" / "CASME2-coding-20140508.xlsx", CASME2_HEADER, casme2_rows)
    if "samm" in parts:
        write_xlsx(
            root / "SAMM" / "SAMM_Micro_FACS_Codes_v2.xlsx",
            SAMM_HEADER,
            samm_rows,
            title="MICRO_ONLY",
            preamble=SAMM_PREAMBLE,
        )
    if "smic" in parts:
        (root / "SMIC" / "HS").mkdir(parents=True, exist_ok=True)
    lines = [
        ",".join((c.dataset, *composite_gt_ids(c, casme2_prefix=i % 2 == 1), str(c.gt)))
        for i, c in enumerate(clips)
        if c.gt is not None
    ]
    (root / "combined_3class_gt.csv").write_bytes(("\r\n".join([*lines, *extra_gt]) + "\r\n").encode())
    return root


SMALL_COMPOSITE: list[CompositeClip] = [
    # the MEGC2019 merge: CASME II disgust/repression -> negative, happiness -> positive, surprise -> surprise
    CompositeClip("casme2", 1, "EP02_01f", "happiness", 1),
    CompositeClip("casme2", 1, "EP03_02", "disgust", 0),
    CompositeClip("casme2", 2, "EP09_03", "repression", 0),
    CompositeClip("casme2", 2, "EP05_02", "surprise", 2),
    CompositeClip("casme2", 3, "EP01_01", "others", 0),  # GT disagrees with the sheet: GT wins, noted
    # ... and CASME II fear, sadness, others are NOT in the composite
    CompositeClip("casme2", 3, "EP07_01", "fear", None),
    CompositeClip("casme2", 3, "EP08_01", "sadness", None),
    CompositeClip("casme2", 4, "EP10_01", "others", None),
    # SAMM: anger, contempt, disgust, fear, sadness -> negative; Other dropped; GT subject 6 -> folder 006
    CompositeClip("samm", 6, "006_1_2", "Contempt", 0),
    CompositeClip("samm", 6, "006_1_3", "Happiness", 1),
    CompositeClip("samm", 7, "007_3_1", "Surprise", 2),
    CompositeClip("samm", 7, "007_5_1", "Sadness", 0),
    CompositeClip("samm", 9, "009_1_1", "Other", None),
    CompositeClip("samm", 11, "011_2_3", "Fear", 0, on_disk=False),  # in the GT, frames missing on disk
    # SMIC: folders already merged; GT s01 / s01_ne_01 -> folders s1 / s1_ne_01
    CompositeClip("smic", 1, "s1_ne_01", "negative", 0),
    CompositeClip("smic", 1, "s1_po_01", "positive", 1),
    CompositeClip("smic", 12, "s12_sur_02", "surprise", 2),
]
SMALL_COMPOSITE_EXTRA_GT = ("smic,s01,s01_ne_01,0", "mystery,1,x,0", "casme2,01,EP02_01f,7")  # dup, dataset, label


# the real MEGC2019 composition (docs/reference.md §Corpora): clips per native emotion, subjects per dataset
REAL_COMPOSITION: dict[str, dict[str, int]] = {
    "casme2": {"disgust": 61, "repression": 27, "happiness": 32, "surprise": 25},  # 145: 88 / 32 / 25
    # 133: 92 / 26 / 15
    "samm": {"Anger": 57, "Contempt": 12, "Disgust": 9, "Fear": 8, "Sadness": 6, "Happiness": 26, "Surprise": 15},
    "smic": {"negative": 70, "positive": 51, "surprise": 43},  # 164
}
REAL_SUBJECTS = {"casme2": list(range(1, 25)), "samm": list(range(6, 34)), "smic": list(range(1, 17))}
DROPPED_FROM_REAL = {"casme2": ["fear", "sadness", "others"], "samm": ["Other"], "smic": []}
_CLASS = {
    "disgust": 0,
    "repression": 0,
    "anger": 0,
    "contempt": 0,
    "fear": 0,
    "sadness": 0,
    "negative": 0,
    "happiness": 1,
    "positive": 1,
    "surprise": 2,
}


def real_composition() -> list[CompositeClip]:
    """442 GT clips (145 / 133 / 164; 24 + 28 + 16 subjects; 250 / 109 / 83) + a few dropped-emotion clips."""
    clips = []
    for dataset, emotions in REAL_COMPOSITION.items():
        subjects = REAL_SUBJECTS[dataset]
        names = [name for name, count in emotions.items() for _ in range(count)] + DROPPED_FROM_REAL[dataset]
        for index, emotion in enumerate(names):
            subject = subjects[index % len(subjects)]
            gt = None if emotion in DROPPED_FROM_REAL[dataset] else _CLASS[emotion.lower()]
            name = _composite_clip_name(dataset, subject, emotion, index)
            clips.append(CompositeClip(dataset, subject, name, emotion, gt))
    return clips


def _composite_clip_name(dataset: str, subject: int, emotion: str, index: int) -> str:
    if dataset == "casme2":
        return f"EP{index:03d}_01"
    if dataset == "samm":
        return f"{subject:03d}_{index}_1"
    return f"s{subject}_{emotion[:2]}_{index:03d}"


TRAVERSAL_FILENAME = "../../X/EPX"
"""A hostile CASME II ``Filename``: from ``CASME2_RAW_selected/sub01`` it reaches ``ROOT/X/EPX``."""


def build_casme2_traversal(root: Path) -> Path:
    """:func:`build_casme2` plus a sheet row whose Filename leads out of the frame tree to frames that EXIST there
    (so only the name check, not a missing folder, can stop it); the row is the sheet's last (Excel row 13)."""
    build_casme2(root)
    rows = [*CASME2_ROWS, ("01", TRAVERSAL_FILENAME, None, 1, 2, 3, None, "4", "happiness")]
    write_xlsx(root / "CASME2-coding-20140508.xlsx", CASME2_HEADER, rows, title="Sheet1")
    write_frames(root / "X" / "EPX", (1, 2, 3), "img{}.jpg")
    return root


# --------------------------------------------------------------------------------------------------------------
# CK+


CKPLUS_SEQUENCES: list[tuple[str, str, int, int | None, list[tuple[int, int]]]] = [
    # subject, sequence, frame count, emotion code (None = no emotion file), FACS (AU, intensity)
    ("S005", "001", 4, 3, [(9, 4), (17, 0), (25, 2)]),  # disgust
    ("S010", "002", 5, 6, [(1, 0), (4, 3), (15, 2)]),  # sadness: NEGATIVE (authors' defect said positive)
    ("S011", "001", 3, None, [(1, 0)]),  # no emotion file: kept, label -1
    ("S011", "002", 3, 5, [(6, 0), (12, 3)]),  # happy
    ("S012", "003", 3, 9, []),  # invalid code: reported
    ("S014", "001", 3, 0, []),  # neutral: known, label -1
]


def build_ckplus(root: Path) -> Path:
    for subject, sequence, count, code, facs in CKPLUS_SEQUENCES:
        relative = Path(subject) / sequence
        write_frames(root / "cohn-kanade-images" / relative, range(1, count + 1), f"{subject}_{sequence}_{{:08d}}.png")
        stem = f"{subject}_{sequence}_{count:08d}"
        if code is not None:
            (root / "Emotion" / relative).mkdir(parents=True, exist_ok=True)
            (root / "Emotion" / relative / f"{stem}_emotion.txt").write_text(f"   {float(code):.7e}\n")
        if facs:
            (root / "FACS" / relative).mkdir(parents=True, exist_ok=True)
            text = "".join(f"   {float(au):.7e}   {float(level):.7e}\n" for au, level in facs)
            (root / "FACS" / relative / f"{stem}_facs.txt").write_text(text)
    return root


# --------------------------------------------------------------------------------------------------------------
# MMEW


MMEW_HEADER = (
    "Subject",
    "Filename",
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    "Action Units",
    "Estimated Emotion",
    "Remarks",
)
MMEW_ROWS: list[tuple[Any, ...]] = [
    ("S01", "S01-01-001", 2, 10, 12, "AU12", "happiness"),  # row 2: frames 1..12 unpadded
    (2, "S02-03-004", 1, 3, 5, "AU1+AU2", "surprise"),  # row 3: int subject -> S02
    ("S03", "S03-01-002", 1, 2, 4, "AU4", "others"),  # row 4: others -> label -1
    ("S03", "S03-01-003", 1, 2, 4, "AU4", "confused"),  # row 5: unknown emotion
    ("S04", "S04-02-001", 1, 2, 4, "AU9", "disgust"),  # row 6: folder missing on disk
]


def build_mmew(root: Path) -> Path:
    write_xlsx(root / "MMEW_Micro_Exp.xlsx", MMEW_HEADER, [(*row, "") for row in MMEW_ROWS])
    folders = {
        "S01-01-001": ("happiness", 12),
        "S02-03-004": ("surprise", 5),
        "S03-01-002": ("others", 4),
        "S03-01-003": ("others", 4),
    }
    for clip, (emotion, count) in folders.items():
        write_frames(root / "Micro_Expression" / emotion / clip, range(1, count + 1), "{}.jpg")
    write_frames(root / "Macro_Expression" / "sadness" / "S01-05-101", range(1, 11), "{}.jpg")
    write_frames(root / "Macro_Expression" / "happiness" / "S02-01-102", range(1, 4), "{}.jpg")
    return root


# --------------------------------------------------------------------------------------------------------------
# generic sequences and face pools


def build_sequences(root: Path) -> Path:
    """Oulu-CASIA-like: frames directly in the emotion folder, and a level with sequence sub-folders."""
    write_frames(root / "P001" / "Anger", range(0, 4), "{:03d}.jpeg")
    write_frames(root / "P001" / "Happy", range(0, 3), "{:03d}.jpeg")
    write_frames(root / "P002" / "happy" / "seq1", range(1, 11), "frame{}.png")  # 1..10 numeric order
    write_frames(root / "P002" / "happy" / "seq2", range(1, 3), "frame{}.png")
    write_frames(root / "P002" / "Blah", range(1, 3), "{}.png")  # unmapped, unknown
    return root


def build_faces(root: Path) -> Path:
    write_image(root / "a.jpg")
    write_image(root / "person1" / "x.png")
    write_image(root / "person1" / "y.webp")
    write_image(root / "person2" / "deep" / "z.BMP")
    (root / "notes.txt").write_text("not an image")
    return root
