"""Readers that turn each real micro-/macro-expression corpus into one clip table (see :mod:`.clips`)."""

from .clips import CLIP_COLUMNS, Clip, clips_to_frame, read_clip_table, summarize_clips, write_clip_table
from .labels import canonical_emotion, emotion_to_label
from .report import Problem, ValidationReport

__all__ = [
    "CLIP_COLUMNS",
    "Clip",
    "Problem",
    "ValidationReport",
    "canonical_emotion",
    "clips_to_frame",
    "emotion_to_label",
    "read_clip_table",
    "summarize_clips",
    "write_clip_table",
]
