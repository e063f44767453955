"""SMIC apex from a user sheet: listed clips take the sheet's apex, the others keep the middle frame (counted), every
bad row is named by file, row and field, and the clip table records where each apex came from."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus_fixtures import SMALL_COMPOSITE, build_composite, write_apex_sheet

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.data.corpora import read_clip_table
from miex.data.corpora.megc2019 import read_megc2019
from miex.data.corpora.smic import read_smic

# the fixture's clips (tests/corpus_fixtures.py): s1_ne_01 frames 123456..123460, s1_po_01 2000..2003,
# s2_sur_01 998..1002; s3_ne_01 is skipped (an unnumbered file) and s3_x_01 sits in an unknown emotion folder


def clips_of(corpus) -> dict[str, object]:
    return {clip.clip: clip for clip in corpus.clips}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_listed_clips_take_the_sheets_apex_and_the_rest_keep_the_middle(smic_root: Path, suffix: str) -> None:
    sheet = write_apex_sheet(
        smic_root / f"apex{suffix}",
        ["subject", "clip", "apex"],
        [(1.0, "s1_ne_01", 123459.0), ("s1", "s1_po_01", 2000)],
    )
    corpus = read_smic(smic_root, apex_sheet=sheet)
    clips = clips_of(corpus)
    assert (clips["s1_ne_01"].apex, clips["s1_ne_01"].apex_source) == (3, "apex-sheet")
    assert (clips["s1_po_01"].apex, clips["s1_po_01"].onset) == (0, 0)  # an apex on the onset frame is allowed
    assert (clips["s2_sur_01"].apex, clips["s2_sur_01"].apex_source) == (2, "middle")
    (note,) = corpus.report.notes
    assert note.reason.startswith("1 of 3 SMIC clip(s) are not in the apex sheet and keep the middle frame")
    assert "s2/s2_sur_01" in note.reason and Path(note.file) == sheet and note.field == "apex"


def test_the_common_layout_and_megc_spellings_are_read(smic_root: Path) -> None:
    sheet = write_apex_sheet(
        smic_root / "apex.csv",
        [" Subject", "Filename", "Onset", "Apex Frame", "Emotion"],
        [("s01", "s01_ne_01", 123456, 123457, "negative"), ("s02", "s02_sur_01", 998, 1001, "surprise")],
    )
    clips = clips_of(read_smic(smic_root, apex_sheet=sheet, apex=0.0))
    assert clips["s1_ne_01"].apex == 1 and clips["s2_sur_01"].apex == 3
    assert (clips["s1_po_01"].apex, clips["s1_po_01"].apex_source) == (0, "fraction")  # not listed: --apex 0
    no_subject = write_apex_sheet(smic_root / "clip_only.csv", ["FILENAME", "APEX"], [("s1_ne_01", 123460)])
    assert clips_of(read_smic(smic_root, apex_sheet=no_subject))["s1_ne_01"].apex == 4  # subject from the name


def test_every_bad_row_is_named_by_file_row_and_field(smic_root: Path) -> None:
    (smic_root / "HS/s2/micro/surprise/s2_sur_01/image1000.bmp").unlink()  # a gap inside the clip
    sheet = write_apex_sheet(
        smic_root / "apex.csv",
        ["Subject", "Filename", "Apex"],
        [
            ("s1", "s1_ne_01", 999),  # row 2: before the clip's onset
            ("s9", "s9_ne_01", 5),  # row 3: no such clip
            ("s1", "s1_po_01", "12.5"),  # row 4: not a whole number
            ("s1", "s1_po_01", "late"),  # row 5: not a number
            ("s2", "s2_sur_01", 1000),  # row 6: the frame file is missing
            ("s2", "s2_sur_01", 1001),  # row 7: duplicate of row 6
            ("s3", "s3_ne_01", 2),  # row 8: a clip skipped for its unnumbered file: not "unknown"
            ("s1", "../s1_ne_01", 3),  # row 9: a path, not a clip name
        ],
    )
    corpus = read_smic(smic_root, apex_sheet=sheet)
    from_sheet = {p.row: (p.field, p.reason) for p in corpus.report.skipped if Path(p.file) == sheet}
    assert set(from_sheet) == {2, 3, 4, 5, 6, 7, 9}
    assert from_sheet[2] == (
        "Apex",
        "apex 999 outside the clip's onset..offset 123456..123460 (absolute frame numbers)",
    )
    assert from_sheet[3][0] == "Filename" and from_sheet[3][1].startswith("unknown clip")
    assert from_sheet[4][0] == from_sheet[5][0] == "Apex" and "'12.5' is not a whole frame number" in from_sheet[4][1]
    assert from_sheet[6] == ("Apex", "apex 1000 has no frame file in the clip (its frames run 998..1002 with gaps)")
    assert from_sheet[7] == ("Filename", "duplicate row for this clip (first on row 6, apex 1000); the first is kept")
    assert "not a plain folder name" in from_sheet[9][1]
    assert set(clips_of(corpus)) == {"s1_po_01"}  # clips with a bad row are skipped; s1_po_01 kept the middle
    rendered = corpus.report.render()
    assert f"{sheet}, row 2, field Apex | clip s1/s1_ne_01: apex 999 outside" in rendered


def test_strict_stops_at_the_first_bad_row(smic_root: Path) -> None:
    sheet = write_apex_sheet(smic_root / "apex.csv", ["subject", "clip", "apex"], [("s1", "s1_ne_01", "x")])
    with pytest.raises(MiexInputError) as caught:
        read_smic(smic_root, apex_sheet=sheet, strict=True)
    assert (caught.value.row, caught.value.field) == (2, "apex") and Path(caught.value.file) == sheet


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("apex.csv", "subject,onset,offset\ns1,1,2\n", "no header row with a clip column"),
        ("apex.txt", "subject,clip,apex\n", "a .csv or .xlsx file, not .txt"),
        ("apex.csv", None, "apex sheet not found; pass a .csv or .xlsx file with --apex-sheet"),
    ],
)
def test_an_unusable_sheet_is_one_clear_error(smic_root: Path, name: str, content: str | None, message: str) -> None:
    path = smic_root / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(MiexInputError, match=message):
        read_smic(smic_root, apex_sheet=path)


def test_the_clip_table_records_where_each_apex_came_from(
    smic_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    sheet = write_apex_sheet(tmp_path / "apex.csv", ["subject", "clip", "apex"], [("s1", "s1_ne_01", 123458)])
    out = tmp_path / "smic.parquet"
    assert main(["corpus", "smic", str(smic_root), "--apex-sheet", str(sheet), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "2 of 3 SMIC clip(s) are not in the apex sheet" in printed
    assert "2 clip(s) have no annotated apex (smic 2)" in printed
    table = read_clip_table(out).set_index("clip")
    assert table.loc["s1_ne_01", "apex_source"] == "apex-sheet" and table.loc["s1_ne_01", "apex"] == 2
    assert table.loc["s2_sur_01", "apex_source"] == "middle"
    assert main(["corpus", "smic", str(smic_root), "--apex-sheet", str(out), "--out", str(out)]) == 2  # --out = input


def test_megc2019_takes_smic_apex_from_a_sheet(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = build_composite(tmp_path / "megc", SMALL_COMPOSITE)  # SMIC clips have frames 1, 2, 3
    sheet = write_apex_sheet(
        tmp_path / "apex.csv", ["Subject", "Filename", "Apex"], [("s01", "s01_ne_01", 3), ("s12", "s12_sur_02", 9)]
    )
    corpus = read_megc2019(root, smic_apex_sheet=sheet)
    by_key = {(c.dataset, c.clip): c for c in corpus.clips}
    assert (by_key["smic", "s1_ne_01"].apex, by_key["smic", "s1_ne_01"].apex_source) == (2, "apex-sheet")
    assert by_key["smic", "s1_po_01"].apex_source == "middle"
    assert by_key["casme2", "EP02_01f"].apex_source == "annotated"
    assert ("smic", "s12_sur_02") not in by_key  # its row is bad: skipped, and reported as a GT clip not read
    bad = [p for p in corpus.report.skipped if Path(p.file) == sheet]
    assert [(p.row, p.field) for p in bad] == [(3, "Apex")]
    out = tmp_path / "clips.parquet"
    argv = ["corpus", "megc2019", str(root), "--smic-apex-sheet", str(sheet), "--out", str(out)]
    assert main(argv) == 0 and "SMIC clip(s) are not in the apex sheet" in capsys.readouterr().out
    with pytest.raises(MiexInputError, match="--smic-apex-sheet given but no SMIC release found"):
        read_megc2019(gt=root / "combined_3class_gt.csv", casme2_root=root / "CASME2", smic_apex_sheet=sheet)
