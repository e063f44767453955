"""``miex corpus`` never lies and never blocks a normal user.

Unusable input exits 2 with one line and writes nothing; hostile row names never become clips; the MEGC2019
composite is built from the parts a user has and says which are missing; ``--strict`` judges only GT clips.
"""

from __future__ import annotations

import io
import posixpath
import shutil
from pathlib import Path

import corpus_fixtures as cf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miex.cli import main
from miex.cli.corpus import CORPORA
from miex.core.fileio import name_problem
from miex.data.corpora import common as corpus_common
from miex.data.corpora import read_clip_table
from miex.data.corpora.casme2 import read_casme2
from miex.data.corpora.megc2019 import read_megc2019


def run_corpus(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """``miex corpus ARGS`` in-process: (exit code, stdout, stderr)."""
    code = main(["corpus", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(code: int, err: str, *needles: str) -> None:
    """Exit 2, ONE error line naming the problem, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err


# --------------------------------------------------------------------------------------------------------------
# unusable input: exit 2, one line, nothing written


GT_LINES = ["casme2,01,EP02_01f,1", "casme2,01,EP03_02,0", "samm,6,006_1_2,0"]


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_gt_with_another_separator_is_refused_once(
    small_composite: Path, tmp_path: Path, separator: str, name: str, capsys: pytest.CaptureFixture
) -> None:
    gt = small_composite / "combined_3class_gt.csv"
    gt.write_text("\r\n".join(line.replace(",", separator) for line in GT_LINES) + "\r\n")
    out = tmp_path / "m.parquet"
    code, _, err = run_corpus(["megc2019", str(small_composite), "--out", str(out)], capsys)
    assert_refused(code, err, name, "comma-separated")
    assert not out.exists()


@pytest.mark.parametrize(
    "content",
    [
        "\r\n".join(GT_LINES).encode("utf-16"),  # Excel's "Unicode Text"
        bytes(range(256)) * 4,  # binary
        b"casme2,01,EP02_01f,1\r\ncasme2,\xff\xfe01,EP03_02,0\r\n",  # latin-1 bytes in a UTF-8 file
    ],
)
def test_gt_that_is_not_utf8_text_is_refused(
    small_composite: Path, tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture
) -> None:
    gt = tmp_path / "gt.csv"
    gt.write_bytes(content)
    out = tmp_path / "m.parquet"
    code, _, err = run_corpus(["megc2019", str(small_composite), "--gt", str(gt), "--out", str(out)], capsys)
    assert_refused(code, err, "UTF-8", str(gt))
    assert not out.exists()


@pytest.mark.parametrize("content", ["Subject,Filename\n01,EP02_01f\n".encode("utf-16"), bytes(range(256))])
def test_sheet_that_is_not_xlsx_is_refused(
    casme2_root: Path, tmp_path: Path, content: bytes, capsys: pytest.CaptureFixture
) -> None:
    sheet = tmp_path / "sheet.xlsx"
    sheet.write_bytes(content)
    code, _, err = run_corpus(
        ["casme2", str(casme2_root), "--sheet", str(sheet), "--out", str(tmp_path / "c.pq")], capsys
    )
    assert_refused(code, err, "cannot read as an xlsx workbook", "--sheet")


def test_another_corpus_sheet_is_refused(
    casme2_root: Path, samm_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    samm_sheet = samm_root / "SAMM_Micro_FACS_Codes_v2.xlsx"
    out = tmp_path / "c.parquet"
    code, _, err = run_corpus(["casme2", str(casme2_root), "--sheet", str(samm_sheet), "--out", str(out)], capsys)
    assert_refused(code, err, "samm coding sheet, not the casme2 one")
    renamed = tmp_path / "my_sheet.xlsx"  # the same sheet under a neutral name: refused by its content
    shutil.copy(samm_sheet, renamed)
    code, _, err = run_corpus(["casme2", str(casme2_root), "--sheet", str(renamed), "--out", str(out)], capsys)
    assert_refused(code, err, "no header row")
    assert not out.exists()


def test_wrong_or_missing_root_is_refused(
    casme2_root: Path, samm_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "c.parquet"
    assert_refused(*run_corpus(["casme2", str(samm_root), "--out", str(out)], capsys)[::2], "no CASME II frame tree")
    assert_refused(*run_corpus(["smic", str(tmp_path / "nowhere"), "--out", str(out)], capsys)[::2], "does not exist")
    code, printed, err = run_corpus(["smic", str(casme2_root), "--out", str(out)], capsys)
    assert_refused(code, err, "0 clips read, nothing written", "miex corpus smic --help")
    assert "no SMIC-HS clips found" in printed  # the report says what was expected
    assert not out.exists()


def test_sequences_without_sequences_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "s.parquet"
    code, printed, err = run_corpus(["sequences", str(empty), "--out", str(out)], capsys)
    assert_refused(code, err, "0 clips read")
    assert "no <subject>/<emotion folder>/ sub-folders found" in printed
    assert not out.exists()


def test_out_naming_a_folder_or_a_foreign_file_is_refused(
    samm_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "existing"
    folder.mkdir()
    assert_refused(*run_corpus(["samm", str(samm_root), "--out", str(folder)], capsys)[::2], "names a folder")
    assert list(folder.iterdir()) == []  # no leftover temporary
    notes = tmp_path / "notes.parquet"
    notes.write_text("my notes")
    assert_refused(*run_corpus(["samm", str(samm_root), "--out", str(notes)], capsys)[::2], "--overwrite")
    assert notes.read_text() == "my notes"
    assert run_corpus(["samm", str(samm_root), "--out", str(notes), "--overwrite"], capsys)[0] == 0
    assert run_corpus(["samm", str(samm_root), "--out", str(notes)], capsys)[0] == 0  # a clip table: a rerun


def test_out_naming_the_sheet_is_refused(samm_root: Path, capsys: pytest.CaptureFixture) -> None:
    sheet = samm_root / "SAMM_Micro_FACS_Codes_v2.xlsx"
    before = sheet.read_bytes()
    code, _, err = run_corpus(
        ["samm", str(samm_root), "--sheet", str(sheet), "--out", str(sheet), "--overwrite"], capsys
    )
    assert_refused(code, err, "input file itself")
    assert sheet.read_bytes() == before


# --------------------------------------------------------------------------------------------------------------
# row data never leads out of the corpus


def test_traversal_filename_is_a_bad_row_never_a_clip(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = cf.build_casme2_traversal(tmp_path / "CASME2")
    out = tmp_path / "c.parquet"
    code, printed, _ = run_corpus(["casme2", str(root), "--out", str(out)], capsys)
    assert code == 0
    assert "No problems found" not in printed
    assert f"row 13, field Filename | {cf.TRAVERSAL_FILENAME!r} is not a plain folder name" in printed
    table = read_clip_table(out)
    assert set(table["clip"]) == cf.CASME2_VALID
    assert not any("/X/" in frame for frames in table["frames"] for frame in frames)
    [problem] = [p for p in read_casme2(root).report.skipped if p.row == 13]
    assert (problem.file, problem.field) == (str(root / "CASME2-coding-20140508.xlsx"), "Filename")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("casme2,01,../../../../X/EPX,1", "clip"),
        ("samm,/etc,006_1_2,0", "subject"),
        ("smic,s01,..,0", "clip"),
    ],
)
def test_traversal_in_the_ground_truth_is_a_bad_row(small_composite: Path, line: str, field: str) -> None:
    gt = small_composite / "combined_3class_gt.csv"
    gt.write_text(line + "\n")
    report = read_megc2019(small_composite).report
    [problem] = [p for p in report.skipped if p.file == str(gt)]
    assert (problem.row, problem.field) == (1, field) and "not a plain folder name" in problem.reason


@given(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
    | st.sampled_from(
        ["..", ".", "../x", "a/../../b", "/etc", "C:\\x", "x\\..\\y", "a..b", "EP02_01f", "006_1_2", "s1_ne_01"]
    )
)
def test_a_name_that_passes_stays_one_folder_deep(text: str) -> None:
    accepted = name_problem(text) is None
    if accepted:
        joined = posixpath.normpath(posixpath.join("/base/sub", text))
        assert posixpath.dirname(joined) == "/base/sub" and "\\" not in text and "\0" not in text
    if any(part in text for part in ("..", "/", "\\", "\0")):
        assert not accepted


# --------------------------------------------------------------------------------------------------------------
# MEGC2019 from the parts a user has


def test_casme2_only_composite_is_built_and_says_it_is_partial(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = cf.build_composite(tmp_path / "megc", cf.SMALL_COMPOSITE, parts=("casme2",))
    out = tmp_path / "m.parquet"
    code, printed, _ = run_corpus(["megc2019", str(root), "--out", str(out)], capsys)
    assert code == 0
    gt_rows = {
        name: sum(c.dataset == name and c.gt is not None for c in cf.SMALL_COMPOSITE) for name in ("samm", "smic")
    }
    assert f"SAMM not found in {root}" in printed and f"PARTIAL, its {gt_rows['samm']} ground-truth clip(s)" in printed
    assert f"SMIC not found in {root}" in printed and f"its {gt_rows['smic']} ground-truth clip(s)" in printed
    assert "--samm-root DIR" in printed
    expected = {c.clip for c in cf.SMALL_COMPOSITE if c.dataset == "casme2" and c.gt is not None}
    assert set(read_clip_table(out)["clip"]) == expected
    code, _, err = run_corpus(["megc2019", str(root), "--out", str(out), "--strict"], capsys)
    assert_refused(code, err, "PARTIAL", "--strict")


def test_explicit_parts_without_root(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = cf.build_composite(tmp_path / "megc", cf.SMALL_COMPOSITE)
    out = tmp_path / "m.parquet"
    code, printed, _ = run_corpus(
        [
            "megc2019",
            "--gt",
            str(root / "combined_3class_gt.csv"),
            "--casme2-root",
            str(root / "CASME2"),
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0 and "SAMM not found:" in printed and "SMIC not found:" in printed
    assert set(read_clip_table(out)["dataset"]) == {"casme2"}


def test_no_part_at_all_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "megc"
    root.mkdir()
    (root / "combined_3class_gt.csv").write_text("\n".join(GT_LINES) + "\n")
    code, _, err = run_corpus(["megc2019", str(root), "--out", str(tmp_path / "m.parquet")], capsys)
    assert_refused(code, err, "none of CASME II, SAMM, SMIC found", "--casme2-root")


def test_samm_sheet_option_and_error_naming_it(
    small_composite: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    moved = tmp_path / "samm-codes.xlsx"
    (small_composite / "SAMM" / "SAMM_Micro_FACS_Codes_v2.xlsx").rename(moved)
    out = tmp_path / "m.parquet"
    code, _, err = run_corpus(["megc2019", str(small_composite), "--out", str(out)], capsys)
    assert_refused(code, err, "--samm-sheet")
    assert "--sheet)" not in err
    assert run_corpus(["megc2019", str(small_composite), "--samm-sheet", str(moved), "--out", str(out)], capsys)[0] == 0
    assert "samm" in set(read_clip_table(out)["dataset"])


OUTSIDE_GT = cf.CompositeClip("casme2", 4, "EP12_01f", "disgust", None, on_disk=False)
"""Like the official 2014 CASME II sheet: a row the GT does not list, whose frames are not there."""


def test_strict_judges_only_ground_truth_clips(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    complete = [c for c in cf.SMALL_COMPOSITE if c.on_disk]
    root = cf.build_composite(tmp_path / "megc", [*complete, OUTSIDE_GT])
    out = tmp_path / "m.parquet"
    code, printed, err = run_corpus(["megc2019", str(root), "--out", str(out), "--strict"], capsys)
    assert code == 0, err
    assert "clip sub04/EP12_01f: clip folder not found" in printed  # still reported, not fatal
    broken = cf.build_composite(
        tmp_path / "broken", [*complete, OUTSIDE_GT, cf.CompositeClip("samm", 8, "008_1_1", "Fear", 0, on_disk=False)]
    )
    code, _, err = run_corpus(["megc2019", str(broken), "--out", str(out), "--strict"], capsys)
    assert_refused(code, err, "008/008_1_1", "--strict")


def test_full_raw_casme2_release_folder_is_accepted(tmp_path: Path) -> None:
    root = cf.build_casme2(tmp_path / "CASME2", trees=("full",))
    assert {c.clip for c in read_casme2(root).clips} == cf.CASME2_VALID
    assert {c.clip for c in read_casme2(root, frames="raw").clips} == cf.CASME2_VALID
    composite = cf.build_composite(tmp_path / "megc", cf.SMALL_COMPOSITE, casme2_tree="CASME2-RAW")
    taken = {c.clip for c in read_megc2019(composite).clips if c.dataset == "casme2"}
    assert taken == {c.clip for c in cf.SMALL_COMPOSITE if c.dataset == "casme2" and c.gt is not None}


# --------------------------------------------------------------------------------------------------------------
# help and progress


@pytest.mark.parametrize("corpus", [c.name for c in CORPORA])
def test_every_corpus_help_has_a_runnable_example(corpus: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["corpus", corpus, "--help"])
    printed = capsys.readouterr().out
    examples = printed.split("examples:", 1)[1].strip().splitlines()
    assert examples and all(line.strip().startswith(f"miex corpus {corpus} ") for line in examples)
    assert all("--out " in line for line in examples)


def test_megc2019_help_offers_samm_sheet_and_partial_use(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["corpus", "megc2019", "--help"])
    printed = capsys.readouterr().out
    assert "--samm-sheet" in printed and "PARTIAL" in printed and "--casme2-root /data/CASME2" in printed


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_long_reads_show_a_progress_bar_on_stderr(casme2_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr(corpus_common, "PROGRESS_DELAY_S", 0.0)
    assert {c.clip for c in read_casme2(casme2_root).clips} == cf.CASME2_VALID
    assert "reading casme2" in terminal.getvalue()
