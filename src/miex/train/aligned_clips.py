"""Real clips aligned like the face pool and MiE-X, once per clip, cached on disk.

MiE-X frames are 128 px crops aligned by a similarity transform of the face's stable points onto a template
(:mod:`miex.data.faces.align`). Real clips get the same geometry: the transform is computed ONCE, on the onset
frame, and applied to every frame a recognizer reads (onset, apex, the DTSCNN onset-to-apex sequence), so the facial
motion between frames survives alignment and optical flow is computed on aligned crops. Corpora that ship cropped
frames (CASME II ``Cropped/``, frames named ``reg_img*``) skip detection: they are padded to a square (edges
replicated) and resized to the same crop size.

Cache (default ``$XDG_CACHE_HOME/miex/aligned_clips``, ``~/.cache`` when XDG_CACHE_HOME is unset; a recipe's
``data.real.alignment.cache`` names another folder)::

    <key[:2]>/<key>/transform.json     clip, onset file, settings, the 2 x 3 matrix (or "face": false)
    <key[:2]>/<key>/<frame key>.png    one aligned frame

The clip key hashes dataset/subject/clip, the onset file's identity (absolute path, size, mtime) and the settings
(method, size, template); the frame key hashes the frame file's identity. A LOSO run of 68 folds, and every later run
over the same clips, detects each clip once; an edited onset is detected again, an edited frame warped again. Every
file is written atomically, so an interrupted run leaves no half-written entry. :func:`cache_stats` counts hits and
misses for this process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path
from miex.core.tally import Tally
from miex.data.faces.align import DEFAULT_SIZE, TEMPLATE, Alignment, alignment_for

logger = logging.getLogger(__name__)

ALIGNMENT_METHODS: tuple[str, ...] = ("onset-similarity", "precropped", "none")
"""``onset-similarity``: detect the face on the onset frame, one similarity transform for the clip (frames named like
CASME II's cropped release are only padded and resized); ``precropped``: pad and resize every clip, no detection;
``none``: whole raw frames, for comparison (the recognizers' transform resizes them)."""
MISSING_FACE_CHOICES: tuple[str, ...] = ("stop", "skip")
"""What a clip whose onset has no face does: stop the run before training (default), or be left out and recorded."""
CROPPED_FRAME = re.compile(r"reg_img\d+", re.IGNORECASE)
"""Frame file stems of CASME II's ``Cropped`` release: the face is already cut out and registered."""
CACHE_VERSION = 1
"""Part of every key: bump it when what a cache entry holds or means changes."""
LISTED_CLIPS = 20
"""How many faceless clips an error names before summarising the rest."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/miex/aligned_clips`` (``~/.cache`` when XDG_CACHE_HOME is unset), beside the landmarker."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "miex" / "aligned_clips"


@dataclass(frozen=True)
class AlignmentSettings:
    """How a corpus's clips are aligned (a recipe's ``data.real.alignment``)."""

    method: str = "onset-similarity"
    size: int = DEFAULT_SIZE
    cache: Path | None = None
    """Cache folder; ``None``: :func:`default_cache_dir`."""

    @property
    def enabled(self) -> bool:
        return self.method != "none"

    @property
    def cache_dir(self) -> Path:
        return self.cache if self.cache is not None else default_cache_dir()

    def to_json(self) -> dict[str, Any]:
        """What results.json and the card record (the cache folder is machine-specific and left out)."""
        if not self.enabled:
            return {"method": "none", "description": "whole raw frames, resized by the recognizer's transform"}
        return {
            "method": self.method,
            "size": self.size,
            "template": TEMPLATE.tolist(),
            "description": (
                f"{self.size} px crops; one similarity transform per clip, from the onset frame's eye centres, nose "
                "tip and mouth corners to the template, applied to every frame used"
                if self.method == "onset-similarity"
                else f"frames padded to a square and resized to {self.size} px, no detection"
            ),
        }


@dataclass
class CacheStats(Tally):
    """Cache counters (per process, or per table in an :class:`AlignmentReport`)."""

    clip_hits: int = 0
    """Clips whose transform (or no-face verdict) came from the cache."""
    clip_misses: int = 0
    """Clips whose transform was computed now."""
    detections: int = 0
    """Onset frames the landmarker analysed (misses that were not pre-cropped)."""
    frames_warped: int = 0
    frames_reused: int = 0


_PROCESS_STATS = CacheStats()


def cache_stats() -> dict[str, int]:
    """This process's aligned-clip cache counters since start (or :func:`reset_cache_stats`)."""
    return asdict(_PROCESS_STATS)


def reset_cache_stats() -> None:
    global _PROCESS_STATS
    _PROCESS_STATS = CacheStats()


@dataclass
class AlignmentReport:
    """What aligning one clip table did; ``skipped`` lists the clips left out for having no face on the onset."""

    settings: AlignmentSettings
    on_missing_face: str = "stop"
    clips: int = 0
    precropped: int = 0
    stats: CacheStats = field(default_factory=CacheStats)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        info = self.settings.to_json()
        if self.settings.enabled:
            info |= {
                "on_missing_face": self.on_missing_face,
                "clips": self.clips,
                "precropped_clips": self.precropped,
                "skipped_clips": self.skipped,
                "cache": asdict(self.stats),
            }
        return info


def _identity(path: str | PathLike[str]) -> list[Any]:
    """What says a frame file is unchanged without reading it: absolute path, size, modification time."""
    resolved = Path(path).resolve()
    status = resolved.stat()
    return [str(resolved), status.st_size, status.st_mtime_ns]


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def is_precropped(settings: AlignmentSettings, paths: list[str]) -> bool:
    """Whether a clip's frames are cropped already: ``precropped`` says so for all, else CASME II ``reg_img*``."""
    return settings.method == "precropped" or all(CROPPED_FRAME.fullmatch(Path(p).stem) for p in paths)


def fit_square(height: int, width: int, size: int) -> Alignment:
    """Pad (edge pixels replicated) to a centred square and resize to ``size``: the crop size without a detector."""
    scale = size / max(height, width)
    matrix = np.array([[scale, 0.0, (size - width * scale) / 2], [0.0, scale, (size - height * scale) / 2]])
    matrix[:, 2] += 0.5 * scale - 0.5  # map pixel centres, not corners
    return Alignment(matrix, size)


class ClipAligner:
    """Aligns clips through the cache; the landmarker is created on the first detection and closed by :meth:`close`."""

    def __init__(self, settings: AlignmentSettings) -> None:
        self.settings = settings
        self.root = settings.cache_dir
        self._analyzer: Any = None

    def close(self) -> None:
        if self._analyzer is not None:
            self._analyzer.close()
            self._analyzer = None

    def _detect(self, image: np.ndarray) -> Alignment | None:
        if self._analyzer is None:
            from miex.data.faces.landmarker import FaceAnalyzer

            self._analyzer = FaceAnalyzer(max_faces=1)
        faces = self._analyzer.analyze(image)
        return alignment_for(faces[0].landmarks, self.settings.size) if faces else None

    def transform(self, clip: Any, onset_path: str, precropped: bool, stats: CacheStats) -> tuple[Path, dict]:
        """The clip's cache folder and its ``transform.json`` content, computed (and stored) on a miss."""
        settings = self.settings
        key = _digest(
            {
                "version": CACHE_VERSION,
                "clip": [str(clip.dataset), str(clip.subject), str(clip.clip)],
                "onset": _identity(onset_path),
                "method": "precropped" if precropped else settings.method,
                "size": settings.size,
                "template": TEMPLATE.tolist(),
            }
        )
        folder = self.root / key[:2] / key
        record_file = folder / "transform.json"
        if record_file.is_file():
            try:
                record = json.loads(record_file.read_text(encoding="utf-8"))
                stats.clip_hits += 1
                return folder, record
            except (OSError, ValueError):
                logger.warning("aligned-clip cache entry %s is unreadable; computing it again", record_file)
        from miex.data.faces.image import read_rgb

        onset = read_rgb(onset_path)
        stats.clip_misses += 1
        if precropped:
            alignment: Alignment | None = fit_square(*onset.shape[:2], settings.size)
        else:
            stats.detections += 1
            alignment = self._detect(onset)
        record = {
            "dataset": str(clip.dataset),
            "subject": str(clip.subject),
            "clip": str(clip.clip),
            "onset": str(Path(onset_path).resolve()),
            "frame_size": list(onset.shape[:2]),
            "method": "precropped" if precropped else settings.method,
            "size": settings.size,
            "face": alignment is not None,
            "matrix": alignment.matrix.tolist() if alignment is not None else None,
        }
        with atomic_path(record_file) as temporary:
            temporary.write_text(json.dumps(record, indent=1), encoding="utf-8")
        return folder, record

    def frame(self, folder: Path, record: dict, path: str, stats: CacheStats, **where: Any) -> str:
        """The aligned crop of one frame file (warped with the clip's onset transform on a miss)."""
        target = folder / f"{_digest(_identity(path))[:32]}.png"
        if target.is_file():
            stats.frames_reused += 1
            return str(target)
        from PIL import Image

        from miex.data.faces.image import read_rgb

        image = read_rgb(path)
        if list(image.shape[:2]) != record["frame_size"]:
            height, width = record["frame_size"]
            raise MiexInputError(
                f"frame {Path(path).resolve()} is {image.shape[1]}x{image.shape[0]} but the clip's "
                f"onset is {width}x{height}: one transform cannot align frames of different sizes; "
                "fix the clip's frames or drop the clip",
                **where,
            )
        crop = Alignment(np.asarray(record["matrix"], dtype=np.float64), int(record["size"])).apply(image)
        with atomic_path(target, ".png") as temporary:
            Image.fromarray(crop).save(temporary, format="PNG")
        stats.frames_warped += 1
        return str(target)


def align_table(
    table: pd.DataFrame,
    settings: AlignmentSettings,
    *,
    sequence: int = 0,
    on_missing_face: str = "stop",
    table_file: str | PathLike[str] | None = None,
    where: str = "data.real",
) -> tuple[pd.DataFrame, AlignmentReport]:
    """``table`` with each clip's used frames (:func:`miex.train.data.used_frames`) replaced by aligned crops from the
    cache (other frame entries emptied, so nothing can read an unaligned frame by mistake), and a report.

    A clip whose onset has no face stops the run with one error naming every such clip and its onset file, or, with
    ``on_missing_face="skip"``, is left out and listed in the report. ``method: none`` returns ``table`` unchanged.
    """
    from miex.train.data import used_frames  # here, not at the top: recipe checks import this module without torch

    report = AlignmentReport(settings, on_missing_face)
    if not settings.enabled or table.empty:
        return table, report
    aligner = ClipAligner(settings)
    logger.info(
        "%s: aligning %d clip(s) (%s, %d px; cache %s)", where, len(table), settings.method, settings.size, aligner.root
    )
    frames_column, faceless, kept = [], [], []
    try:
        for row, clip in zip(table.index, table.itertuples(index=False), strict=True):
            used = used_frames(clip, sequence=sequence, row=row, table_file=table_file)
            indices = sorted({i for values in used.values() for i in values})
            onset_path = str(clip.frames[int(clip.onset)])
            precropped = is_precropped(settings, [str(clip.frames[i]) for i in indices])
            folder, record = aligner.transform(clip, onset_path, precropped, report.stats)
            if not record["face"]:
                faceless.append(
                    {
                        "dataset": str(clip.dataset),
                        "subject": str(clip.subject),
                        "clip": str(clip.clip),
                        "onset": str(Path(onset_path).resolve()),
                    }
                )
                continue
            report.clips += 1
            report.precropped += int(precropped)
            aligned = [""] * len(clip.frames)
            for index in indices:
                aligned[index] = aligner.frame(
                    folder, record, str(clip.frames[index]), report.stats, file=table_file, row=row, field="frames"
                )
            frames_column.append(aligned)
            kept.append(row)
    finally:
        aligner.close()
        _PROCESS_STATS.add(report.stats)
    logger.info(
        "%s: %d clip(s) aligned (%d from the cache, %d detected now, %d pre-cropped)",
        where,
        report.clips,
        report.stats.clip_hits,
        report.stats.detections,
        report.precropped,
    )
    if faceless and on_missing_face == "stop":
        named = "; ".join(
            f"{c['dataset']}/{c['subject']}/{c['clip']} (onset {c['onset']})" for c in faceless[:LISTED_CLIPS]
        )
        more = f"; and {len(faceless) - LISTED_CLIPS} more" if len(faceless) > LISTED_CLIPS else ""
        raise MiexInputError(
            f"{len(faceless)} clip(s) have no face on their onset frame, so they cannot be aligned: {named}{more}. "
            f"Check those frames (or the clip's onset index), drop the clips from the table, or set "
            f"{where}.on_missing_face: skip to leave them out (listed in results.json)",
            file=table_file,
            field=f"{where}.alignment",
        )
    if faceless:
        logger.warning(
            "%s: leaving out %d clip(s) with no face on the onset frame: %s",
            where,
            len(faceless),
            [f"{c['dataset']}/{c['subject']}/{c['clip']}" for c in faceless[:LISTED_CLIPS]],
        )
        report.skipped = faceless
    aligned_table = table.loc[kept].copy()
    aligned_table["frames"] = pd.Series(frames_column, index=aligned_table.index, dtype=object)
    return aligned_table, report
