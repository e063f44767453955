"""Write composite flow images in the layouts the field exchanges (docs/reference.md §Flow images).

- ``flat``: ``OUT/<subject>_<clip> .png`` (with the releases' space before ``.png``) and ``OUT/labels.csv`` with the
  header ``dataset,sub,filename_o,label``;
- ``loso``: ``OUT/<subject>/u_test/<label>/<file>`` holding that subject's clips and ``OUT/<subject>/u_train/<label>/``
  holding everyone else's, for each subject.

Both read back with ``miex corpus flow-images``. Every file is written atomically and the label CSV last, so a
folder with a ``labels.csv`` is complete.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path, name_problem
from miex.data.faces.flow_image import write_flow_png

LAYOUTS = ("flat", "loso")
LABELS_FILE = "labels.csv"


@dataclass(frozen=True)
class ReleaseEntry:
    dataset: str
    subject: str
    clip: str
    label: int

    @property
    def file_name(self) -> str:
        return f"{self.subject}_{self.clip} .png"


def write_release(out: Path, entries: Sequence[ReleaseEntry], images: np.ndarray, *, layout: str = "flat") -> int:
    """Write ``images`` (N, H, W, 3) uint8 for ``entries`` under ``out``; returns the number of PNGs written."""
    if layout not in LAYOUTS:
        raise MiexInputError(f"unknown layout {layout!r} ({', '.join(LAYOUTS)})", field="layout")
    if len(entries) != len(images):
        raise ValueError(f"{len(entries)} entries but {len(images)} images")
    names = set()
    for entry in entries:
        problem = name_problem(entry.subject) or name_problem(entry.clip)
        if problem:
            raise MiexInputError(problem, field="subject" if name_problem(entry.subject) else "clip")
        if entry.file_name in names:
            raise MiexInputError(f"two clips would share the file name {entry.file_name!r}", field="clip")
        names.add(entry.file_name)
    written = 0
    if layout == "flat":
        out.mkdir(parents=True, exist_ok=True)
        for entry, image in zip(entries, images, strict=True):
            write_flow_png(out / entry.file_name, image)
            written += 1
    else:
        for subject in sorted({e.subject for e in entries}):
            for entry, image in zip(entries, images, strict=True):
                split = "u_test" if entry.subject == subject else "u_train"
                folder = out / subject / split / str(entry.label)
                folder.mkdir(parents=True, exist_ok=True)
                write_flow_png(folder / entry.file_name, image)
                written += 1
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["dataset", "sub", "filename_o", "label"])
    writer.writerows([e.dataset, e.subject, e.clip, e.label] for e in entries)
    with atomic_path(out / LABELS_FILE) as temporary:
        temporary.write_text(text.getvalue(), encoding="utf-8")
    return written
