"""AU vocabulary, OpenFace CSV reader, GANimation sample-data format and the tidy AU table."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py2_pickle import python2_au_pickle

from miex.core.errors import MiexInputError
from miex.data.aus import (
    AU_NAMES,
    NUM_AUS,
    au_vector,
    from_generator_scale,
    normalize_au_name,
    read_au_table,
    read_ganimation_aus,
    read_ganimation_ids,
    read_openface_csv,
    to_generator_scale,
    validate_au_array,
    write_au_table,
    write_ganimation_aus,
    write_ganimation_ids,
)

PRESENCE = [*(f"{n}_c" for n in AU_NAMES[:-1]), "AU28_c", "AU45_c"]  # OpenFace writes 18 presence columns


# --- schema -----------------------------------------------------------------------------------------------------


def test_schema_is_openface_order() -> None:
    assert NUM_AUS == 17
    assert AU_NAMES[0] == "AU01" and AU_NAMES[8] == "AU12" and AU_NAMES[-1] == "AU45"
    assert "AU28" not in AU_NAMES  # presence-only in OpenFace, no intensity


@pytest.mark.parametrize(("raw", "expected"), [("AU1", "AU01"), (" au12_r", "AU12"), ("AU45_c", "AU45")])
def test_au_name_spellings(raw: str, expected: str) -> None:
    assert normalize_au_name(raw) == expected


@pytest.mark.parametrize("raw", ["AU28", "AU99", "brow", "AUx"])
def test_unknown_au_names_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError, match="AU"):
        normalize_au_name(raw)


def test_validation_rejects_wrong_length_nan_and_zero_one_scale() -> None:
    with pytest.raises(ValueError, match="expected 17"):
        validate_au_array(np.zeros(16))
    with pytest.raises(ValueError, match="NaN"):
        validate_au_array(np.full(17, np.nan))
    with pytest.raises(ValueError, match="0 to 5"):
        validate_au_array(np.full(17, 6.0))
    clipped = validate_au_array(np.full(17, 5.0000001))
    assert clipped.max() == 5.0 and clipped.dtype == np.float32


@given(st.lists(st.floats(0, 5, width=32), min_size=17, max_size=17))
def test_generator_scale_round_trip(values: list[float]) -> None:
    vector = np.asarray(values, dtype=np.float32)
    scaled = to_generator_scale(vector)
    assert scaled.min() >= 0 and scaled.max() <= 1
    np.testing.assert_allclose(from_generator_scale(scaled), vector, rtol=1e-6, atol=1e-6)


def test_au_vector_by_name() -> None:
    vector = au_vector(AU12=1.5, au6=0.5)
    assert vector[AU_NAMES.index("AU12")] == 1.5 and vector[AU_NAMES.index("AU06")] == 0.5
    assert vector.sum() == 2.0


# --- OpenFace CSV ----------------------------------------------------------------------------------------------


def _openface_csv(
    rows: list[dict[str, float]], *, separator: str, face_id: bool, blocks: bool, image_tool: bool = False
) -> str:
    ids = (
        ["face", "confidence"]
        if image_tool
        else ["frame", *(["face_id"] if face_id else []), "timestamp", "confidence", "success"]
    )
    extra = ["gaze_0_x", "gaze_0_y", "pose_Tx", "pose_Rx", "x_0", "y_0", "p_scale"] if blocks else []
    header = ids + extra + [f"{n}_r" for n in AU_NAMES] + PRESENCE
    lines = [separator.join(header)]
    for index, row in enumerate(rows):
        values = {
            "frame": index + 1,
            "face": 0,
            "face_id": 0,
            "timestamp": index * 0.005,
            "confidence": 0.98,
            "success": row.get("success", 1),
        }
        values.update({name: 0.1 * (k + 1) for k, name in enumerate(extra)})
        values.update({f"{n}_r": row.get(n, 0.0) for n in AU_NAMES})
        values.update({name: 1 for name in PRESENCE})
        lines.append(separator.join(str(values[column]) for column in header))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("separator", "face_id", "blocks"), [(", ", False, True), (",", True, True), (",", True, False)]
)
def test_openface_csv_styles_read_by_name(tmp_path, separator: str, face_id: bool, blocks: bool) -> None:
    rows = [{"AU12": 1.25, "AU06": 0.5}, {"AU12": 2.0, "success": 0}, {"AU04": 3.0, "AU45": 0.75}]
    path = tmp_path / "clip.csv"
    path.write_text(_openface_csv(rows, separator=separator, face_id=face_id, blocks=blocks))
    table = read_openface_csv(path)
    assert list(table["frame"]) == [1, 3]  # the failed frame 2 is dropped ...
    assert table.attrs["failed_rows"] == 1  # ... and counted
    assert list(table["line"]) == [2, 4]
    assert table.loc[0, "AU12"] == pytest.approx(1.25) and table.loc[0, "AU06"] == pytest.approx(0.5)
    assert table.loc[1, "AU04"] == pytest.approx(3.0) and table.loc[1, "AU45"] == pytest.approx(0.75)
    assert [c for c in table.columns if c.startswith("AU")] == list(AU_NAMES)  # no presence columns leak in
    assert ("face_id" in table.columns) == face_id


def test_openface_keep_failed(tmp_path) -> None:
    path = tmp_path / "clip.csv"
    path.write_text(_openface_csv([{"success": 0}, {}], separator=",", face_id=True, blocks=False))
    assert len(read_openface_csv(path, keep_failed=True)) == 2


def test_openface_image_tool_output(tmp_path) -> None:
    path = tmp_path / "face.csv"
    path.write_text(_openface_csv([{"AU12": 4.0}], separator=", ", face_id=False, blocks=True, image_tool=True))
    table = read_openface_csv(path)
    assert list(table.columns[:3]) == ["line", "face", "confidence"]
    assert table.loc[0, "AU12"] == pytest.approx(4.0)


def test_openface_missing_au_column_names_the_column(tmp_path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(_openface_csv([{}], separator=",", face_id=True, blocks=False).replace("AU17_r", "AU17_x"))
    with pytest.raises(MiexInputError, match="AU17_r") as error:
        read_openface_csv(path)
    assert error.value.file == str(path) and error.value.row == 1


def test_openface_non_numeric_cell_names_row_and_column(tmp_path) -> None:
    text = _openface_csv([{}, {"AU09": 1.0}], separator=",", face_id=True, blocks=False)
    lines = text.splitlines()
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index("AU09_r")] = "n/a"
    lines[2] = ",".join(cells)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MiexInputError) as error:
        read_openface_csv(path)
    assert (error.value.row, error.value.field) == (3, "AU09_r")
    assert "n/a" in str(error.value)


@pytest.mark.parametrize("content", ["", "frame,face_id,timestamp\n"])
def test_openface_empty_files(tmp_path, content: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(MiexInputError, match=r"empty|no rows"):
        read_openface_csv(path)


@settings(max_examples=25, deadline=None)
@given(
    order=st.permutations(list(range(len(AU_NAMES)))),
    intensities=st.lists(st.floats(0, 5, allow_nan=False, width=32), min_size=17, max_size=17),
)
def test_openface_column_order_does_not_matter(tmp_path_factory, order: list[int], intensities: list[float]) -> None:
    """Reading by name must give each AU its own column whatever the file's column order."""
    names = [AU_NAMES[i] for i in order]
    header = ["frame", "success", *(f" {n}_r" for n in names)]
    row = ["1", "1", *(repr(intensities[i]) for i in order)]
    path = tmp_path_factory.mktemp("of") / "shuffled.csv"
    path.write_text(",".join(header) + "\n" + ",".join(row) + "\n")
    table = read_openface_csv(path)
    np.testing.assert_allclose(table.loc[0, list(AU_NAMES)].to_numpy(float), intensities, rtol=1e-6)


# --- GANimation sample data --------------------------------------------------------------------------------------


def test_python2_pickle_needs_latin1_and_is_read(tmp_path) -> None:
    values = [0.5 + 0.25 * i for i in range(17)]  # raw float bytes above 0x7f: ASCII decoding fails
    data = python2_au_pickle({"N_0000000001_00190": values})
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(data)
    path = tmp_path / "aus_openface.pkl"
    path.write_bytes(data)
    aus = read_ganimation_aus(path)
    assert list(aus) == ["N_0000000001_00190"]
    np.testing.assert_allclose(aus["N_0000000001_00190"], values)


def test_ganimation_aus_round_trip_and_validation(tmp_path) -> None:
    aus = {"a": np.linspace(0, 5, 17), "b": np.zeros(17)}
    path = tmp_path / "aus_openface.pkl"
    write_ganimation_aus(aus, path)
    assert pickle.loads(path.read_bytes())["a"].dtype == np.float64
    loaded = read_ganimation_aus(path)
    np.testing.assert_allclose(loaded["a"], aus["a"], rtol=1e-6)
    path.write_bytes(pickle.dumps({"bad": np.zeros(16)}, protocol=2))
    with pytest.raises(MiexInputError, match="17") as error:
        read_ganimation_aus(path)
    assert error.value.field == "bad"


def test_ganimation_id_lists(tmp_path) -> None:
    path = tmp_path / "train_ids.csv"
    write_ganimation_ids(["N_1.jpg", "N_2.jpg"], path)
    assert path.read_text() == "N_1.jpg\nN_2.jpg\n"
    path.write_text("N_1.jpg\r\n\r\nN_2.jpg\r\n")
    assert read_ganimation_ids(path) == ["N_1.jpg", "N_2.jpg"]


# --- tidy AU table ----------------------------------------------------------------------------------------------


def _au_frame(n: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.uniform(0, 5, (n, 17)).astype(np.float32), columns=list(AU_NAMES))
    frame.insert(0, "path", [f"sub01/EP02_01f/img{46 + i}.jpg" for i in range(n)])
    frame.insert(1, "frame", [46 + i for i in range(n)])
    return frame


def test_au_table_round_trip_fills_defaults(tmp_path) -> None:
    path = write_au_table(_au_frame(), tmp_path / "aus.parquet")
    table = read_au_table(path)
    assert list(table.columns) == ["path", "dataset", "subject", "clip", "frame", "extractor", *AU_NAMES]
    assert table["frame"].tolist() == [46, 47, 48] and (table["dataset"] == "").all()
    np.testing.assert_allclose(table[list(AU_NAMES)].to_numpy(), _au_frame()[list(AU_NAMES)].to_numpy())


def test_au_table_rejects_nan_and_names_row_and_column(tmp_path) -> None:
    frame = _au_frame()
    frame.loc[2, "AU26"] = np.nan
    with pytest.raises(MiexInputError) as error:
        write_au_table(frame, tmp_path / "aus.parquet")
    assert (error.value.row, error.value.field) == (2, "AU26")
    assert not (tmp_path / "aus.parquet").exists()


def test_au_table_rejects_missing_columns_and_other_scales(tmp_path) -> None:
    with pytest.raises(MiexInputError, match="AU45"):
        write_au_table(_au_frame().drop(columns="AU45"), tmp_path / "x.parquet")
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(_au_frame(), preserve_index=False).replace_schema_metadata({"miex.au_scale": "0-1"})
    pq.write_table(table, tmp_path / "scaled.parquet")
    with pytest.raises(MiexInputError, match="0-1"):
        read_au_table(tmp_path / "scaled.parquet")


def test_au_table_reads_csv(tmp_path) -> None:
    path = tmp_path / "aus.csv"
    _au_frame().to_csv(path, index=False)
    assert len(read_au_table(path)) == 3


def test_cli_help_lists_commands(capsys) -> None:
    from miex.cli import COMMANDS, build_parser, main

    text = build_parser().format_help()
    for command in COMMANDS:
        assert command.name in text
    assert main([]) == 0
    assert "usage: miex" in capsys.readouterr().out
