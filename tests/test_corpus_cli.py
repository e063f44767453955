"""``miex corpus``: per-corpus sub-commands, output table, report printing, --strict exit status, the registry."""

from __future__ import annotations

from pathlib import Path

import corpus_fixtures as cf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from miex.cli import main
from miex.cli.corpus import CORPORA
from miex.data.corpora import READERS, read_clip_table
from miex.data.corpora.labels import EMOTION_SYNONYMS, emotion_to_label


def test_registry_and_cli_cover_the_same_corpora() -> None:
    assert [c.name for c in CORPORA] == list(READERS)
    assert all(callable(READERS[name]) for name in READERS)


@pytest.mark.parametrize("corpus", [c.name for c in CORPORA])
def test_each_corpus_help_teaches_its_layout(corpus: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["corpus", corpus, "--help"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "layout:" in printed and "--out" in printed and "--strict" in printed


def test_samm_writes_table_and_prints_summary_and_report(
    samm_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "samm.parquet"
    assert main(["corpus", "samm", str(samm_root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "4 clips, 3 subjects" in printed and "3 problem(s)" in printed and "row 18, field Apex Frame" in printed
    table = read_clip_table(out)
    assert set(table["clip"]) == cf.SAMM_VALID and table["frames"].map(len).tolist() == [4, 5, 3, 4]


def test_strict_exits_2_naming_the_row(samm_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "samm.parquet"
    assert main(["corpus", "samm", str(samm_root), "--out", str(out), "--strict"]) == 2
    assert "row 18" in capsys.readouterr().err and not out.exists()


def test_options_reach_the_readers(casme2_root: Path, sequences_root: Path, smic_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    assert (
        main(
            [
                "corpus",
                "casme2",
                str(casme2_root),
                "--out",
                str(out),
                "--apex-fallback",
                "middle",
                "--sheet",
                "CASME2-coding-20190701.xlsx",
            ]
        )
        == 0
    )
    table = read_clip_table(out).set_index("clip")
    assert "EP01_11f" in table.index and table.loc["EP05_02", "emotion"] == "happiness"
    assert main(["corpus", "sequences", str(sequences_root), "--out", str(out), "--label-map", "Blah=fear"]) == 0
    assert "fear" in set(read_clip_table(out)["emotion"])
    assert main(["corpus", "sequences", str(sequences_root), "--out", str(out), "--label-map", "Blah=joy"]) == 2
    assert main(["corpus", "smic", str(smic_root), "--out", str(out), "--apex", "1"]) == 0
    assert set(read_clip_table(out).eval("apex == offset")) == {True}
    with pytest.raises(SystemExit):
        main(["corpus", "smic", str(smic_root), "--out", str(out), "--apex", "late"])


def test_ckplus_and_faces_from_the_cli(
    ckplus_root: Path, faces_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "t.parquet"
    assert main(["corpus", "ckplus", str(ckplus_root), "--out", str(out)]) == 0
    assert "2 clip(s) have no 3-class label" in capsys.readouterr().out  # the unlabelled sequence is counted
    assert main(["corpus", "ckplus", str(ckplus_root), "--out", str(out), "--drop-unlabelled"]) == 0
    assert len(read_clip_table(out)) == 4
    assert main(["corpus", "faces", str(faces_root), "--out", str(out), "--identity-from", "folder"]) == 0
    assert read_clip_table(out)["subject"].tolist() == ["deep", "faces", "person1", "person1"]


@given(
    st.sampled_from(sorted(EMOTION_SYNONYMS)),
    st.sampled_from([str.lower, str.upper, str.title]),
    st.text(" \t", max_size=2),
)
def test_emotion_merge_is_total_over_known_names(name: str, case: object, pad: str) -> None:
    assert emotion_to_label(pad + case(name) + pad) in (-1, 0, 1, 2)


@given(st.text(max_size=20))
def test_emotion_lookup_never_guesses(text: str) -> None:
    label = emotion_to_label(text)
    assert label is None or text.strip().lower() in EMOTION_SYNONYMS


def test_megc2019_errors_exit_2(small_composite: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "m.parquet"
    assert main(["corpus", "megc2019", "--out", str(out)]) == 2
    assert "give ROOT" in capsys.readouterr().err
    assert main(["corpus", "megc2019", str(small_composite), "--out", str(out), "--strict"]) == 2
    assert main(["corpus", "megc2019", str(small_composite), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1 note(s); the clips concerned were kept" in printed and "12 clips" in printed
