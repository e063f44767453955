"""Untrusted files never run code and nothing is written outside the output folder.

Every hostile input here would, if loaded naively, create a marker file; each test checks the marker never appears.
"""

from __future__ import annotations

import builtins
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from corpus_fixtures import write_image
from hypothesis import given, settings
from hypothesis import strategies as st
from miex_fixtures import TINY_GANIMATION
from PIL import Image
from py2_pickle import python2_au_pickle
from test_ganimation import _synthetic_faces, _tiny_config

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.data.aus import read_ganimation_aus, write_ganimation_aus, write_ganimation_ids
from miex.data.corpora.clips import Clip, clips_to_frame, write_clip_table
from miex.data.faces.flow_clips import flow_target
from miex.data.generators.ganimation.checkpoints import CHECKPOINT_MANIFEST, write_checkpoint_manifest
from miex.data.generators.ganimation.train import GANimationTrainer

AUS = np.linspace(0, 5, 17)
TINY = [*TINY_GANIMATION, "--batch-size", "8", "--sample-every", "0"]
"""``miex train-generator`` options for a model that trains in a second on a CPU."""


class Payload:
    """Pickles as a call of ``function(argument)``: what a crafted file does to run code while it loads."""

    def __init__(self, function: object, argument: str) -> None:
        self.function, self.argument = function, argument

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return self.function, (self.argument,)


def payloads(marker: Path) -> list[Payload]:
    """A shell command and an eval, both creating ``marker``."""
    return [Payload(os.system, f"touch {marker}"), Payload(builtins.eval, f"open({str(marker)!r}, 'w').close()")]


# --- the GANimation AU pickle -------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("where", ["value", "top"])
def test_hostile_au_pickle_is_refused_and_never_runs(tmp_path: Path, protocol: int, where: str) -> None:
    marker = tmp_path / "marker"
    for payload in payloads(marker):
        data = {"a": AUS, "b": payload} if where == "value" else payload
        path = tmp_path / "aus_openface.pkl"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        with pytest.raises(MiexInputError, match=r"refused global \S*\.(system|eval)") as error:
            read_ganimation_aus(path)
        assert error.value.file == str(path)
        assert not marker.exists()


def test_hostile_au_pickle_stops_train_generator(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "sample_data"
    faces = _synthetic_faces(data / "imgs", count=8)
    write_ganimation_ids([p.name for p in faces.paths], data / "train_ids.csv")
    marker = tmp_path / "marker"
    hostile = {p.stem: AUS for p in faces.paths} | {"x": payloads(marker)[0]}
    (data / "aus_openface.pkl").write_bytes(pickle.dumps(hostile, protocol=2))
    assert main(["train-generator", str(data), "--out", str(tmp_path / "run"), *TINY, "--max-steps", "1"]) == 2
    assert "aus_openface.pkl" in capsys.readouterr().err and not marker.exists()


@pytest.mark.parametrize(
    ("data", "message", "field"),
    [
        ([AUS], "dict", None),
        ({3: AUS}, "strings", None),
        ({"a": np.zeros((2, 17))}, "shape", "a"),
        ({"a": np.full(17, np.nan)}, "NaN", "a"),
        ({"a": np.array(["x"] * 17)}, "numbers", "a"),
        ({"a": "not an array"}, "str", "a"),
    ],
)
def test_au_pickle_structure_is_checked(tmp_path: Path, data: object, message: str, field: str | None) -> None:
    path = tmp_path / "aus_openface.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    with pytest.raises(MiexInputError, match=message) as error:
        read_ganimation_aus(path)
    assert error.value.file == str(path) and error.value.field == field


@settings(max_examples=25, deadline=None)
@given(
    aus=st.dictionaries(
        st.text(min_size=1, max_size=12),
        st.lists(st.floats(0, 5, width=32), min_size=17, max_size=17),
        min_size=1,
        max_size=4,
    ),
    protocol=st.integers(0, pickle.HIGHEST_PROTOCOL),
    dtype=st.sampled_from(["<f8", "<f4", ">f8"]),
)
def test_every_honest_au_pickle_still_loads(
    tmp_path_factory: pytest.TempPathFactory, aus: dict, protocol: int, dtype: str
) -> None:
    path = tmp_path_factory.mktemp("pkl") / "aus_openface.pkl"
    path.write_bytes(pickle.dumps({k: np.asarray(v, dtype) for k, v in aus.items()}, protocol=protocol))
    loaded = read_ganimation_aus(path)
    assert list(loaded) == list(aus)
    for key, values in aus.items():
        np.testing.assert_allclose(loaded[key], values, rtol=1e-6)
    path.write_bytes(python2_au_pickle({k.encode("utf-8").decode("latin1"): v for k, v in aus.items()}))
    assert len(read_ganimation_aus(path)) == len(aus)
    write_ganimation_aus(loaded, path)
    assert list(read_ganimation_aus(path)) == list(aus)


# --- train-generator --resume -------------------------------------------------------------------------------------


@pytest.fixture
def saved_run(tmp_path: Path) -> tuple[Path, Path]:
    """A 2-step tiny run checkpointed after each step; returns (data folder, output folder)."""
    torch.set_num_threads(1)
    data = tmp_path / "sample_data"
    faces = _synthetic_faces(data / "imgs", count=8)
    write_ganimation_aus({p.stem: a for p, a in zip(faces.paths, faces.aus, strict=True)}, data / "aus_openface.pkl")
    write_ganimation_ids([p.name for p in faces.paths], data / "train_ids.csv")
    out = tmp_path / "run"
    GANimationTrainer(_tiny_config(tmp_path, data=str(data), output_dir=str(out), max_steps=2, save_every=1)).train()
    return data, out


def _resume(tmp_path: Path, data: Path, out: Path, checkpoint: Path | str) -> GANimationTrainer:
    config = _tiny_config(tmp_path, data=str(data), output_dir=str(out), max_steps=2, resume=str(checkpoint))
    return GANimationTrainer(config)


def test_checkpoints_carry_a_manifest_and_no_free_pickle(tmp_path: Path, saved_run: tuple[Path, Path]) -> None:
    data, out = saved_run
    step = out / "checkpoints" / "step_1"
    manifest = json.loads((step / CHECKPOINT_MANIFEST).read_text())
    assert set(manifest["files"]) == {p.name for p in step.iterdir()} - {CHECKPOINT_MANIFEST}
    assert not list(step.glob("custom_checkpoint_*"))  # the sampling state is JSON, not accelerate's free pickle
    assert _resume(tmp_path, data, out, step).state.step == 1
    (out / "checkpoints" / "step_2" / CHECKPOINT_MANIFEST).unlink()  # as a save killed before its manifest
    assert _resume(tmp_path, data, out, "latest").state.step == 1


@pytest.mark.parametrize("target", ["optimizer.bin", "random_states_0.pkl", "custom_checkpoint_0.pkl"])
def test_tampered_checkpoint_is_refused_before_loading(
    tmp_path: Path, saved_run: tuple[Path, Path], target: str
) -> None:
    data, out = saved_run
    step = out / "checkpoints" / "step_1"
    marker = tmp_path / "marker"
    torch.save(payloads(marker)[0], step / target)
    with pytest.raises(MiexInputError, match=r"changed since it was saved|not part of the saved checkpoint"):
        _resume(tmp_path, data, out, step)
    assert not marker.exists()
    write_checkpoint_manifest(step)  # a forger who also rewrites the manifest still gets tensors-only loading
    if target == "random_states_0.pkl":  # accelerate skips an RNG file that is not tensors-only
        _resume(tmp_path, data, out, step)
    else:  # refused by weights_only, or by accelerate as a custom state nobody registered
        with pytest.raises(MiexInputError, match="does not load as tensors"):
            _resume(tmp_path, data, out, step)
    assert not marker.exists()


def test_resume_refuses_foreign_folders_through_the_cli(
    tmp_path: Path, saved_run: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    data, out = saved_run
    foreign = tmp_path / "downloaded"
    foreign.mkdir()
    (foreign / "optimizer.bin").write_bytes(pickle.dumps(payloads(tmp_path / "marker")[1]))
    for folder, message in ((foreign, CHECKPOINT_MANIFEST), (tmp_path / "missing", "not found")):
        assert main(["train-generator", str(data), "--out", str(out), *TINY, "--resume", str(folder)]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "marker").exists()


def test_train_generator_shows_step_progress(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    torch.set_num_threads(1)
    data = tmp_path / "sample_data"
    faces = _synthetic_faces(data / "imgs", count=8)
    write_ganimation_aus({p.stem: a for p, a in zip(faces.paths, faces.aus, strict=True)}, data / "aus_openface.pkl")
    write_ganimation_ids([p.name for p in faces.paths], data / "train_ids.csv")
    assert main(["train-generator", str(data), "--out", str(tmp_path / "run"), *TINY, "--max-steps", "2"]) == 0
    err = capsys.readouterr().err
    assert "train-generator" in err and "2/2" in err


# --- miex flow: output paths from the clip table ------------------------------------------------------------------


def _clip_table(root: Path, **names: str) -> Path:
    frames = [str(write_image(root / "frames" / f"{n}.png")) for n in range(2)]
    clip = Clip(
        **({"dataset": "toy", "subject": "sub01", "clip": "EP01"} | names),
        frames=frames,
        frame_numbers=[0, 1],
        onset=0,
        apex=1,
        offset=1,
        emotion="happiness",
        label=1,
        fps=200.0,
    )
    return write_clip_table(clips_to_frame([clip]), root / "clips.parquet")


@pytest.mark.parametrize("field", ["dataset", "subject", "clip"])
def test_flow_refuses_a_clip_table_that_leads_outside_out(
    tmp_path: Path, capsys: pytest.CaptureFixture, field: str
) -> None:
    table = _clip_table(tmp_path / "data", **{field: "../../../../X/EPX"})
    before = {p for p in tmp_path.rglob("*")}
    out = tmp_path / "a" / "b" / "flow"
    assert main(["flow", str(table), "--out", str(out), "--method", "farneback", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "clips.parquet" in err and "row 0" in err and f"field {field!r}" in err and "outside" in err
    assert {p for p in tmp_path.rglob("*") if not p.is_relative_to(out)} <= before


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(st.sampled_from(["..", ".", "/", "a", "b/..", "/etc", "x\\..", "~", ""]), min_size=3, max_size=3))
def test_flow_targets_stay_inside_out(tmp_path_factory: pytest.TempPathFactory, parts: list[str]) -> None:
    out = tmp_path_factory.mktemp("out")
    row = pd.Series(dict(zip(("dataset", "subject", "clip"), parts, strict=True)))
    try:
        target = flow_target(out, row, clip_table="clips.parquet", row_number=3)
    except MiexInputError as error:
        assert error.file == "clips.parquet" and error.row == 3
    else:
        assert target.is_relative_to(out.resolve()) and target.suffix == ".npz"


# --- miex import-legacy: links out of the release -----------------------------------------------------------------


def _jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(path, quality=90)


def test_import_legacy_never_follows_links_out_of_the_release(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    outside = tmp_path / "private"
    for seed, name in enumerate(("0.jpg", "1.jpg")):
        _jpeg(outside / "00009_mie_1" / name, seed)
    release = tmp_path / "MiE-X"
    for seed, name in enumerate(("0.jpg", "1.jpg")):
        _jpeg(release / "00001_mie_0" / name, seed + 10)
    (release / "00002_mie_1").symlink_to(outside / "00009_mie_1", target_is_directory=True)
    (release / "00003_mie_2").mkdir()
    (release / "00003_mie_2" / "0.jpg").symlink_to(outside / "00009_mie_1" / "0.jpg")
    _jpeg(release / "00003_mie_2" / "1.jpg", 20)
    out = tmp_path / "imported"
    assert main(["import-legacy", str(release), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "00002_mie_1" in printed and "00003_mie_2" in printed and printed.count("leading outside the release") == 2
    assert "imported 1 samples" in printed
    assert main(["import-legacy", str(release), "--out", str(tmp_path / "strict"), "--strict"]) == 2
    assert "leading outside the release" in capsys.readouterr().err
