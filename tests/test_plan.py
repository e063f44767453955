"""Synthesis plan: MiE-X default balance, byte determinism, order independence, scaling knobs, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.data.plan import PlanConfig, load_faces, plan_samples, write_plan
from miex.data.sources import ExpertConfig, Triplet, expert_triplets, read_params, triplets_to_frame, write_pool


def make_pool(per_cell: int = 4, *, seed: int = 0, video: bool = False, skip: tuple = ()) -> pd.DataFrame:
    """Real-looking mie/mae triplets with provenance plus expert draws; ``skip`` drops (source, label) cells."""
    rng = np.random.default_rng(seed)
    triplets = []
    for source in ("mie", "mae"):
        for label in range(3):
            for k in range(per_cell):
                frames = rng.uniform(0, 5, (10, 17)).astype(np.float32)
                triplets.append(
                    Triplet(
                        source,
                        "x",
                        label,
                        frames[0],
                        frames[-1],
                        "casme2" if source == "mie" else "ckplus",
                        f"sub{k % 3:02d}",
                        f"EP{label}{k}",
                        1,
                        5,
                        frames if video else None,
                    )
                )
    triplets += expert_triplets(per_cell, rng, config=ExpertConfig(video=video))
    frame = triplets_to_frame(triplets, video=video)
    for source, label in skip:
        frame = frame[~((frame["source"] == source) & (frame["label"] == label))]
    return frame.reset_index(drop=True)


def make_faces(folder, identities: int, crops: int = 2, *, order_seed: int | None = None):
    rows = [
        {
            "file": f"{i:04d}_{c}.png",
            "identity": f"id{i:04d}",
            "source": "x.jpg",
            "yaw": 10.0 * c,
            "pitch": -5.0 * c,
            "roll": 0.0,
            "score": 0.9,
            "width": 128,
            "height": 128,
        }
        for i in range(identities)
        for c in range(crops)
    ]
    frame = pd.DataFrame(rows)
    if order_seed is not None:
        frame = frame.sample(frac=1.0, random_state=order_seed)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "index.parquet", index=False)
    return folder


def plan_bytes(tmp_path, faces, pool, config=None, name="plan.parquet") -> bytes:
    path = write_plan(plan_samples(load_faces(faces), pool, config), tmp_path / name)
    return path.read_bytes()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(identities=st.integers(1, 12), seed=st.integers(0, 2**32))
def test_default_is_one_sample_per_identity_class_source(tmp_path_factory, identities, seed):
    faces = make_faces(tmp_path_factory.mktemp("faces"), identities)
    plan = plan_samples(load_faces(faces), make_pool(seed=seed % 7), PlanConfig(seed=seed)).frame
    assert len(plan) == 9 * identities
    counts = plan.groupby(["identity", "label", "source"]).size()
    assert len(counts) == 9 * identities and (counts == 1).all()
    assert plan["sample_id"].is_unique and plan["seed"].is_unique
    assert all(
        face.endswith((f"{i[2:]}_0.png", f"{i[2:]}_1.png"))
        for i, face in zip(plan["identity"], plan["face"], strict=True)
    )


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order_seed=st.integers(0, 1000), seed=st.integers(0, 100))
def test_same_bytes_and_input_order_does_not_matter(tmp_path_factory, order_seed, seed):
    tmp = tmp_path_factory.mktemp("det")
    pool = make_pool()
    config = PlanConfig(seed=seed, identities=4, triplets=12)
    first = plan_bytes(tmp, make_faces(tmp / "faces", 6), pool, config, "a.parquet")
    assert plan_bytes(tmp, tmp / "faces", pool, config, "b.parquet") == first
    shuffled_pool = pool.sample(frac=1.0, random_state=order_seed)
    assert plan_bytes(tmp, make_faces(tmp / "faces", 6, order_seed=order_seed), shuffled_pool, config) == first


def test_seed_changes_plan_and_samples_stable_across_subsets(tmp_path):
    faces, pool = make_faces(tmp_path / "faces", 10), make_pool()
    small = plan_samples(load_faces(faces), pool, PlanConfig(seed=1, identities=3)).frame
    large = plan_samples(load_faces(faces), pool, PlanConfig(seed=1, identities=8)).frame
    assert set(small["identity"]) < set(large["identity"])  # nested subsets
    shared = large[large["identity"].isin(small["identity"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        shared.drop(columns=["onset_au", "apex_au"]), small.drop(columns=["onset_au", "apex_au"])
    )
    other = plan_samples(load_faces(faces), pool, PlanConfig(seed=2)).frame
    assert not other["triplet_id"].equals(plan_samples(load_faces(faces), pool, PlanConfig(seed=1)).frame["triplet_id"])


def test_triplets_samples_and_sources_knobs(tmp_path):
    faces, pool = make_faces(tmp_path / "faces", 30), make_pool(per_cell=6)
    plan = plan_samples(load_faces(faces), pool, PlanConfig(triplets=9)).frame
    assert plan["triplet_id"].nunique() <= 9 and plan.groupby(["source", "label"]).size().size == 9
    plan = plan_samples(load_faces(faces), pool, PlanConfig(samples_per_identity=18, sources=("expert", "mie"))).frame
    assert set(plan["source"]) == {"mie", "expert"}
    assert (plan.groupby(["identity", "source", "label"]).size() == 3).all()
    plan = plan_samples(load_faces(faces), pool, PlanConfig(samples_per_identity=4)).frame
    assert (plan.groupby("identity").size() == 4).all()
    assert (plan.groupby(["identity", "source", "label"]).size() == 1).all()  # remainder without repetition
    plan = plan_samples(load_faces(faces), pool, PlanConfig(samples_per_identity=5, balanced=False)).frame
    assert len(plan) == 150
    with pytest.raises(MiexInputError, match="unknown source"):
        plan_samples(load_faces(faces), pool, PlanConfig(sources=("real",)))


def test_missing_class_is_an_error_or_reported(tmp_path):
    faces, pool = make_faces(tmp_path / "faces", 3), make_pool(skip=(("mae", 2),))
    with pytest.raises(MiexInputError, match="mae triplet of class 2"):
        plan_samples(load_faces(faces), pool)
    result = plan_samples(load_faces(faces), pool, PlanConfig(allow_missing=True))
    assert len(result.frame) == 24 and "surprise" in result.report.render()
    with pytest.raises(MiexInputError, match="empty"):
        plan_samples(load_faces(faces), pool.iloc[:0])


def test_frontal_only_and_plain_image_folder(tmp_path):
    faces = make_faces(tmp_path / "faces", 4, crops=3)  # yaw 0, 10, 20; pitch 0, -5, -10
    plan = plan_samples(load_faces(faces), make_pool(), PlanConfig(frontal_only=True, max_yaw=5, max_pitch=5)).frame
    assert plan["face"].str.endswith("_0.png").all()
    images = tmp_path / "images"
    images.mkdir()
    for name in ("b.jpg", "a.png", "notes.txt"):
        (images / name).write_bytes(b"x")
    loaded = load_faces(images)
    assert loaded["identity"].tolist() == ["a", "b"]
    with pytest.raises(MiexInputError, match="yaw"):
        plan_samples(loaded, make_pool(), PlanConfig(frontal_only=True))


def test_video_plan_carries_frames(tmp_path):
    plan = plan_samples(load_faces(make_faces(tmp_path / "faces", 2)), make_pool(video=True)).frame
    assert all(np.asarray(f).shape == (10, 17) for f in plan["frames_au"])


def test_cli_plan(tmp_path, capsys):
    faces = make_faces(tmp_path / "faces", 5)
    write_pool(make_pool(), tmp_path / "pool.parquet")
    out = tmp_path / "plan.parquet"
    argv = ["plan", "--faces", str(faces), "--pool", str(tmp_path / "pool.parquet"), "--out", str(out), "--seed", "4"]
    assert main(argv) == 0
    assert "wrote 45 samples for 5 identities" in capsys.readouterr().out
    first = out.read_bytes()
    assert main(argv) == 0 and out.read_bytes() == first
    assert read_params(out)["seed"] == 4
    plan = pd.read_parquet(out)
    assert list(plan.columns[:6]) == ["sample_id", "identity", "face", "label", "source", "emotion"]
    assert plan.sort_values(["identity", "source", "label"]).shape == plan.shape
    assert main([*argv, "--sources", "mie,oops"]) == 2
