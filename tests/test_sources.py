"""AU sources: exact mie values, mae apex interval, expert statistics against the table, video variant, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.core.report import ValidationReport
from miex.data.aus.schema import AU_INDEX, AU_NAMES
from miex.data.aus.table import read_au_table, write_au_table
from miex.data.corpora.clips import Clip, clips_to_frame, read_clip_table, write_clip_table
from miex.data.sources import (
    CLASS_EMOTIONS,
    ExpertConfig,
    apex_index,
    expert_triplets,
    load_expert_table,
    mae_triplets,
    mie_triplets,
    read_params,
    read_pool,
    triplets_to_frame,
    write_pool,
)


def make_clip(
    dataset: str,
    subject: str,
    name: str,
    n: int,
    *,
    first: int = 1,
    onset: int = 0,
    apex: int | None = None,
    label: int = 0,
    emotion: str = "disgust",
    expression: str = "micro",
) -> Clip:
    numbers = list(range(first, first + n))
    return Clip(
        dataset,
        subject,
        name,
        [f"{subject}/{name}/{k}.jpg" for k in numbers],
        numbers,
        onset,
        n // 2 if apex is None else apex,
        n - 1,
        emotion,
        label,
        200.0,
        expression=expression,
    )


def au_rows(clips: list[Clip], rng: np.random.Generator, *, skip: set[tuple[str, int]] = frozenset()) -> pd.DataFrame:
    rows = []
    for clip in clips:
        for path, number in zip(clip.frames, clip.frame_numbers, strict=True):
            if (clip.clip, number) in skip:
                continue
            rows.append(
                {
                    "path": path,
                    "dataset": clip.dataset,
                    "subject": clip.subject,
                    "clip": clip.clip,
                    "frame": number,
                    "extractor": "test",
                    **dict(zip(AU_NAMES, rng.uniform(0, 5, len(AU_NAMES)).round(3), strict=True)),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture()
def mie_files(tmp_path):
    rng = np.random.default_rng(1)
    clips = [
        make_clip("casme2", "sub01", "EP01", 12, first=40, onset=2, apex=7, label=0),
        make_clip("casme2", "sub02", "EP02", 9, first=5, onset=1, apex=4, label=1, emotion="happiness"),
        make_clip("casme2", "sub02", "EP03", 6, label=-1, emotion="others"),
        make_clip("samm", "006", "006_1_2", 15, first=5562, onset=0, apex=10, label=2, emotion="surprise"),
    ]
    clip_path = write_clip_table(clips_to_frame(clips), tmp_path / "clips.parquet")
    au_path = write_au_table(au_rows(clips, rng), tmp_path / "aus.parquet")
    return clip_path, au_path


def test_mie_triplets_equal_au_table_values_exactly(mie_files):
    clips, aus = read_clip_table(mie_files[0]), read_au_table(mie_files[1])
    triplets, unlabelled = mie_triplets(clips, aus)
    assert unlabelled == 1 and len(triplets) == 3
    for triplet in triplets:
        clip = clips[(clips["subject"] == triplet.source_subject) & (clips["clip"] == triplet.source_clip)].iloc[0]
        assert triplet.onset_frame == clip["frame_numbers"][clip["onset"]]
        assert triplet.apex_frame == clip["frame_numbers"][clip["apex"]]
        for frame_number, got in ((triplet.onset_frame, triplet.onset_au), (triplet.apex_frame, triplet.apex_au)):
            row = aus[(aus["clip"] == triplet.source_clip) & (aus["frame"] == frame_number)]
            np.testing.assert_array_equal(got, row[list(AU_NAMES)].to_numpy(np.float32)[0])
        assert triplet.label == clip["label"] and triplet.source == "mie"


def test_mie_missing_apex_row_is_reported_not_dropped_silently(tmp_path):
    clip = make_clip("casme2", "sub01", "EP01", 10, first=1, onset=0, apex=5)
    aus = au_rows([clip], np.random.default_rng(0), skip={("EP01", 6)})
    report = ValidationReport()
    triplets, _ = mie_triplets(clips_to_frame([clip]), aus, report=report, file="clips.parquet")
    assert triplets == [] and len(report) == 1
    assert "6" in report.problems[0].reason and report.problems[0].clip == "casme2/sub01/EP01"


def test_au_table_with_nan_is_rejected(tmp_path):
    clip = make_clip("casme2", "sub01", "EP01", 3)
    aus = au_rows([clip], np.random.default_rng(0))
    aus.loc[1, "AU12"] = np.nan
    with pytest.raises(MiexInputError, match="AU12"):
        write_au_table(aus, tmp_path / "bad.parquet")
    with pytest.raises(MiexInputError, match="AU"):
        write_au_table(aus.drop(columns=["AU45"]), tmp_path / "bad.parquet")


@pytest.mark.parametrize("interval", [(0.25, 0.5), (0.1, 0.3)])
def test_mae_apex_inside_interval_and_spread(interval):
    n = 40
    clip = make_clip("ckplus", "S005", "001", n, expression="macro", label=2, emotion="surprise")
    aus = au_rows([clip], np.random.default_rng(0))
    triplets, _ = mae_triplets(
        clips_to_frame([clip]), aus, np.random.default_rng(3), interval=interval, draws_per_clip=300
    )
    assert len(triplets) == 300
    indices = [t.apex_frame - clip.frame_numbers[0] for t in triplets]
    low, high = math.floor(interval[0] * n), math.floor(interval[1] * n)
    assert all(low <= i <= high for i in indices)
    assert len(set(indices)) >= 5
    assert all(t.onset_frame == clip.frame_numbers[0] for t in triplets)
    assert apex_index(10, 0.999) == 9


def test_mae_rejects_micro_clips_by_report_and_bad_interval():
    clip = make_clip("ckplus", "S005", "001", 10)
    report = ValidationReport()
    triplets, _ = mae_triplets(
        clips_to_frame([clip]), au_rows([clip], np.random.default_rng(0)), np.random.default_rng(0), report=report
    )
    assert triplets == [] and "macro" in report.problems[0].reason
    with pytest.raises(MiexInputError):
        mae_triplets(
            clips_to_frame([clip]),
            pd.DataFrame(columns=["dataset", "subject", "clip", "frame", *AU_NAMES]),
            np.random.default_rng(0),
            interval=(0.6, 0.2),
        )


def _expert_frame(per_class: int, **config) -> pd.DataFrame:
    return triplets_to_frame(expert_triplets(per_class, np.random.default_rng(7), config=ExpertConfig(**config)))


def test_expert_activation_frequencies_match_the_table():
    table = load_expert_table()
    frame = _expert_frame(6000, empty_draw="keep")
    apex = np.stack(frame["apex_au"].to_list())
    assert np.all(np.stack(frame["onset_au"].to_list()) == 0)
    assert np.all(apex[:, AU_INDEX["AU45"]] == 0)
    for emotion, entry in table.items():
        on = apex[(frame["emotion"] == emotion).to_numpy()] > 0
        assert len(on) > 500, emotion
        for au, index in AU_INDEX.items():
            frequency = on[:, index].mean()
            p = entry.get(au, 0.0)
            if p in (0.0, 1.0):
                assert frequency == p, (emotion, au)
            else:
                assert abs(frequency - p) <= 5 * math.sqrt(p * (1 - p) / len(on)), (emotion, au, frequency)


def test_expert_intensities_in_range_and_macro_preset():
    for low, high in ((0.5, 1.5), (1.5, 4.0)):
        apex = np.stack(_expert_frame(500, intensity=(low, high))["apex_au"].to_list())
        active = apex[apex > 0]
        assert active.min() >= low and active.max() <= high
        assert active.max() - active.min() > 0.8 * (high - low)  # spread over the range, not a constant


def test_expert_negative_emotions_uniform_and_empty_draw_rule():
    frame = _expert_frame(10000)
    assert set(frame.loc[frame["label"] == 1, "emotion"]) == {"happiness"}
    assert set(frame.loc[frame["label"] == 2, "emotion"]) == {"surprise"}
    counts = frame.loc[frame["label"] == 0, "emotion"].value_counts().reindex(CLASS_EMOTIONS[0]).to_numpy()
    expected = counts.sum() / 5
    assert ((counts - expected) ** 2 / expected).sum() < 25  # chi-square, 4 dof: p < 1e-4
    apex = np.stack(frame["apex_au"].to_list())
    assert np.all(apex.max(axis=1) > 0)  # 'redraw' (default): never an all-zero apex
    fear = apex[(frame["emotion"] == "fear").to_numpy()] > 0
    conditional = 0.5 / (1 - 0.5**4)  # P(AU on | at least one of four on)
    assert abs(fear[:, AU_INDEX["AU05"]].mean() - conditional) < 5 * math.sqrt(0.25 / len(fear))
    kept = np.stack(_expert_frame(3000, empty_draw="keep")["apex_au"].to_list())
    assert (kept.max(axis=1) == 0).sum() > 0  # 'keep' does produce empty Fear draws


def test_expert_video_ramp_is_linear_from_zero():
    frame = triplets_to_frame(
        expert_triplets(20, np.random.default_rng(0), config=ExpertConfig(video=True)), video=True
    )
    for frames, apex in zip(frame["frames_au"], frame["apex_au"], strict=True):
        assert frames.shape == (10, 17)
        np.testing.assert_array_equal(frames[0], 0)
        np.testing.assert_allclose(frames[-1], apex, atol=1e-6)
        np.testing.assert_allclose(np.diff(frames, n=2, axis=0), 0, atol=1e-5)


def test_mie_video_uses_all_frames_between_onset_and_apex():
    clip = make_clip("casme2", "sub01", "EP01", 30, onset=3, apex=12)  # 10 frames onset..apex
    aus = au_rows([clip], np.random.default_rng(0))
    (triplet,), _ = mie_triplets(clips_to_frame([clip]), aus, video=True)
    expected = aus[(aus["frame"] >= 4) & (aus["frame"] <= 13)][list(AU_NAMES)].to_numpy(np.float32)
    np.testing.assert_allclose(triplet.frames_au, expected, atol=1e-6)
    report = ValidationReport()
    missing = au_rows([clip], np.random.default_rng(0), skip={("EP01", 8)})
    assert mie_triplets(clips_to_frame([clip]), missing, video=True, report=report)[0] == []
    assert "8" in report.problems[0].reason


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ({"joy": {"AU12": 1.0}}, "joy"),
        ({"happiness": {"AU99": 1.0}}, "AU99"),
        ({"happiness": {"AU12": 2}}, "AU12"),
        ({"happiness": {"AU12": 1.0}}, "lacks"),
    ],
)
def test_user_expert_table_errors_name_the_entry(tmp_path, content, match):
    path = tmp_path / "table.json"
    path.write_text(json.dumps(content))
    with pytest.raises(MiexInputError, match=match):
        load_expert_table(path)


def test_pool_roundtrip_and_validation(tmp_path):
    frame = _expert_frame(3)
    path = write_pool(frame, tmp_path / "pool.parquet", {"seed": 7})
    pool = read_pool(path)
    assert read_params(path) == {"seed": 7}
    np.testing.assert_array_equal(np.stack(pool["apex_au"].to_list()), np.stack(frame["apex_au"].to_list()))
    bad = frame.copy()
    bad.at[2, "apex_au"] = np.full(16, 1.0, np.float32)
    with pytest.raises(MiexInputError, match="row 2"):
        write_pool(bad, tmp_path / "bad.parquet")
    with pytest.raises(MiexInputError, match="empty"):
        write_pool(frame.iloc[:0], tmp_path / "empty.parquet")


def test_cli_au_pool_all_sources(tmp_path, mie_files, capsys):
    macro = make_clip("ckplus", "S005", "001", 20, expression="macro", label=1, emotion="happiness")
    write_clip_table(clips_to_frame([macro]), tmp_path / "mae.parquet")
    write_au_table(au_rows([macro], np.random.default_rng(2)), tmp_path / "mae_aus.parquet")
    out = tmp_path / "pool.parquet"
    argv = [
        "au-pool",
        "--out",
        str(out),
        "--mie-clips",
        str(mie_files[0]),
        "--mie-aus",
        str(mie_files[1]),
        "--mae-clips",
        str(tmp_path / "mae.parquet"),
        "--mae-aus",
        str(tmp_path / "mae_aus.parquet"),
        "--mae-draws",
        "4",
        "--expert",
        "5",
        "--video",
        "--seed",
        "3",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "expert" in printed and "1 clip(s) without a 3-class label" in printed
    pool = read_pool(out)
    assert pool["source"].value_counts().to_dict() == {"mie": 3, "mae": 4, "expert": 15}
    assert read_params(out)["mae_interval"] == [0.25, 0.5]
    first = out.read_bytes()
    assert main(argv) == 0 and out.read_bytes() == first
    assert main(["au-pool", "--out", str(tmp_path / "x.parquet")]) == 2  # every source empty: clear error
