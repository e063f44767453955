"""CK+: emotion codes (sadness is NEGATIVE), sequences without an emotion file, FACS strings, apex = last frame."""

from __future__ import annotations

from pathlib import Path

import pytest

from miex.data.corpora.ckplus import EMOTION_CODES, read_ckplus
from miex.data.corpora.labels import emotion_to_label


def _by_key(root: Path, **options: object) -> dict:
    return {(c.subject, c.clip): c for c in read_ckplus(root, **options).clips}


def test_sequences_as_macro_clips(ckplus_root: Path) -> None:
    clips = _by_key(ckplus_root)
    assert set(clips) == {("S005", "001"), ("S010", "002"), ("S011", "001"), ("S011", "002"), ("S014", "001")}
    clip = clips[("S005", "001")]
    assert (clip.dataset, clip.expression, clip.fps) == ("ckplus", "macro", 30.0)
    assert (clip.emotion, clip.label) == ("disgust", 0)
    assert clip.frame_numbers == [1, 2, 3, 4] and Path(clip.frames[0]).name == "S005_001_00000001.png"
    assert (clip.onset, clip.apex, clip.offset) == (0, 3, 3)  # neutral -> peak: apex is the last frame


def test_sadness_is_negative_not_the_authors_positive(ckplus_root: Path) -> None:
    clip = _by_key(ckplus_root)[("S010", "002")]
    assert (clip.emotion, clip.label) == ("sadness", 0)


def test_sequence_without_emotion_file_kept_unlabelled_or_dropped_with_note(ckplus_root: Path) -> None:
    clip = _by_key(ckplus_root)[("S011", "001")]
    assert (clip.emotion, clip.label) == ("", -1)
    corpus = read_ckplus(ckplus_root, drop_unlabelled=True)
    assert ("S011", "001") not in {(c.subject, c.clip) for c in corpus.clips}
    [note] = corpus.report.notes
    assert note.reason == "1 sequence(s) without an emotion file dropped (drop_unlabelled)"


def test_facs_string_with_intensity_letters(ckplus_root: Path) -> None:
    clips = _by_key(ckplus_root)
    assert clips[("S005", "001")].aus == "9D+17+25B"
    assert clips[("S010", "002")].aus == "1+4C+15B"
    assert clips[("S014", "001")].aus == ""  # no FACS file


def test_invalid_code_reported_with_its_file(ckplus_root: Path) -> None:
    [problem] = read_ckplus(ckplus_root).report.skipped
    assert problem.file.endswith("S012_003_00000003_emotion.txt") and problem.clip == "S012/003"


def test_missing_image_tree_reported(tmp_path: Path) -> None:
    assert "image tree not found" in read_ckplus(tmp_path).report.render()


@pytest.mark.parametrize(("code", "label"), [(0, -1), (1, 0), (2, 0), (3, 0), (4, 0), (5, 1), (6, 0), (7, 2)])
def test_code_merge(code: int, label: int) -> None:
    assert emotion_to_label(EMOTION_CODES[code]) == label


def test_unreadable_facs_file_keeps_clip_with_a_note(ckplus_root: Path) -> None:
    (ckplus_root / "FACS" / "S005" / "001" / "S005_001_00000004_facs.txt").write_text("one two\n")
    corpus = read_ckplus(ckplus_root)
    assert _by_key(ckplus_root)[("S005", "001")].aus == ""
    [note] = corpus.report.notes
    assert (note.field, note.clip) == ("aus", "S005/001")
