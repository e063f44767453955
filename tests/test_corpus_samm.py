"""SAMM: 13-row preamble, MICRO_ONLY worksheet, text/int subject ids, apex violations and apex -1."""

from __future__ import annotations

from pathlib import Path

import corpus_fixtures as cf
import pytest

from miex.data.corpora.samm import folder_subject, read_samm


def test_valid_rows_and_frame_naming(samm_root: Path) -> None:
    corpus = read_samm(samm_root)
    clips = {clip.clip: clip for clip in corpus.clips}
    assert set(clips) == cf.SAMM_VALID
    clip = clips["006_1_2"]
    assert (clip.subject, clip.fps, clip.emotion, clip.label, clip.aus) == ("006", 200.0, "contempt", 0, "R12+R15")
    assert [Path(f).name for f in clip.frames] == [f"006_0{n}.jpg" for n in range(5562, 5566)]
    assert (clip.onset, clip.apex, clip.offset) == (0, 1, 3)
    assert clips["007_3_1"].subject == "007"  # int subject cell zero-padded to the folder name
    assert clips["009_1_1"].label == -1  # Other: kept, no 3-class label


def test_apex_violations_and_minus_one_reported_on_their_excel_rows(samm_root: Path) -> None:
    report = read_samm(samm_root).report
    assert [(p.row, p.field, p.clip) for p in report.skipped] == [
        (18, "Apex Frame", "028/028_4_1"),
        (19, "Apex Frame", "032/032_3_1"),
        (20, "Apex Frame", "011/011_2_3"),
    ]
    assert "outside onset..offset 20..25" in report.skipped[0].reason
    assert "-1" in report.skipped[2].reason


def test_apex_minus_one_middle_fallback(samm_root: Path) -> None:
    corpus = read_samm(samm_root, apex_fallback="middle")
    clip = next(c for c in corpus.clips if c.clip == "011_2_3")
    assert clip.frame_numbers[clip.apex] == 62
    assert len(corpus.report.skipped) == 2  # the two real violations stay rejected


def test_root_can_be_the_frame_tree_itself(tmp_path: Path) -> None:
    root = cf.build_samm(tmp_path / "flat", frame_tree="")
    assert {c.clip for c in read_samm(root).clips} == cf.SAMM_VALID


@pytest.mark.parametrize(("cell", "folder"), [(6, "006"), ("6", "006"), ("006", "006"), (37.0, "037"), ("", "")])
def test_folder_subject(cell: object, folder: str) -> None:
    assert folder_subject(cell) == folder
