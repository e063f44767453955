"""MEGC2019 composite: headerless CRLF ground truth, id -> folder mapping, GT labels win, the real 442 composition."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import corpus_fixtures as cf
import pytest

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.data.corpora import read_clip_table
from miex.data.corpora.megc2019 import default_root, parse_label, read_megc2019


def test_gt_decides_membership_and_labels(small_composite: Path) -> None:
    corpus = read_megc2019(small_composite)
    expected = {(c.dataset, c.clip): c.gt for c in cf.SMALL_COMPOSITE if c.gt is not None and c.on_disk}
    assert {(c.dataset, c.clip): c.label for c in corpus.clips} == expected
    subjects = {(c.dataset, c.clip): c.subject for c in corpus.clips}
    assert subjects[("samm", "006_1_2")] == "006"  # GT "6"
    assert subjects[("smic", "s1_ne_01")] == "s1"  # GT "s01" / "s01_ne_01"
    assert subjects[("casme2", "EP03_02")] == "sub01"  # GT "sub01" (odd rows) ...
    assert subjects[("casme2", "EP02_01f")] == "sub01"  # ... and "01" (even rows)


def test_merge_rules_drop_what_megc_dropped(small_composite: Path) -> None:
    taken = {(c.dataset, c.clip) for c in read_megc2019(small_composite).clips}
    dropped = {(c.dataset, c.clip, c.emotion) for c in cf.SMALL_COMPOSITE if c.gt is None}
    assert {(d, e) for d, _, e in dropped} == {
        ("casme2", "fear"),
        ("casme2", "sadness"),
        ("casme2", "others"),
        ("samm", "Other"),
    }
    assert not taken & {(d, c) for d, c, _ in dropped}
    labels = {(c.dataset, c.emotion): c.label for c in read_megc2019(small_composite).clips}
    assert labels[("samm", "sadness")] == 0 and labels[("samm", "contempt")] == 0
    assert labels[("casme2", "repression")] == 0 and labels[("casme2", "disgust")] == 0


def test_disagreement_missing_duplicate_and_bad_rows_reported(small_composite: Path) -> None:
    report = read_megc2019(small_composite).report
    gt = str(small_composite / "combined_3class_gt.csv")
    skipped = {(p.row, p.field) for p in report.skipped if p.file == gt}
    assert skipped == {(10, "clip"), (14, "clip"), (15, "dataset"), (16, "label")}  # missing, dup, dataset, label
    assert "not read from disk" in next(p.reason for p in report.skipped if p.row == 10 and p.file == gt)
    [note] = report.notes
    assert (note.row, note.field, note.clip) == (5, "label", "sub03/EP01_01")
    assert "'others'" in note.reason and "ground truth kept" in note.reason
    clip = next(c for c in read_megc2019(small_composite).clips if c.clip == "EP01_01")
    assert (clip.emotion, clip.label) == ("others", 0)  # GT wins


def test_gt_file_is_headerless_crlf(small_composite: Path) -> None:
    raw = (small_composite / "combined_3class_gt.csv").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") and not raw.startswith(b"dataset")
    assert all("\r" not in c.clip for c in read_megc2019(small_composite).clips)


def test_header_line_tolerated_and_class_names_accepted(small_composite: Path) -> None:
    gt = small_composite / "combined_3class_gt.csv"
    gt.write_text("dataset,subject,clip,label\nsmic,s01,s01_ne_01,negative\n")
    corpus = read_megc2019(small_composite)
    assert [(c.clip, c.label) for c in corpus.clips] == [("s1_ne_01", 0)]
    assert corpus.report.notes[0].row == 1 and "header" in corpus.report.notes[0].reason


def test_explicit_roots_without_root(small_composite: Path) -> None:
    corpus = read_megc2019(
        gt=small_composite / "combined_3class_gt.csv",
        casme2_root=small_composite / "CASME2",
        samm_root=small_composite / "SAMM",
        smic_root=small_composite / "SMIC",
    )
    assert len(corpus.clips) == 12
    with pytest.raises(MiexInputError, match="--casme2-root"):
        read_megc2019(gt=small_composite / "combined_3class_gt.csv")
    with pytest.raises(MiexInputError, match="ground truth not found"):
        read_megc2019(small_composite / "CASME2")


def test_default_root_prefers_the_release_folder(tmp_path: Path) -> None:
    (tmp_path / "SAMM").mkdir()
    (tmp_path / "SAMM" / "SAMM_Micro_FACS_Codes_v2.xlsx").write_text("")
    assert default_root(tmp_path, "samm") == tmp_path / "SAMM"
    assert default_root(tmp_path, "smic") == tmp_path  # nothing found: ROOT itself


@pytest.mark.parametrize(
    ("text", "label"), [("0", 0), ("1", 1), ("2", 2), ("3", None), ("surprise", 2), ("others", None), ("", None)]
)
def test_parse_label(text: str, label: int | None) -> None:
    assert parse_label(text) == label


REAL_TABLE_LINES = (
    "casme2         88        32        25    145        24",
    "samm           92        26        15    133        28",
    "smic           70        51        43    164        16",
    "total         250       109        83    442        68",
    "442 clips, 68 subjects",
)


def _assert_real_counts(table: Path) -> None:
    frame = read_clip_table(table)
    assert len(frame) == 442 and frame["subject"].groupby(frame["dataset"]).nunique().to_dict() == {
        "casme2": 24,
        "samm": 28,
        "smic": 16,
    }
    assert Counter(frame["dataset"]) == {"casme2": 145, "samm": 133, "smic": 164}
    assert Counter(frame["label"]) == {0: 250, 1: 109, 2: 83}


def test_real_composition_through_the_cli(real_composite: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "clips.parquet"
    assert main(["corpus", "megc2019", str(real_composite), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for line in REAL_TABLE_LINES:
        assert line in printed
    assert "No problems found." in printed
    _assert_real_counts(out)


def test_real_composition_through_the_command_line_in_a_subprocess(real_composite: Path, tmp_path: Path) -> None:
    """``python -m miex`` runs the same entry (``console``, ``main`` ended with exit status 130 after
    Ctrl-C) as the installed ``miex`` script (checked in the package metadata, not found on PATH: the suite passes
    from an unactivated environment)."""
    from importlib.metadata import entry_points

    assert [ep.value for ep in entry_points(group="console_scripts", name="miex")] == ["miex.cli:console"]
    out = tmp_path / "clips.parquet"
    command = [sys.executable, "-m", "miex", "corpus", "megc2019", str(real_composite), "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "442 clips, 68 subjects" in result.stdout
    _assert_real_counts(out)
