"""CASME II: text subject ids, '/' apex, mixed AU cells, raw vs cropped trees, the 2019 relabelling sheet."""

from __future__ import annotations

from pathlib import Path

import corpus_fixtures as cf
import pytest

from miex.core.errors import MiexInputError
from miex.data.corpora.casme2 import folder_subject, read_casme2


def _by_clip(root: Path, **options: object) -> dict:
    corpus = read_casme2(root, **options)
    return {clip.clip: clip for clip in corpus.clips}


def test_valid_rows_become_clips_with_indices_into_frames(casme2_root: Path) -> None:
    clips = _by_clip(casme2_root)
    assert set(clips) == cf.CASME2_VALID
    clip = clips["EP02_01f"]
    assert (clip.dataset, clip.subject, clip.fps, clip.expression) == ("casme2", "sub01", 200.0, "micro")
    assert clip.frame_numbers == [46, 47, 48, 49, 50]
    assert [Path(f).name for f in clip.frames] == [f"img{n}.jpg" for n in range(46, 51)]  # file number = frame
    assert (clip.onset, clip.apex, clip.offset) == (0, 2, 4)
    assert (clip.emotion, clip.label, clip.aus) == ("happiness", 1, "12")  # int AU cell -> "12"
    assert clips["EP03_02"].aus == "4+L10" and clips["EP09_03"].aus == "?"
    assert clips["EP09_03"].label == 0  # repression -> negative
    assert clips["EP01_01"].subject == "sub03" and clips["EP01_01"].label == -1  # int subject cell; others kept


def test_every_problem_row_is_reported_with_row_and_field(casme2_root: Path) -> None:
    report = read_casme2(casme2_root).report
    sheet = str(casme2_root / "CASME2-coding-20140508.xlsx")
    found = {(p.row, p.field) for p in report.skipped}
    assert found == {
        (4, "ApexFrame"),  # "/"
        (8, "OffsetFrame"),  # offset frame file missing
        (9, "Estimated Emotion"),  # unknown emotion
        (10, "Filename"),  # duplicate of row 2
        (11, "ApexFrame"),  # apex outside onset..offset
        (12, "frames"),  # a frame missing in the middle
    }
    assert all(p.file == sheet for p in report.skipped)
    assert "'/'" in next(p.reason for p in report.skipped if p.row == 4)
    assert "angst" in next(p.reason for p in report.skipped if p.row == 9)


def test_slash_apex_middle_fallback_is_noted(casme2_root: Path) -> None:
    corpus = read_casme2(casme2_root, apex_fallback="middle")
    clip = next(c for c in corpus.clips if c.clip == "EP01_11f")
    assert clip.frame_numbers[clip.apex] == 22  # (20 + 24) // 2
    assert [(n.row, n.field) for n in corpus.report.notes] == [(4, "ApexFrame")]


def test_strict_raises_at_the_first_problem_with_row_and_field(casme2_root: Path) -> None:
    with pytest.raises(MiexInputError) as error:
        read_casme2(casme2_root, strict=True)
    assert (error.value.row, error.value.field) == (4, "ApexFrame")


def test_2019_sheet_relabels_three_clips(casme2_root: Path) -> None:
    old = _by_clip(casme2_root)
    new = _by_clip(casme2_root, sheet="CASME2-coding-20190701.xlsx")
    changed = {name for name in new if new[name].emotion != old[name].emotion}
    assert changed == set(cf.CASME2_RELABEL_2019)
    assert (new["EP02_01f"].label, new["EP05_02"].label, new["EP09_03"].emotion) == (-1, 1, "disgust")
    absolute = _by_clip(casme2_root, sheet=casme2_root / "CASME2-coding-20190701.xlsx")
    assert absolute["EP05_02"].emotion == "happiness"


def test_cropped_release_is_detected_and_selectable(tmp_path: Path) -> None:
    cropped_only = cf.build_casme2(tmp_path / "c", trees=("cropped",))
    clip = _by_clip(cropped_only)["EP02_01f"]
    assert Path(clip.frames[0]).name == "reg_img46.jpg" and clip.frame_numbers[0] == 46
    both = cf.build_casme2(tmp_path / "b", trees=("raw", "cropped"))
    assert "CASME2_RAW_selected" in _by_clip(both)["EP02_01f"].frames[0]  # auto prefers raw
    assert "Cropped" in _by_clip(both, frames="cropped")["EP02_01f"].frames[0]


@pytest.mark.parametrize(
    ("cell", "folder"),
    [("01", "sub01"), (1, "sub01"), ("1", "sub01"), ("sub01", "sub01"), (26.0, "sub26"), ("", ""), ("x", "")],
)
def test_folder_subject(cell: object, folder: str) -> None:
    assert folder_subject(cell) == folder


def test_missing_frame_tree_is_one_clear_error(casme2_root: Path) -> None:
    with pytest.raises(MiexInputError, match="no CASME II frame tree"):
        read_casme2(casme2_root, frames="cropped")


def test_stray_image_in_a_clip_folder_is_noted(casme2_root: Path) -> None:
    cf.write_image(casme2_root / "CASME2_RAW_selected" / "sub01" / "EP02_01f" / "cover.jpg")
    corpus = read_casme2(casme2_root)
    assert "EP02_01f" in {c.clip for c in corpus.clips}
    [note] = corpus.report.notes
    assert (note.row, note.clip) == (2, "sub01/EP02_01f") and "cover.jpg" in note.reason
