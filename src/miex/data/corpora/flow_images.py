"""Composite flow-image releases (``miex corpus flow-images``): one 28 x 28 u/v/strain PNG per clip, as STSTNet,
OFF-ApexNet and HTNet publish the MEGC2019 composite (docs/reference.md §Flow images).

Two layouts are read:

- **flat**: ``ROOT/<subject>_<clip> .png`` (the public releases put a SPACE before ``.png``; names without it are
  read too) plus a label CSV with the header ``dataset,sub,filename_o,label`` (label 0 negative, 1 positive,
  2 surprise; dataset ``casme2``/``samm``/``smic``). The CSV decides which clips exist: a PNG without a row, a row
  without a PNG and a clip listed twice are reported. Datasets other than casme2 / samm / smic (``miex flow``
  writes ``miex``) are read as named.
- **LOSO**: ``ROOT/<subject>/u_test/<label>/<file>.png`` and ``ROOT/<subject>/u_train/<label>/<file>.png`` for each
  subject. Each clip is taken from the ``u_test`` folder of its own subject; the ``u_train`` copies are checked
  (a clip in two subjects' test folders, a subject's own clip among its training files, or a clip whose label
  differs between folders is reported). ``--labels`` is optional here: without it the dataset is inferred from the
  subject's spelling (``sub01`` CASME II, ``006`` SAMM, ``s01`` SMIC).

Each clip becomes a clip-table row whose one "frame" is its flow image (``onset = apex = offset = 0``, ``fps`` 0);
the table is marked as holding flow images, so training reads the images instead of computing flow. Subjects and
clips keep the release's spelling (SMIC ``s01``, not the frame folders' ``s1``).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from miex.core.errors import MiexInputError
from miex.core.fileio import name_problem
from miex.core.report import ValidationReport
from miex.data.corpora.clips import Clip
from miex.data.corpora.common import Corpus, DuplicateGuard, new_report, progress, require_root
from miex.data.corpora.labels import label_name
from miex.data.corpora.megc2019 import GroundTruthRow
from miex.data.faces.flow_image import RELEASE_SIZE, read_flow_png

LABEL_COLUMNS = ("dataset", "sub", "filename_o", "label")
DATASETS = ("casme2", "samm", "smic")
COMPOSITE = {
    "clips": 442,
    "subjects": 68,
    "classes": (250, 109, 83),
    "datasets": {"casme2": 145, "samm": 133, "smic": 164},
}
"""The MEGC2019 composite as published (docs/reference.md §Corpora), to compare a release with."""
SUBJECT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("casme2", re.compile(r"sub\d+")),
    ("samm", re.compile(r"\d{3}")),
    ("smic", re.compile(r"s\d+")),
)
SPLIT_TEST, SPLIT_TRAIN = "u_test", "u_train"
DATASET_NAME = re.compile(r"[a-z][a-z0-9_-]*")
"""A dataset column value: the composite's casme2 / samm / smic, or any plain lower-case name (``miex`` exports)."""


def file_stem(row: GroundTruthRow) -> str:
    """A label row's release file name without ``.png`` and the releases' trailing space: ``<sub>_<filename_o>``."""
    return f"{row.subject}_{row.clip}"


def release_stem(path: Path) -> str:
    """``006_006_1_2 .png`` -> ``006_006_1_2``: the stem without the release's trailing space."""
    return path.stem.rstrip()


def dataset_of_subject(subject: str) -> str | None:
    """The composite part a subject's spelling belongs to (``sub01`` casme2, ``006`` samm, ``s01`` smic)."""
    return next((name for name, pattern in SUBJECT_PATTERNS if pattern.fullmatch(subject)), None)


def read_labels(path: str | PathLike[str], report: ValidationReport) -> list[GroundTruthRow]:
    """The label CSV (header ``dataset,sub,filename_o,label``; extra columns ignored); bad rows are reported with
    their line number and field."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("label CSV not found (columns dataset,sub,filename_o,label)", file=path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise MiexInputError(
            f"not UTF-8 text (byte {error.start}); save the labels as a UTF-8 CSV", file=path
        ) from error
    lines = list(csv.reader(text.splitlines()))
    header = [name.strip() for name in lines[0]] if lines else []
    missing = [name for name in LABEL_COLUMNS if name not in header]
    if missing:
        raise MiexInputError(
            f"label CSV lacks column(s) {missing}; expected a header with {', '.join(LABEL_COLUMNS)} (got {header})",
            file=path,
            row=1,
        )
    where = {name: header.index(name) for name in LABEL_COLUMNS}
    rows = []
    for number, fields in enumerate(lines[1:], start=2):
        if not any(field.strip() for field in fields):
            continue
        if len(fields) < len(header):
            report.add(f"expected {len(header)} fields, got {len(fields)}", file=path, row=number, field="row")
            continue
        value = {name: fields[index].strip() for name, index in where.items()}
        dataset = value["dataset"].lower()
        if not DATASET_NAME.fullmatch(dataset):
            report.add(
                f"dataset {value['dataset']!r} is not a plain name (e.g. casme2, samm, smic, miex)",
                file=path,
                row=number,
                field="dataset",
            )
            continue
        if value["label"] not in ("0", "1", "2"):
            report.add(f"label {value['label']!r} is not 0, 1 or 2", file=path, row=number, field="label")
            continue
        problem = next((name_problem(value[c]) for c in ("sub", "filename_o") if name_problem(value[c])), None)
        if problem or not value["sub"] or not value["filename_o"]:
            report.add(problem or "empty subject or clip", file=path, row=number, field="filename_o")
            continue
        rows.append(GroundTruthRow(number, dataset, value["sub"], value["filename_o"], int(value["label"])))
    return rows


def flow_clip(dataset: str, subject: str, clip: str, image: Path, label: int) -> Clip:
    """A clip-table row whose one frame is the clip's flow image."""
    return Clip(
        dataset=dataset,
        subject=subject,
        clip=clip,
        frames=[str(image)],
        frame_numbers=[0],
        onset=0,
        apex=0,
        offset=0,
        emotion=label_name(label),
        label=label,
        fps=0.0,
    )


def check_image(path: Path, report: ValidationReport, *, clip: str, size: int) -> bool:
    """Whether ``path`` is a readable ``size`` x ``size`` RGB image; otherwise reported (naming the file)."""
    try:
        read_flow_png(path, size=size)
    except MiexInputError as error:
        report.add(error.reason, file=path, field="image", clip=clip)
        return False
    return True


def png_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")


def read_flat(
    root: Path, labels: list[GroundTruthRow], labels_file: Path, report: ValidationReport, size: int
) -> list[Clip]:
    files: dict[str, Path] = {}
    for path in png_files(root):
        stem = release_stem(path)
        if stem in files:
            report.add(f"two files for one clip: {files[stem].name!r} and {path.name!r}", file=path, field="file")
            continue
        files[stem] = path
    guard, clips, used = DuplicateGuard(), [], set()
    for row in progress(labels, "flow images"):
        if guard.is_duplicate(
            (row.dataset, row.subject, row.clip), report, file=labels_file, row=row.row, field="filename_o"
        ):
            continue
        stem = file_stem(row)
        path = files.get(stem)
        name = f"{row.subject}/{row.clip}"
        if path is None:
            report.add(
                f"label without file: no {stem!r} .png in {root}",
                file=labels_file,
                row=row.row,
                field="filename_o",
                clip=name,
            )
            continue
        used.add(stem)
        if check_image(path, report, clip=name, size=size):
            clips.append(flow_clip(row.dataset, row.subject, row.clip, path, row.label))
    for stem, path in sorted(files.items()):
        if stem not in used:
            report.add(
                f"no label: {path.name!r} has no row in {labels_file.name} (sub + '_' + filename_o)",
                file=path,
                field="file",
            )
    return clips


@dataclass(frozen=True)
class LosoFile:
    subject: str
    split: str
    label: int
    path: Path

    @property
    def stem(self) -> str:
        return release_stem(self.path)


def loso_files(root: Path, report: ValidationReport) -> list[LosoFile]:
    """Every PNG under ``ROOT/<subject>/u_{test,train}/<label>/``; a label folder other than 0, 1, 2 is reported."""
    found = []
    for subject in sorted(p for p in root.iterdir() if p.is_dir()):
        for split in (SPLIT_TEST, SPLIT_TRAIN):
            folder = subject / split
            if not folder.is_dir():
                report.add(f"subject folder without {split}/", file=subject, field=split)
                continue
            for label_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
                if label_folder.name not in ("0", "1", "2"):
                    report.add(
                        "label folder is not 0, 1 or 2: its images are not read", file=label_folder, field="label"
                    )
                    continue
                found += [LosoFile(subject.name, split, int(label_folder.name), p) for p in png_files(label_folder)]
    return found


def read_loso(
    root: Path, labels: list[GroundTruthRow] | None, labels_file: Path | None, report: ValidationReport, size: int
) -> list[Clip]:
    files = loso_files(root, report)
    by_stem = {file_stem(row): row for row in labels} if labels is not None else None
    tests: dict[str, LosoFile] = {}
    for item in files:
        if item.split != SPLIT_TEST:
            continue
        if item.stem in tests:
            first = tests[item.stem]
            report.add(
                f"clip in two subjects' test folders ({first.subject} and {item.subject}): a LOSO release "
                "tests each clip once; kept in the first",
                file=item.path,
                field="u_test",
            )
            continue
        tests[item.stem] = item
    trained: dict[str, set[int]] = {}
    for item in files:
        if item.split != SPLIT_TRAIN:
            continue
        trained.setdefault(item.stem, set()).add(item.label)
        owner = tests.get(item.stem)
        if owner is not None and owner.subject == item.subject:
            report.add(
                f"subject {item.subject}'s own clip is among its training files (test data leaks into "
                "training in this release)",
                file=item.path,
                field="u_train",
            )
    clips = []
    for stem, item in progress(sorted(tests.items()), "flow images"):
        name = f"{item.subject}/{stem}"
        if len(trained.get(stem, {item.label}) | {item.label}) > 1:
            report.add(
                f"label {item.label} in u_test but {sorted(trained[stem])} in u_train folders",
                file=item.path,
                field="label",
                clip=name,
            )
            continue
        clip_name = stem.removeprefix(f"{item.subject}_")
        dataset = dataset_of_subject(item.subject)
        if by_stem is not None:
            row = by_stem.get(stem)
            if row is None:
                report.add(
                    f"no label: {item.path.name!r} has no row in the label CSV", file=item.path, field="file", clip=name
                )
                continue
            if row.label != item.label:
                report.add(
                    f"label {item.label} by folder but {row.label} in the label CSV (row {row.row})",
                    file=item.path,
                    field="label",
                    clip=name,
                )
                continue
            dataset, clip_name = row.dataset, row.clip
        if dataset is None:
            report.add(
                f"cannot tell the dataset of subject {item.subject!r} (not sub01 / 006 / s01 spelling); pass "
                "--labels CSV",
                file=item.path,
                field="subject",
                clip=name,
            )
            continue
        if check_image(item.path, report, clip=name, size=size):
            clips.append(flow_clip(dataset, item.subject, clip_name, item.path, item.label))
    if by_stem is not None:
        for stem, row in by_stem.items():
            if stem not in tests:
                report.add(
                    f"label without file: {stem!r} is in no subject's u_test folder",
                    file=labels_file,
                    row=row.row,
                    field="filename_o",
                    clip=f"{row.subject}/{row.clip}",
                )
    return clips


def detect_layout(root: Path) -> str:
    """``loso`` when ROOT's sub-folders hold ``u_test/``, ``flat`` when ROOT holds PNGs; else an error."""
    if any((p / SPLIT_TEST).is_dir() for p in root.iterdir() if p.is_dir()):
        return "loso"
    if any(p.suffix.lower() == ".png" for p in root.iterdir() if p.is_file()):
        return "flat"
    raise MiexInputError(
        "neither layout found: no PNG files in ROOT (flat) and no <subject>/u_test/ folders (LOSO)", file=root
    )


def compare_with_composite(clips: Iterable[Clip], report: ValidationReport, root: Path) -> None:
    """A notice comparing the counts with the MEGC2019 composite (442 clips, 68 subjects, 250/109/83)."""
    clips = list(clips)
    if not clips or {c.dataset for c in clips} - set(DATASETS):
        return
    per_dataset = {name: sum(c.dataset == name for c in clips) for name in DATASETS}
    classes = tuple(sum(c.label == k for c in clips) for k in range(3))
    subjects = len({(c.dataset, c.subject) for c in clips})
    found = {"clips": len(clips), "subjects": subjects, "classes": classes, "datasets": per_dataset}
    if found == COMPOSITE:
        report.note(
            "matches the MEGC2019 composite: 442 clips, 68 subjects, 250/109/83 negative/positive/surprise, "
            "CASME II 145, SAMM 133, SMIC 164",
            file=root,
        )
        return
    differs = [f"{key} {found[key]} (composite {COMPOSITE[key]})" for key in COMPOSITE if found[key] != COMPOSITE[key]]
    report.note(f"differs from the MEGC2019 composite: {'; '.join(differs)}", file=root)


def read_flow_images(
    root: str | PathLike[str],
    *,
    labels: str | PathLike[str] | None = None,
    layout: str = "auto",
    size: int = RELEASE_SIZE,
    strict: bool = False,
    report: ValidationReport | None = None,
) -> Corpus:
    """Read a composite flow-image release (``layout``: ``flat``, ``loso`` or ``auto``) into clips."""
    report = new_report(report, strict)
    base = require_root(root, "flow-image")
    layout = detect_layout(base) if layout == "auto" else layout
    labels_file = Path(labels) if labels is not None else None
    rows = read_labels(labels_file, report) if labels_file is not None else None
    if layout == "flat":
        if rows is None:
            raise MiexInputError("the flat layout needs --labels CSV (dataset,sub,filename_o,label)", file=base)
        clips = read_flat(base, rows, labels_file, report, size)
    elif layout == "loso":
        clips = read_loso(base, rows, labels_file, report, size)
    else:
        raise MiexInputError(f"unknown layout {layout!r} (flat, loso or auto)", field="layout")
    compare_with_composite(clips, report, base)
    return Corpus(clips, report)
