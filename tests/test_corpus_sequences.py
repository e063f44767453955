"""Generic sequence folders (Oulu-CASIA-like) with a label map, and the face-pool reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miex.core.errors import MiexInputError
from miex.data.corpora.faces import read_faces
from miex.data.corpora.sequences import parse_label_map, read_sequences


def test_sequences_both_layouts_numeric_order(sequences_root: Path) -> None:
    corpus = read_sequences(sequences_root)
    clips = {(c.subject, c.clip): c for c in corpus.clips}
    assert set(clips) == {("P001", "Anger"), ("P001", "Happy"), ("P002", "happy/seq1"), ("P002", "happy/seq2")}
    seq = clips[("P002", "happy/seq1")]
    assert seq.frame_numbers == list(range(1, 11)) and (seq.onset, seq.apex, seq.offset) == (0, 9, 9)
    assert (seq.dataset, seq.expression, seq.emotion, seq.label, seq.fps) == ("sequences", "macro", "happiness", 1, 25)
    [problem] = corpus.report.skipped
    assert problem.file.endswith("Blah") and "Blah" in problem.reason


def test_label_map_relabels_folders(sequences_root: Path) -> None:
    corpus = read_sequences(
        sequences_root, label_map=parse_label_map("Blah=fear, happy = surprise"), dataset="oulu", fps=30.0
    )
    emotions = {(c.subject, c.clip): (c.emotion, c.label) for c in corpus.clips}
    assert emotions[("P002", "Blah")] == ("fear", 0)
    assert emotions[("P001", "Happy")] == ("surprise", 2)  # map keys match folder names case-insensitively
    assert {c.dataset for c in corpus.clips} == {"oulu"} and not corpus.report.problems


def test_label_map_files_and_errors(tmp_path: Path) -> None:
    (tmp_path / "map.json").write_text(json.dumps({"Happy": "happiness"}))
    (tmp_path / "map.yaml").write_text("Angry: anger\n")
    assert parse_label_map(tmp_path / "map.json") == {"Happy": "happiness"}
    assert parse_label_map(str(tmp_path / "map.yaml")) == {"Angry": "anger"}
    assert parse_label_map(None) == {}
    with pytest.raises(MiexInputError, match="unknown emotion 'joy'"):
        parse_label_map("Happy=joy")
    with pytest.raises(MiexInputError, match="FOLDER=EMOTION"):
        parse_label_map("Happy")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(MiexInputError, match="mapping"):
        parse_label_map(tmp_path / "list.json")


def test_faces_one_identity_per_image(faces_root: Path) -> None:
    corpus = read_faces(faces_root)
    rows = [(c.subject, c.clip) for c in corpus.clips]
    assert rows == [
        ("a", "a.jpg"),
        ("person1/x", "person1/x.png"),
        ("person1/y", "person1/y.webp"),
        ("person2/deep/z", "person2/deep/z.BMP"),
    ]
    clip = corpus.clips[0]
    assert (clip.dataset, clip.expression, clip.label, clip.emotion, clip.onset, clip.apex, clip.offset) == (
        "faces",
        "face",
        -1,
        "",
        0,
        0,
        0,
    )
    assert len(clip.frames) == 1 and Path(clip.frames[0]).is_file()


def test_faces_identity_from_folder(faces_root: Path) -> None:
    corpus = read_faces(faces_root, identity_from="folder", dataset="celeba")
    assert [c.subject for c in corpus.clips] == ["faces", "person1", "person1", "deep"]
    assert {c.dataset for c in corpus.clips} == {"celeba"}


def test_empty_face_folder_reported(tmp_path: Path) -> None:
    assert "no face images" in read_faces(tmp_path).report.render()
