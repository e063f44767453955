"""AU sources, clip tables, plans and their parquet files on bad input: bounded expert pools with
progress, expert tables that cannot be drawn, duplicate clips, page checksums, messages that name the file that is
wrong, and plans that keep their identity when their folder moves."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import corpus_fixtures as cf
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from miex_fixtures import one_error_line
from test_plan import make_faces, make_pool
from test_robust_synthesis import interrupt_after_first_shard
from test_sources import au_rows, make_clip

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.data.aus.table import read_au_table, write_au_table
from miex.data.corpora.clips import clips_to_frame, read_clip_table, write_clip_table
from miex.data.corpora.megc2019 import read_megc2019
from miex.data.plan import load_faces, plan_samples, read_plan, write_plan
from miex.data.sources import CLASS_EMOTIONS, ExpertConfig, PoolConfig, expert_triplets, read_pool, write_pool
from miex.data.sources import expert as expert_module
from miex.data.sources.expert import MAX_PER_CLASS, default_table_path, load_expert_table
from miex.data.synthesis import engine
from miex.data.synthesis.card import read_columns
from miex.data.synthesis.shards import shard_files

NEGATIVE_EMOTIONS = CLASS_EMOTIONS[0]


def builtin_table() -> dict[str, Any]:
    return json.loads(default_table_path().read_text())


def write_json(path: Path, payload: object) -> Path:
    path.write_text(json.dumps(payload))
    return path


def corpus_files(tmp_path: Path, *, edit: dict[tuple[int, str], Any] | None = None) -> tuple[Path, Path]:
    """A two-clip clip table and its AU table; ``edit`` rewrites cells of the written clip table ((row, column))."""
    clips = [
        make_clip("casme2", "sub01", "EP01", 6, onset=1, apex=3, label=0),
        make_clip("casme2", "sub01", "EP02", 6, onset=1, apex=3, label=1, first=100),
    ]
    clip_path = write_clip_table(clips_to_frame(clips), tmp_path / "clips.parquet")
    au_path = write_au_table(au_rows(clips, np.random.default_rng(0)), tmp_path / "aus.parquet")
    if edit:
        schema = pq.read_schema(clip_path)
        frame = pq.read_table(clip_path).to_pandas()
        for (row, column), value in edit.items():
            frame.at[row, column] = value
        pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), clip_path)
    return clip_path, au_path


def au_pool(*args: str) -> int:
    return main(["au-pool", *args])


# 1. bounded expert pools, with progress -----------------------------------------------------------------------------


def test_an_expert_count_beyond_the_documented_maximum_is_refused_at_once(tmp_path, capsys):
    out = tmp_path / "pool.parquet"
    assert au_pool("--expert", str(MAX_PER_CLASS + 1), "--out", str(out)) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"at most {MAX_PER_CLASS} draws per class" in line and "--expert" in line
    assert not out.exists()
    with pytest.raises(MiexInputError, match="at most"):
        PoolConfig(expert=1_000_000)
    with pytest.raises(MiexInputError, match="at most"):
        expert_triplets(MAX_PER_CLASS + 1, np.random.default_rng(0))
    assert PoolConfig(expert=MAX_PER_CLASS).expert == MAX_PER_CLASS  # the maximum itself is allowed


def test_mae_draws_are_bounded_too():
    with pytest.raises(MiexInputError, match="--mae-draws 1000000: at most"):
        PoolConfig(mae_draws=1_000_000)


def test_expert_draws_show_progress(monkeypatch):
    bars: list[dict[str, Any]] = []
    real = expert_module.tqdm

    def recording(*args: Any, **kwargs: Any) -> Any:
        bars.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(expert_module, "tqdm", recording)
    expert_triplets(5, np.random.default_rng(0))
    assert [bar["total"] for bar in bars] == [15] and "expert" in bars[0]["desc"]


# 2. expert tables that cannot be drawn ------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(emotion=st.sampled_from(sorted(builtin_table().keys() - {"_about"})), empty=st.booleans())
def test_an_emotion_that_activates_no_au_is_refused_naming_file_and_field(tmp_path, emotion, empty):
    table = builtin_table()
    table[emotion] = {} if empty else {au: 0.0 for au in table[emotion]}
    path = write_json(tmp_path / "table.json", table)
    with pytest.raises(MiexInputError, match="activates no AU") as caught:
        load_expert_table(path)
    assert (caught.value.file, caught.value.field) == (str(path), emotion)


def test_zero_probability_negative_emotions_give_one_error_line_not_zero_apexes(tmp_path, capsys):
    table = builtin_table()
    for emotion in NEGATIVE_EMOTIONS:
        table[emotion] = {au: 0.0 for au in table[emotion]}
    path = write_json(tmp_path / "table.json", table)
    out = tmp_path / "pool.parquet"
    assert au_pool("--expert", "20", "--expert-table", str(path), "--expert-empty", "redraw", "--out", str(out)) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(path) in line and "field 'sadness'" in line and "activates no AU" in line
    assert not out.exists()


def test_probabilities_too_small_to_draw_are_an_error_with_redraw_and_zeros_with_keep():
    table = load_expert_table()
    table["contempt"] = {"AU14": 1e-12}
    rng = np.random.default_rng(0)
    with pytest.raises(MiexInputError, match="'contempt' activated no AU") as caught:
        expert_module.draw_apex("contempt", table, ExpertConfig(), rng, where="mine.json")
    assert (caught.value.file, caught.value.field) == ("mine.json", "contempt")
    kept = expert_module.draw_apex("contempt", table, ExpertConfig(empty_draw="keep"), rng)
    assert not kept.any()


def test_the_builtin_table_still_draws_every_negative_emotion_with_an_active_au():
    triplets = expert_triplets(40, np.random.default_rng(3))
    negative = [t for t in triplets if t.label == 0]
    assert {t.emotion for t in negative} == set(NEGATIVE_EMOTIONS)
    assert all(t.apex_au.any() for t in triplets)


# 3. duplicate clips and bad labels in clip tables -------------------------------------------------------------------


def test_a_clip_listed_twice_is_refused_naming_the_table_and_both_rows(tmp_path, capsys):
    clip_path, au_path = corpus_files(tmp_path, edit={(1, "clip"): "EP01"})
    with pytest.raises(
        MiexInputError,
        match=r"row 1, field 'clip': clip casme2/sub01/EP01 is listed twice "
        r"\(rows 0 and 1\)",
    ) as caught:
        read_clip_table(clip_path)
    assert caught.value.file == str(clip_path)
    out = tmp_path / "pool.parquet"
    assert au_pool("--mie-clips", str(clip_path), "--mie-aus", str(au_path), "--out", str(out)) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(clip_path) in line and "rows 0 and 1" in line and not out.exists()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_repeated_clip_is_refused_wherever_it_lies(tmp_path, data):
    clips = [make_clip("casme2", f"sub0{k % 3}", f"EP{k:02d}", 4, label=k % 3) for k in range(6)]
    frame = clips_to_frame(clips)
    first = data.draw(st.integers(0, len(frame) - 1))
    later = data.draw(st.integers(0, len(frame) - 1).filter(lambda row: row != first))
    frame.loc[later, ["dataset", "subject", "clip"]] = frame.loc[first, ["dataset", "subject", "clip"]].to_numpy()
    path = tmp_path / "clips.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    with pytest.raises(MiexInputError, match=f"rows {min(first, later)} and {max(first, later)}") as caught:
        read_clip_table(path)
    assert (caught.value.file, caught.value.row, caught.value.field) == (str(path), max(first, later), "clip")


# 4. parquet page checksums ------------------------------------------------------------------------------------------


def flip_in_page(path: Path, column: str, *, bit: int = 0, back: int = 1) -> None:
    """Flip one bit ``back`` bytes before the end of ``column``'s first column chunk: page data, never its header."""
    metadata = pq.ParquetFile(path).metadata.row_group(0)
    chunk = next(
        metadata.column(k)
        for k in range(metadata.num_columns)
        if metadata.column(k).path_in_schema.split(".")[0] == column
    )
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    data = bytearray(path.read_bytes())
    data[start + chunk.total_compressed_size - back] ^= 1 << bit
    path.write_bytes(bytes(data))


@pytest.fixture()
def written(tmp_path):
    """A small AU pool, plan, AU table and clip table, each as miex writes it."""
    faces = make_faces(tmp_path / "faces", 2)
    pool_path = write_pool(make_pool(), tmp_path / "pool.parquet")
    plan_path = write_plan(plan_samples(load_faces(faces), read_pool(pool_path)), tmp_path / "plan.parquet")
    clip_path, au_path = corpus_files(tmp_path)
    return {
        "plan": (plan_path, read_plan, "apex_au", "miex plan"),
        "AU pool": (pool_path, read_pool, "apex_au", "miex au-pool"),
        "AU table": (au_path, read_au_table, "AU12", "miex extract-aus"),
        "clip table": (clip_path, read_clip_table, "frame_numbers", "miex corpus"),
    }


@pytest.mark.parametrize("what", ["plan", "AU pool", "AU table", "clip table"])
def test_a_flipped_bit_in_a_written_table_is_refused_as_damaged(written, what):
    path, reader, column, command = written[what]
    reader(path)  # reads back fine before the damage
    flip_in_page(path, column)
    with pytest.raises(MiexInputError, match=f"the {what} is damaged") as caught:
        reader(path)
    assert caught.value.file == str(path) and f"re-create it with `{command}`" in str(caught.value)


def test_a_damaged_plan_stops_synthesize_with_one_line(written, tmp_path, capsys):
    path = written["plan"][0]
    flip_in_page(path, "apex_au")
    assert (
        main(["synthesize", "--plan", str(path), "--faces", str(tmp_path / "faces"), "--out", str(tmp_path / "out")])
        == 2
    )
    line = one_error_line(capsys.readouterr().err)
    assert str(path) in line and "damaged" in line and not (tmp_path / "out").exists()


def test_tables_written_without_checksums_still_read(written, tmp_path):
    path, reader, _, _ = written["plan"]
    plain = tmp_path / "plain.parquet"
    pq.write_table(pq.read_table(path), plain)  # another tool's copy: no page checksums
    assert len(reader(plain)) == len(reader(path))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_flipped_bit_in_a_plan_page_is_refused_or_harmless(written, data):
    """A flip anywhere in a column chunk (page headers included): refused by name, or every value unchanged."""
    path = written["plan"][0]
    good = path.read_bytes()
    expected = read_plan(path)
    metadata = pq.ParquetFile(path).metadata.row_group(0)
    chunks = [metadata.column(k) for k in range(metadata.num_columns)]
    ranges = [((c.dictionary_page_offset or c.data_page_offset), c.total_compressed_size) for c in chunks]
    start, size = data.draw(st.sampled_from(ranges))
    position, bit = start + data.draw(st.integers(0, size - 1)), data.draw(st.integers(0, 7))
    damaged = bytearray(good)
    damaged[position] ^= 1 << bit
    path.write_bytes(bytes(damaged))
    try:
        try:
            got = read_plan(path)
        except MiexInputError as error:
            assert error.file == str(path)
            return
        pd.testing.assert_frame_equal(
            got.drop(columns=["onset_au", "apex_au"]), expected.drop(columns=["onset_au", "apex_au"])
        )
        for column in ("onset_au", "apex_au"):
            np.testing.assert_array_equal(np.stack(got[column]), np.stack(expected[column]))
    finally:
        path.write_bytes(good)


# 5. messages that name the file that is wrong -----------------------------------------------------------------------


def test_a_bad_label_in_the_clip_table_names_the_clip_table_not_the_output(tmp_path, capsys):
    clip_path, au_path = corpus_files(tmp_path, edit={(1, "label"): 7})
    out = tmp_path / "pool.parquet"
    assert au_pool("--mie-clips", str(clip_path), "--mie-aus", str(au_path), "--out", str(out)) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{clip_path}, row 1, field 'label': label 7 is not a class id" in line
    assert str(out) not in line and not out.exists()


def test_an_empty_ground_truth_is_blamed_on_the_ground_truth(tmp_path, capsys):
    root = cf.build_composite(tmp_path / "megc", cf.SMALL_COMPOSITE, extra_gt=cf.SMALL_COMPOSITE_EXTRA_GT)
    gt = root / "combined_3class_gt.csv"
    gt.write_text("")
    with pytest.raises(MiexInputError, match="holds no clip rows") as caught:
        read_megc2019(root)
    assert caught.value.file == str(gt)
    assert main(["corpus", "megc2019", str(root), "--out", str(tmp_path / "clips.parquet")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(gt) in line and "SAMM" not in line


def test_a_ground_truth_holding_only_a_header_is_empty_too(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("dataset,subject,clip,label\r\n\r\n")
    root = cf.build_composite(tmp_path / "megc", cf.SMALL_COMPOSITE)
    with pytest.raises(MiexInputError, match="holds no clip rows"):
        read_megc2019(root, gt=gt)


def test_a_zero_row_plan_says_the_plan_is_empty(written, tmp_path, capsys):
    path = written["plan"][0]
    table = pq.read_table(path)
    pq.write_table(table.slice(0, 0), path)
    with pytest.raises(MiexInputError, match="the plan is empty"):
        read_plan(path)
    assert (
        main(["synthesize", "--plan", str(path), "--faces", str(tmp_path / "faces"), "--out", str(tmp_path / "out")])
        == 2
    )
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert str(path) in line and "the plan is empty" in line
    assert "every face file was skipped" not in captured.out + captured.err
    assert "No problems found" not in captured.out + captured.err


# 6. a project folder that moves -------------------------------------------------------------------------------------


def test_the_plan_digest_does_not_depend_on_where_the_faces_lie(tmp_path):
    faces = make_faces(tmp_path / "here" / "pool", 2)
    plan = plan_samples(load_faces(faces), make_pool()).frame
    moved = plan.assign(
        face=[face.replace(str(tmp_path / "here"), str(tmp_path / "else/where")) for face in plan["face"]]
    )
    assert moved["face"].tolist() != plan["face"].tolist()
    assert engine.plan_digest(moved) == engine.plan_digest(plan)
    other = plan.assign(face=plan["face"].iloc[::-1].tolist())  # other faces for the rows: another plan
    assert engine.plan_digest(other) != engine.plan_digest(plan)


@pytest.fixture(scope="module")
def face_pool(miex_cache: Path) -> Path:
    """The aligned astronaut pool (index.parquet with landmarks + crop), made once per module."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(miex_cache))
        from miex.data.faces.builtin import builtin_face_pool

        return builtin_face_pool()


@pytest.mark.usefixtures("private_cache")
def test_moving_pool_plan_and_output_together_resumes(face_pool, tmp_path, monkeypatch):
    project = tmp_path / "project"
    shutil.copytree(face_pool, project / "pool")
    assert au_pool("--expert", "4", "--out", str(project / "au_pool.parquet")) == 0
    assert (
        main(
            [
                "plan",
                "--faces",
                str(project / "pool"),
                "--pool",
                str(project / "au_pool.parquet"),
                "--samples-per-identity",
                "12",
                "--out",
                str(project / "plan.parquet"),
            ]
        )
        == 0
    )

    def synthesize(root: Path, out: str = "out") -> int:
        return main(
            [
                "synthesize",
                "--plan",
                str(root / "plan.parquet"),
                "--faces",
                str(root / "pool"),
                "--out",
                str(root / out),
                "--shard-size",
                "4",
                "--batch-size",
                "4",
            ]
        )

    with monkeypatch.context() as patch:
        interrupt_after_first_shard(patch)
        assert synthesize(project) == 130
    [first] = shard_files(project / "out")
    moved = tmp_path / "elsewhere" / "project"
    moved.parent.mkdir()
    project.rename(moved)
    before = (moved / "out" / "data" / first.name).stat().st_mtime_ns
    assert synthesize(moved) == 0  # resumed: not "the plan rows changed"
    assert (moved / "out" / "data" / first.name).stat().st_mtime_ns == before  # the first shard was kept
    assert synthesize(moved, "fresh") == 0
    assert {p.name: p.read_bytes() for p in shard_files(moved / "out")} == {
        p.name: p.read_bytes() for p in shard_files(moved / "fresh")
    }
    shard = shard_files(moved / "out")[0]  # shards carry page checksums too: a flipped bit is refused by name
    flip_in_page(shard, "apex_au")
    with pytest.raises(MiexInputError, match="the MiE-X shard is damaged") as caught:
        read_columns(moved / "out", ["apex_au"])
    assert caught.value.file == str(shard)
