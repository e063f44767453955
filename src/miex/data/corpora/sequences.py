"""Generic macro-expression sequence folders (e.g. Oulu-CASIA), a macro-expression (MaE) source.

Layout::

    ROOT/<subject>/<emotion folder>/<sequence>/<frames>     one sequence per sub-folder
    ROOT/<subject>/<emotion folder>/<frames>                or the emotion folder is the sequence (Oulu-CASIA)

The emotion folder name goes through the user's label map (folder name -> emotion name) and then the canonical
emotion table; an unmapped, unknown name is reported. Onset = first frame, apex = offset = last frame (neutral ->
peak). The clip name is ``<emotion folder>/<sequence>`` (or the emotion folder alone) so it is unique per subject.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from os import PathLike
from pathlib import Path

from miex.core.errors import MiexInputError
from miex.core.report import ValidationReport
from miex.data.corpora.clips import Clip
from miex.data.corpora.common import (
    Corpus,
    image_files,
    lookup_emotion,
    new_report,
    progress,
    require_root,
    sequence_clip,
)
from miex.data.corpora.labels import canonical_emotion

DEFAULT_FPS = 25.0
"""Oulu-CASIA's frame rate; pass ``fps`` for other corpora."""


def parse_label_map(text: str | PathLike[str] | None) -> dict[str, str]:
    """``'anger=anger,happy=happiness'``, or a JSON / YAML file of ``{folder: emotion}`` -> a checked dict.

    Every target must be a known emotion: a typo in the map would otherwise silently relabel a whole class.
    """
    if text is None or str(text).strip() == "":
        return {}
    path = Path(text)
    mapping = _load_map_file(path) if path.is_file() else _parse_pairs(str(text))
    for folder, emotion in mapping.items():
        if canonical_emotion(emotion) is None:
            raise MiexInputError(
                f"label map sends {folder!r} to unknown emotion {emotion!r}",
                file=path if path.is_file() else None,
                field="label-map",
            )
    return mapping


def _parse_pairs(text: str) -> dict[str, str]:
    mapping = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        folder, sep, emotion = pair.partition("=")
        if not sep or not folder.strip() or not emotion.strip():
            raise MiexInputError(f"label map entry {pair!r} is not FOLDER=EMOTION", field="label-map")
        mapping[folder.strip()] = emotion.strip()
    return mapping


def _load_map_file(path: Path) -> dict[str, str]:
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(path.read_text())
    else:
        data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise MiexInputError("label map file must hold a mapping {folder: emotion}", file=path)
    return {str(k): str(v) for k, v in data.items()}


def _sequence_dirs(emotion_dir: Path) -> list[tuple[str, Path]]:
    """(clip name, folder) of each sequence below an emotion folder."""
    if image_files(emotion_dir):
        return [(emotion_dir.name, emotion_dir)]
    return [(f"{emotion_dir.name}/{p.name}", p) for p in sorted(emotion_dir.iterdir()) if p.is_dir()]


def read_sequences(
    root: str | PathLike[str],
    *,
    dataset: str = "sequences",
    label_map: Mapping[str, str] | None = None,
    fps: float = DEFAULT_FPS,
    strict: bool = False,
    report: ValidationReport | None = None,
) -> Corpus:
    """Read ``<subject>/<emotion>/<sequence>`` folders as macro clips of ``dataset``."""
    root = require_root(root, "sequence")
    report = new_report(report, strict)
    mapping = {key.lower(): value for key, value in (label_map or {}).items()}
    clips: list[Clip] = []
    emotion_dirs = sorted(p for p in root.glob("*/*") if p.is_dir())
    if not emotion_dirs:
        report.add(
            "no <subject>/<emotion folder>/ sub-folders found (layout: ROOT/<subject>/<emotion>/<frames>)",
            file=root,
            field="frames",
        )
    for emotion_dir in progress(emotion_dirs, f"reading {dataset}", unit="folder"):
        subject = emotion_dir.parent.name
        native = mapping.get(emotion_dir.name.lower(), emotion_dir.name)
        emotion = lookup_emotion(native, report, file=emotion_dir, field="emotion folder (see --label-map)")
        if emotion is None:
            continue
        for name, folder in _sequence_dirs(emotion_dir):
            clip = sequence_clip(
                dataset=dataset,
                subject=subject,
                clip=name,
                folder=folder,
                emotion=emotion[0],
                label=emotion[1],
                fps=fps,
                report=report,
            )
            if clip is not None:
                clips.append(clip)
    return Corpus(clips, report)
