"""`miex plan`, `miex au-pool`, `miex extract-aus` on bad input: one default for sources, validated options and plan
rows, inputs never destroyed, duplicates refused, non-zero exit when nothing useful was made."""

from __future__ import annotations

import shlex

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_plan import make_faces, make_pool
from test_sources import au_rows, make_clip

from miex.cli import build_parser, main
from miex.core.errors import MiexInputError
from miex.data.aus.table import read_au_table, write_au_table
from miex.data.corpora.clips import clips_to_frame, write_clip_table
from miex.data.plan import PlanConfig, load_faces, plan_samples, read_plan, validate_plan, write_plan
from miex.data.sources import PoolConfig, read_pool, write_pool


@pytest.fixture()
def flow(tmp_path):
    """A face pool, an AU pool holding only mie and expert (the README flow's pool) and a written plan."""
    faces = make_faces(tmp_path / "faces", 4)
    pool = make_pool()
    pool_path = write_pool(pool[pool["source"] != "mae"].reset_index(drop=True), tmp_path / "pool.parquet")
    plan_path = write_plan(plan_samples(load_faces(faces), read_pool(pool_path)), tmp_path / "plan.parquet")
    return faces, pool_path, plan_path


def plan_argv(faces, pool, out, *extra: str) -> list[str]:
    return ["plan", "--faces", str(faces), "--pool", str(pool), "--out", str(out), *extra]


def exit_code(argv: list[str]) -> int:
    """``main``'s return code, or argparse's exit code when it refuses an option value."""
    try:
        return main(argv)
    except SystemExit as error:
        return int(error.code or 0)


# 1. one default for sources ------------------------------------------------------------------------------------------


def test_plan_defaults_to_the_sources_the_pool_holds_and_says_why(flow, tmp_path, capsys):
    faces, pool, _ = flow
    assert main(plan_argv(faces, pool, tmp_path / "out.parquet")) == 0
    printed = capsys.readouterr().out
    assert "6 samples per identity" in printed and "(mie, expert)" in printed
    plan = read_plan(tmp_path / "out.parquet")
    assert set(plan["source"]) == {"mie", "expert"} and len(plan) == 6 * 4


def test_a_requested_source_without_triplets_names_sources(flow, tmp_path, capsys):
    faces, pool, _ = flow
    assert main(plan_argv(faces, pool, tmp_path / "out.parquet", "--sources", "mie,mae,expert")) == 2
    error = capsys.readouterr().err
    assert "no mae triplet of class 0" in error and "--sources mie,expert" in error
    assert not (tmp_path / "out.parquet").exists()


# 2. numeric options --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        ("--samples-per-identity", "0"),
        ("--samples-per-identity", "-3"),
        ("--identities", "0"),
        ("--triplets", "0"),
        ("--max-yaw", "nan"),
        ("--seed", "-1"),
        ("--samples-per-identity", "2.5"),
    ],
)
def test_plan_refuses_numbers_that_would_mean_something_else(flow, tmp_path, capsys, option):
    faces, pool, _ = flow
    assert exit_code(plan_argv(faces, pool, tmp_path / "out.parquet", *option)) == 2
    assert option[0] in capsys.readouterr().err and not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("field", ["samples_per_identity", "identities", "triplets"])
def test_plan_config_refuses_zero_instead_of_the_default(field):
    with pytest.raises(MiexInputError, match=field.replace("_", "-")):
        PlanConfig(**{field: 0})


@pytest.mark.parametrize(
    "option",
    [
        ("--expert", "-1"),
        ("--mae-draws", "0"),
        ("--expert-intensity", "3", "1"),
        ("--expert-intensity", "0", "9"),
        ("--mae-interval", "0.6", "0.2"),
    ],
)
def test_au_pool_refuses_bad_numbers(tmp_path, capsys, option):
    assert exit_code(["au-pool", "--expert", "2", "--out", str(tmp_path / "p.parquet"), *option]) == 2
    assert option[0] in capsys.readouterr().err and not (tmp_path / "p.parquet").exists()
    with pytest.raises(MiexInputError, match="--expert"):
        PoolConfig(expert=-2)


def test_extract_aus_refuses_a_tiny_size_and_no_workers(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    assert (
        exit_code(["extract-aus", str(tmp_path / "photos"), "--out", str(tmp_path / "a.parquet"), "--size", "0"]) == 2
    )
    assert (
        exit_code(
            [
                "extract-aus",
                str(tmp_path / "photos"),
                "--out",
                str(tmp_path / "a.parquet"),
                "--backend",
                "openface",
                "--openface-dir",
                str(tmp_path),
                "--workers",
                "0",
            ]
        )
        == 2
    )
    assert "--workers" in capsys.readouterr().err


# 3. plan validation and unreadable files -----------------------------------------------------------------------------

CORRUPTIONS = {
    "label": [7, -1, "1", "negative", 1.0],
    "onset_au": [
        np.ones(5, np.float32),
        np.full(17, np.nan, np.float32),
        np.full(17, -1.0, np.float32),
        np.full(17, 6.0, np.float32),
        ["a"] * 17,
    ],
    "apex_au": [np.ones(16, np.float32), np.full(17, 5.5, np.float32)],
    "source": ["real", ""],
    "seed": [-4, "x"],
    "sample_id": [""],
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_bad_plan_value_is_named_by_file_row_and_field(flow, data):
    plan = pd.read_parquet(flow[2])
    field = data.draw(st.sampled_from(sorted(CORRUPTIONS)))
    value = data.draw(st.sampled_from(CORRUPTIONS[field]))
    row = data.draw(st.integers(0, len(plan) - 1))
    plan[field] = plan[field].astype(object)
    plan.at[row, field] = value
    with pytest.raises(MiexInputError) as caught:
        validate_plan(plan, "edited.parquet")
    assert (caught.value.file, caught.value.row, caught.value.field) == ("edited.parquet", row, field)


def test_duplicate_sample_id_names_both_rows(flow):
    plan = pd.read_parquet(flow[2])
    plan.loc[5, "sample_id"] = plan.loc[2, "sample_id"]
    with pytest.raises(MiexInputError, match=r"row 5, field 'sample_id': duplicate sample_id .* \(also in row 2\)"):
        validate_plan(plan, "p.parquet")


def test_a_valid_plan_reads_back_with_arrays(flow):
    plan = read_plan(flow[2])
    assert plan["label"].dtype == np.int64 and plan["onset_au"].iloc[0].shape == (17,)


@pytest.mark.parametrize("reader, what", [(read_plan, "plan"), (read_pool, "AU pool"), (read_au_table, "AU table")])
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_garbage_or_truncated_parquet_is_one_clear_error(flow, tmp_path, reader, what, damage):
    good = flow[2].read_bytes()
    bad = tmp_path / f"{damage}.parquet"
    bad.write_bytes({"garbage": b"\x00not parquet\xff" * 40, "truncated": good[: len(good) // 2], "empty": b""}[damage])
    with pytest.raises(MiexInputError, match=f"not a readable {what}") as caught:
        reader(bad)
    assert caught.value.file == str(bad)


def test_cli_plan_with_a_corrupt_pool_exits_2(flow, tmp_path, capsys):
    faces, _, _ = flow
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 garbage")
    assert main(plan_argv(faces, tmp_path / "bad.parquet", tmp_path / "out.parquet")) == 2
    assert "not a readable AU pool" in capsys.readouterr().err


# 4. never destroy inputs ---------------------------------------------------------------------------------------------


def test_plan_out_equal_to_pool_or_face_index_is_refused(flow, capsys):
    faces, pool, _ = flow
    before = pool.read_bytes(), (faces / "index.parquet").read_bytes()
    assert main(plan_argv(faces, pool, pool)) == 2
    assert main(plan_argv(faces, pool, faces / "index.parquet")) == 2
    assert "input file itself" in capsys.readouterr().err
    assert (pool.read_bytes(), (faces / "index.parquet").read_bytes()) == before


@pytest.mark.parametrize("existing", [b"my notes", "pool"])
def test_an_existing_file_of_another_kind_needs_overwrite(flow, tmp_path, capsys, existing):
    faces, pool, _ = flow
    out = tmp_path / "mine.parquet"
    out.write_bytes(pool.read_bytes() if existing == "pool" else existing)
    before = out.read_bytes()
    assert main(plan_argv(faces, pool, out)) == 2 and out.read_bytes() == before
    assert "--overwrite" in capsys.readouterr().err
    assert main(plan_argv(faces, pool, out, "--overwrite")) == 0 and len(read_plan(out)) == 24


def test_au_pool_and_extract_aus_refuse_to_overwrite_their_inputs(tmp_path, capsys):
    clips = [make_clip("casme2", "sub01", "EP01", 6, onset=1, apex=3, label=0)]
    clip_path = write_clip_table(clips_to_frame(clips), tmp_path / "clips.parquet")
    au_path = write_au_table(au_rows(clips, np.random.default_rng(0)), tmp_path / "aus.parquet")
    before = clip_path.read_bytes(), au_path.read_bytes()
    for out in (au_path, clip_path):
        assert main(["au-pool", "--mie-clips", str(clip_path), "--mie-aus", str(au_path), "--out", str(out)]) == 2
    assert (
        main(
            [
                "extract-aus",
                str(clip_path),
                "--out",
                str(clip_path),
                "--backend",
                "openface",
                "--openface-dir",
                str(tmp_path),
                "--workers",
                "1",
            ]
        )
        == 2
    )
    assert (clip_path.read_bytes(), au_path.read_bytes()) == before
    assert capsys.readouterr().err.count("input file itself") == 3
    out = tmp_path / "pool.parquet"
    argv = ["au-pool", "--mie-clips", str(clip_path), "--mie-aus", str(au_path), "--expert", "1", "--out", str(out)]
    assert main(argv) == 0 and main(argv) == 0  # a rerun replaces its own pool
    assert main([*argv[:-1], str(au_path)]) == 2  # an AU table (another kind of miex table) is not replaced


# 5. duplicates -------------------------------------------------------------------------------------------------------


def test_an_au_table_measuring_a_frame_twice_is_refused(tmp_path, capsys):
    clips = [make_clip("casme2", "sub01", "EP01", 6, onset=1, apex=3, label=0)]
    rows = au_rows(clips, np.random.default_rng(0))
    other = rows.iloc[[2]].assign(extractor="openface")
    doubled = pd.concat([rows, other], ignore_index=True)
    with pytest.raises(
        MiexInputError,
        match=r"row 6, field 'clip': frame 3 of clip casme2/sub01/EP01 is measured "
        r"twice \(rows 2 and 6, extractors 'test' and 'openface'\)",
    ):
        write_au_table(doubled, tmp_path / "aus.parquet")
    pq.write_table(pa.Table.from_pandas(doubled, preserve_index=False), tmp_path / "concat.parquet")
    clip_path = write_clip_table(clips_to_frame(clips), tmp_path / "clips.parquet")
    argv = [
        "au-pool",
        "--mie-clips",
        str(clip_path),
        "--mie-aus",
        str(tmp_path / "concat.parquet"),
        "--expert",
        "1",
        "--out",
        str(tmp_path / "pool.parquet"),
    ]
    assert main(argv) == 2 and "measured twice" in capsys.readouterr().err


def test_the_same_image_twice_outside_clips_is_refused():
    rows = au_rows([make_clip("x", "s", "c", 2)], np.random.default_rng(0)).assign(clip="", frame=-1)
    rows.loc[1, "path"] = rows.loc[0, "path"]
    with pytest.raises(MiexInputError, match=r"image .* is measured twice"):
        write_au_table(rows, "unused.parquet")


# 6. nothing useful made -> exit 2 ------------------------------------------------------------------------------------


def test_extract_aus_with_every_clip_failing_exits_2_and_leaves_no_table(tmp_path, capsys):
    clips = [make_clip("casme2", "sub01", f"EP0{k}", 4, label=0) for k in range(2)]
    clip_path = write_clip_table(clips_to_frame(clips), tmp_path / "clips.parquet")
    (tmp_path / "of").mkdir()
    out = tmp_path / "aus.parquet"
    argv = [
        "extract-aus",
        str(clip_path),
        "--out",
        str(out),
        "--backend",
        "openface",
        "--openface-dir",
        str(tmp_path / "of"),
        "--workers",
        "1",
    ]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "no AU row was measured" in captured.err and "OpenFace CSV" in captured.err
    assert "OpenFace CSV not found" in captured.out and not out.exists()


def test_extract_aus_on_an_empty_folder_exits_2(tmp_path, capsys):
    (tmp_path / "photos").mkdir()
    argv = [
        "extract-aus",
        str(tmp_path / "photos"),
        "--out",
        str(tmp_path / "a.parquet"),
        "--backend",
        "openface",
        "--openface-dir",
        str(tmp_path),
        "--workers",
        "1",
    ]
    assert main(argv) == 2 and "holds no images" in capsys.readouterr().err


def test_an_au_pool_with_no_triplet_exits_2(tmp_path, capsys):
    clips = [make_clip("casme2", "sub01", "EP01", 6, onset=1, apex=3, label=0)]
    clip_path = write_clip_table(clips_to_frame(clips), tmp_path / "clips.parquet")
    au_path = write_au_table(au_rows(clips, np.random.default_rng(0)).iloc[:0], tmp_path / "aus.parquet")
    argv = ["au-pool", "--mie-clips", str(clip_path), "--mie-aus", str(au_path), "--out", str(tmp_path / "p.parquet")]
    assert main(argv) == 2 and "empty" in capsys.readouterr().err
    assert not (tmp_path / "p.parquet").exists()


# 7. help examples ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["plan", "au-pool", "extract-aus"])
def test_help_has_examples_that_parse(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    examples = [line.split("#")[0].strip() for line in text.split("examples:")[1].splitlines()]
    runnable = [line for line in examples if line.startswith(f"miex {command} ")]
    assert runnable
    parser = build_parser(command)
    for line in runnable:
        args = parser.parse_args(shlex.split(line)[1:])
        assert args.command == command
