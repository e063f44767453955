"""Composite flow-image releases written by the tests: the public layouts and quirks, random content.

Names follow the MEGC2019 releases: subjects ``sub01`` (CASME II), ``006`` (SAMM), ``s01`` (SMIC); files
``<subject>_<clip> .png`` with a space before ``.png``; the flat layout's label CSV has the header
``dataset,sub,filename_o,label``. Each image carries a class-dependent pattern so a recognizer can learn from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from miex.data.faces.flow_image import scale_per_channel, write_flow_png
from miex.data.faces.flow_release import ReleaseEntry


def composite_clips(per_subject: int = 3, subjects: dict[str, list[str]] | None = None) -> list[ReleaseEntry]:
    """A small composite: two subjects per dataset by default, ``per_subject`` clips each, labels cycling 0..2."""
    subjects = subjects or {"casme2": ["sub01", "sub02"], "samm": ["006", "007"], "smic": ["s01", "s02"]}
    names = {"casme2": "EP02_{:02d}f", "samm": "{subject}_1_{n}", "smic": "{subject}_ne_{n:02d}"}
    clips = []
    for dataset, people in subjects.items():
        for subject in people:
            for n in range(per_subject):
                clip = names[dataset].format(n + 1, subject=subject, n=n + 1)
                clips.append(ReleaseEntry(dataset, subject, clip, (n + len(clips)) % 3))
    return clips


def flow_pattern(label: int, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """A noisy u/v/strain image whose motion blob sits where the class says (eyes, mouth corners, brows)."""
    field = rng.normal(0.0, 0.3, size=(size, size, 3))
    centre = {0: (8, 14), 1: (20, 8), 2: (20, 20)}[label]
    yy, xx = np.mgrid[:size, :size]
    blob = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / 12.0)
    field[..., 0] += 2.0 * blob
    field[..., 1] -= 1.5 * blob
    field[..., 2] = np.abs(field[..., 2]) + 2.0 * blob
    return scale_per_channel(field)


def write_flat(root: Path, clips: list[ReleaseEntry], *, seed: int = 0, labels_name: str = "labels.csv") -> Path:
    """``root/<subject>_<clip> .png`` for every clip and ``root.parent/labels_name``; returns the CSV's path."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        write_flow_png(root / clip.file_name, flow_pattern(clip.label, rng))
    labels = root.parent / labels_name
    lines = ["dataset,sub,filename_o,label"] + [f"{c.dataset},{c.subject},{c.clip},{c.label}" for c in clips]
    labels.write_text("\n".join(lines) + "\n")
    return labels


def write_loso(root: Path, clips: list[ReleaseEntry], *, seed: int = 0) -> Path:
    """``root/<subject>/u_test/<label>/`` holds the subject's clips, ``u_train/<label>/`` everyone else's."""
    rng = np.random.default_rng(seed)
    images = {clip: flow_pattern(clip.label, rng) for clip in clips}
    for subject in sorted({c.subject for c in clips}):
        for clip, image in images.items():
            split = "u_test" if clip.subject == subject else "u_train"
            folder = root / subject / split / str(clip.label)
            folder.mkdir(parents=True, exist_ok=True)
            write_flow_png(folder / clip.file_name, image)
    return root
