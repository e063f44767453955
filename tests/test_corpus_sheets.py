"""open_sheet and cell parsing: header by name, preamble rows, Excel row numbers, mixed-type cells."""

from __future__ import annotations

from pathlib import Path

import corpus_fixtures as cf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miex.core.errors import MiexInputError
from miex.core.report import ValidationReport
from miex.data.corpora.sheets import au_numbers, cell_int, cell_text, column_key, normalize_aus, open_sheet

SAMM_REQUIRED = ("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame")


def test_samm_header_found_after_13_preamble_rows_on_the_named_worksheet(samm_root: Path) -> None:
    sheet = open_sheet(samm_root / "SAMM_Micro_FACS_Codes_v2.xlsx", required=SAMM_REQUIRED, sheet="MICRO_ONLY")
    assert sheet.header_row == 14
    assert [row.row for row in sheet] == list(range(15, 15 + len(cf.SAMM_ROWS)))
    assert sheet.header("apexframe") == "Apex Frame"  # reports name the column as the sheet writes it
    first = sheet.rows[0]
    assert first.get("Subject") == "006" and first.get("OnsetFrame") == 5562  # text id kept, spaces ignored


def test_decoy_first_worksheet_is_not_read_by_default(samm_root: Path) -> None:
    with pytest.raises(MiexInputError, match="no header row"):
        open_sheet(samm_root / "SAMM_Micro_FACS_Codes_v2.xlsx", required=SAMM_REQUIRED)  # first sheet = decoy


def test_casme2_blank_columns_ignored_and_text_subject_kept(casme2_root: Path) -> None:
    sheet = open_sheet(casme2_root / "CASME2-coding-20140508.xlsx", required=("Subject", "ApexFrame"))
    assert None not in sheet.rows[0].values and "none" not in sheet.rows[0].values
    assert sheet.rows[0].get("Subject") == "01"
    assert sheet.rows[2].get("ApexFrame") == "/"
    assert sheet.rows[0].get("Action Units") == 12 and sheet.rows[1].get("Action Units") == "4+L10"


def test_missing_column_worksheet_and_file_are_errors_naming_them(tmp_path: Path, casme2_root: Path) -> None:
    path = casme2_root / "CASME2-coding-20140508.xlsx"
    with pytest.raises(MiexInputError, match="Objective Classes") as error:
        open_sheet(path, required=("Subject", "Objective Classes"))
    assert error.value.file == str(path)
    with pytest.raises(MiexInputError, match="no worksheet 'MICRO_ONLY'"):
        open_sheet(path, required=("Subject",), sheet="MICRO_ONLY")
    with pytest.raises(MiexInputError, match="not found"):
        open_sheet(tmp_path / "absent.xlsx", required=("Subject",))
    (tmp_path / "fake.xlsx").write_text("not a workbook")
    with pytest.raises(MiexInputError, match="cannot read"):
        open_sheet(tmp_path / "fake.xlsx", required=("Subject",))


def test_column_key_ignores_spaces_and_case() -> None:
    assert column_key(" Onset Frame ") == column_key("OnsetFrame") == "onsetframe"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(46, 46), (46.0, 46), ("46", 46), (" 46 ", 46), (-1, -1), ("/", None), ("", None), (None, None), (4.5, None)],
)
def test_cell_int(cell: object, expected: int | None) -> None:
    assert cell_int(cell) == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [(12, "12"), (12.0, "12"), ("4+L10", "4+L10"), (" 4 + L10 ", "4+L10"), ("R12", "R12"), ("?", "?"), (None, "")],
)
def test_normalize_aus_mixed_cells(cell: object, expected: str) -> None:
    assert normalize_aus(cell) == expected


def test_au_numbers() -> None:
    assert au_numbers("4+L10+R12") == [4, 10, 12]
    assert au_numbers("?") == []
    assert au_numbers("9D+17+25B") == [9, 17, 25]


@given(st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.text()))
def test_au_parsing_never_crashes(cell: object) -> None:
    text = normalize_aus(cell)
    assert not any(ch.isspace() for ch in text) and "++" not in text
    assert all(isinstance(n, int) for n in au_numbers(text))
    assert isinstance(cell_text(cell), str)
    assert cell_int(cell) is None or isinstance(cell_int(cell), int)


def test_report_notes_are_kept_and_never_raise() -> None:
    report = ValidationReport(strict=True)
    report.note("GT wins", file="gt.csv", row=3, field="label", clip="s1/s1_ne_01")
    assert len(report.notes) == 1 and not report.skipped
    assert "1 note(s); the clips concerned were kept" in report.render()
    assert report.to_frame()["kept"].tolist() == [True]
    with pytest.raises(MiexInputError, match="row 4"):
        report.add("bad", file="x.xlsx", row=4, field="ApexFrame")
