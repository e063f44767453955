"""SMIC-HS: labels from folders, absolute .bmp frame numbers, middle apex, micro only."""

from __future__ import annotations

from pathlib import Path

import pytest

from miex.data.corpora.smic import folder_clip, folder_subject, read_smic


def test_clips_from_folders_with_middle_apex(smic_root: Path) -> None:
    corpus = read_smic(smic_root)
    clips = {clip.clip: clip for clip in corpus.clips}
    assert set(clips) == {"s1_ne_01", "s1_po_01", "s2_sur_01"}  # non_micro and bad folders not taken
    clip = clips["s1_ne_01"]
    assert (clip.subject, clip.label, clip.fps, clip.expression) == ("s1", 0, 100.0, "micro")
    assert clip.frame_numbers == list(range(123456, 123461))
    assert (clip.onset, clip.apex, clip.offset) == (0, 2, 4)
    assert clips["s1_po_01"].apex == 1  # 4 frames: (4 - 1) // 2
    assert clips["s2_sur_01"].frame_numbers == [998, 999, 1000, 1001, 1002]  # numeric, not lexicographic


def test_unknown_emotion_folder_and_unnumbered_frame_reported(smic_root: Path) -> None:
    report = read_smic(smic_root).report
    reasons = {(Path(p.file).name, p.field): p.reason for p in report.skipped}
    assert set(reasons) == {("happy-ish", "emotion folder"), ("s3_ne_01", "frames")}
    assert "thumbnail.bmp" in reasons[("s3_ne_01", "frames")]


@pytest.mark.parametrize(("apex", "index"), [(0.0, 0), (0.75, 3), (1.0, 4)])
def test_apex_fraction(smic_root: Path, apex: float, index: int) -> None:
    clip = next(c for c in read_smic(smic_root, apex=apex).clips if c.clip == "s1_ne_01")
    assert clip.apex == index


def test_bad_apex_and_root_being_hs(smic_root: Path) -> None:
    with pytest.raises(ValueError, match="fraction"):
        read_smic(smic_root, apex=1.5)
    assert len(read_smic(smic_root / "HS").clips) == 3


def test_empty_tree_is_reported(tmp_path: Path) -> None:
    assert "no SMIC-HS clips" in read_smic(tmp_path).report.render()


def test_megc_ids_to_folders() -> None:
    assert [folder_subject(v) for v in ("s01", "s1", "1", 1, "S20", "x")] == ["s1", "s1", "s1", "s1", "s20", ""]
    assert folder_clip("s01_ne_01") == "s1_ne_01" and folder_clip("s12_sur_02") == "s12_sur_02"
