"""MMEW: unpadded 1-based frame numbers sorted numerically, sheet problems, macro clips."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from miex.core.errors import MiexInputError
from miex.data.corpora.mmew import read_mmew


def test_micro_clips_sorted_numerically(mmew_root: Path) -> None:
    corpus = read_mmew(mmew_root)
    clips = {c.clip: c for c in corpus.clips}
    assert set(clips) == {"S01-01-001", "S02-03-004", "S03-01-002"}
    clip = clips["S01-01-001"]
    assert clip.frame_numbers == list(range(1, 13))
    assert [Path(f).name for f in clip.frames[:3]] == ["1.jpg", "2.jpg", "3.jpg"]  # not 1, 10, 11
    assert (clip.onset, clip.apex, clip.offset) == (1, 9, 11)
    assert clip.frame_numbers[clip.apex] == 10
    assert (clip.subject, clip.fps, clip.emotion, clip.label, clip.aus) == ("S01", 90.0, "happiness", 1, "AU12")
    assert clips["S02-03-004"].subject == "S02"  # int subject cell
    assert clips["S03-01-002"].label == -1  # others: kept


def test_problems_reported(mmew_root: Path) -> None:
    report = read_mmew(mmew_root).report
    assert [(p.row, p.field) for p in report.skipped] == [(5, "Estimated Emotion"), (6, "frames")]


def test_macro_clips_apex_last(mmew_root: Path) -> None:
    macro = {c.clip: c for c in read_mmew(mmew_root, part="macro").clips}
    assert set(macro) == {"S01-05-101", "S02-01-102"}
    clip = macro["S01-05-101"]
    assert (clip.expression, clip.emotion, clip.label, clip.subject) == ("macro", "sadness", 0, "S01")
    assert (clip.onset, clip.apex, clip.offset) == (0, 9, 9) and clip.frame_numbers == list(range(1, 11))
    assert len(read_mmew(mmew_root, part="both").clips) == 5


def test_missing_micro_tree_is_one_clear_error(mmew_root: Path) -> None:
    shutil.rmtree(mmew_root / "Micro_Expression")
    with pytest.raises(MiexInputError, match="frame tree"):
        read_mmew(mmew_root)
