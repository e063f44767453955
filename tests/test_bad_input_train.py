"""Bad input to `miex train` and `miex.load`: the run folder's contract, bounds on recipe sizes, values checked where
they enter, a diverged stage stopped, and damaged MiE-X shards named.

Runs use the scaled-down recipe of tests/test_train_runner.py (tiny Branches on 64 px crops), cut to one fold and no
final model where a whole run is needed, so each trains in seconds.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import miex_fixtures as mf
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from miex_fixtures import folder_bytes, one_error_line
from PIL import Image
from test_train_runner import MIE_SUBJECTS, data, datasets_cache, tiny, write_recipe  # noqa: F401 - fixtures

import miex
from miex.cli import main
from miex.core.errors import MiexInputError
from miex.core.fileio import RUN_KIND, OutputLock, output_kind
from miex.data.synthesis.shards import Shard, write_shard
from miex.train.runner import parse_recipe, run
from miex.train.runner.recipe import MAX_DEPTH
from miex.train.runner.specs import MAX_BATCH, MAX_EPOCHS, TrainingSpec
from miex.train.runner.stages import StopOnNonFiniteLoss
from miex.train.runner.tensor_stage import train_on_tensors

USER_BYTES = b"the user's own notes, never to be touched\n"
QUICK = {"stages": [{"name": "finetune", "train": ["real"]}], "protocol.max_folds": 1, "output.final_model": False}
"""One stage, one fold, no final model: the least a whole run trains."""
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("training started although the input is bad")

    monkeypatch.setattr(importlib.import_module("miex.train.runner.run"), "train_stage", refuse)


def recipe_of(data: dict[str, Path], out: Path, **changes: Any) -> Any:  # noqa: F811
    return parse_recipe(tiny(data, out, **changes))


# --------------------------------------------------------------------------------------------------------------
# 1. the output folder: only a run folder (or, with --overwrite, any folder); never an input; never through a link


def test_a_folder_of_user_files_is_refused_without_overwrite(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    no_training: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_bytes(USER_BYTES)
    before = folder_bytes(out)
    with pytest.raises(MiexInputError, match=r"not empty and was not made by miex train.*--overwrite"):
        run(recipe_of(data, out))
    recipe = write_recipe(tmp_path / "r.yaml", tiny(data, out))
    assert main(["train", "--recipe", str(recipe)]) == 2
    assert str(out) in one_error_line(capsys.readouterr().err)
    assert folder_bytes(out) == before


@pytest.mark.parametrize("where", ["miex", "miex/runs/x", "clips-in-model"])
def test_the_output_never_overlaps_an_input(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    no_training: None,
    where: str,
) -> None:
    """Even with --overwrite: an output inside MiE-X would mix run files into the dataset; a clip table inside
    out/model/ would be deleted by the run that reads it."""
    miex_copy = shutil.copytree(data["miex"], tmp_path / "miex")
    clips = data["clips"]
    if where == "clips-in-model":
        out = tmp_path / "run"  # the clip table (and the frames it names, relative to it) inside out/model/
        clips = Path(shutil.copy(data["clips"], mf_dir(out / "model") / "clips.parquet"))
        shutil.copytree(data["root"] / "megc", out / "model" / "megc")
    else:
        out = tmp_path / where
    before = folder_bytes(tmp_path)
    recipe = recipe_of(data, out, **{"data.miex": str(miex_copy), "data.real.clips": str(clips)})
    with pytest.raises(MiexInputError, match=r"input"):
        run(recipe, overwrite=True)
    assert folder_bytes(tmp_path) == before


def mf_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@given(parts=st.lists(st.sampled_from(["a", "b", "runs", "data", ".hidden"]), min_size=0, max_size=3))
@SETTINGS
def test_no_output_inside_the_miex_folder(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    no_training: None,
    parts: list[str],
) -> None:
    """Property: any folder at or below the MiE-X input is refused as an output, before anything is loaded."""
    out = data["miex"].joinpath(*parts)
    with pytest.raises(MiexInputError, match="input folder"):
        run(recipe_of(data, out), overwrite=True)
    assert not (data["miex"] / ".miex").exists() and not (data["miex"] / "results.json").exists()


@pytest.mark.parametrize("link", ["model", "plots", ".trainer", "predictions", ".miex"])
def test_links_in_the_output_folder_are_refused(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    no_training: None,
    link: str,
) -> None:
    """A link where the run writes or deletes would send --overwrite's deletions and the run's writes outside."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "sample_grid.png").write_bytes(USER_BYTES)
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(elsewhere, out / link)
    with pytest.raises(MiexInputError, match="link"):
        run(recipe_of(data, out), overwrite=True)
    assert folder_bytes(elsewhere) == {"sample_grid.png": USER_BYTES}


def test_a_run_marks_its_folder_keeps_user_files_and_holds_the_lock(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_bytes(USER_BYTES)
    run(recipe_of(data, out, **QUICK), overwrite=True)  # the user said so: the run is written beside the notes
    assert output_kind(out) == RUN_KIND
    assert (out / "notes.txt").read_bytes() == USER_BYTES and (out / "results.json").is_file()
    with pytest.raises(MiexInputError, match="already holds a run"):
        run(recipe_of(data, out, **QUICK))  # its own earlier run: still only with --overwrite
    with OutputLock(out), pytest.raises(MiexInputError, match="another miex run"):
        run(recipe_of(data, out, **QUICK), overwrite=True)
    assert (out / "results.json").is_file()


# --------------------------------------------------------------------------------------------------------------
# 2. bounds


@pytest.mark.parametrize("key", ["training.num_workers", "stages.0.num_workers", "protocol.workers"])
def test_workers_are_capped_at_the_cores_with_a_message(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    key: str,
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1, 2}, raising=False)
    with caplog.at_level(logging.WARNING):
        recipe = recipe_of(data, tmp_path / "out", **{key: 10000})
    assert recipe.protocol.workers <= 3 and recipe.stages[0].training.num_workers <= 3
    assert any("10000" in r.message and "3 core" in r.message for r in caplog.records), caplog.text


@given(epochs=st.one_of(st.integers(MAX_EPOCHS + 1, 10**30), st.just(10**22)))
@SETTINGS
def test_huge_epoch_counts_are_refused(data: dict[str, Path], tmp_path: Path, epochs: int) -> None:  # noqa: F811
    for key in ("training.epochs", "training.decay_epochs", "stages.0.epochs"):
        field = re.escape(key.replace(".0.", "[0]."))
        with pytest.raises(MiexInputError, match=rf"field '{field}'.*<= {MAX_EPOCHS}"):
            recipe_of(data, tmp_path / "out", **{key: epochs})
    assert recipe_of(data, tmp_path / "out", **{"training.epochs": MAX_EPOCHS}).training.epochs == MAX_EPOCHS


SIZES = [("training.batch_size", MAX_BATCH + 1), ("training.eval_batch_size", 10**12), ("data.image.resize", 10**6)]


@pytest.mark.parametrize(("key", "value"), SIZES)
def test_other_sizes_have_a_maximum(data: dict[str, Path], tmp_path: Path, key: str, value: Any) -> None:  # noqa: F811
    with pytest.raises(MiexInputError, match=rf"field '{key}'"):
        recipe_of(data, tmp_path / "out", **{key: value})


@pytest.mark.parametrize("shape", ["lists", "mappings"])
def test_a_deeply_nested_recipe_is_one_line_naming_the_file(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    shape: str,
) -> None:
    depth = 5000
    nested = "[" * depth + "]" * depth if shape == "lists" else "{a: " * depth + "1" + "}" * depth
    path = tmp_path / "deep.yaml"
    path.write_text(f"name: deep\nmodel: {nested}\n", encoding="utf-8")
    assert main(["train", "--recipe", str(path), "--check"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(path) in line and f"more than {MAX_DEPTH} levels" in line and "line 2" in line, line
    recipe = write_recipe(tmp_path / "r.yaml", tiny(data, tmp_path / "out"))
    assert main(["train", "--recipe", str(recipe), "--set", f"model.config={nested}", "--check"]) == 2
    assert "--set" in one_error_line(capsys.readouterr().err)


DUPLICATES = [
    ("seeds:\n- 0\n", "seeds:\n- 0\nseeds: [1]\n", "seeds"),  # top level
    ("  epochs: 1\n", "  epochs: 1\n  epochs: 30\n", "epochs"),  # inside training:
    ("  kind: kfold\n", "  kind: kfold\n  kind: loso\n", "kind"),  # inside protocol:
]


@pytest.mark.parametrize(("anchor", "replacement", "key"), DUPLICATES)
def test_a_key_given_twice_is_refused_naming_key_and_line(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    no_training: None,
    capsys: pytest.CaptureFixture[str],
    anchor: str,
    replacement: str,
    key: str,
) -> None:
    path = write_recipe(tmp_path / "r.yaml", tiny(data, tmp_path / "out", seeds=[0]))
    text = path.read_text(encoding="utf-8")
    assert anchor in text
    text = text.replace(anchor, replacement, 1)
    path.write_text(text, encoding="utf-8")
    second = [n for n, line in enumerate(text.splitlines(), 1) if line.strip().startswith(f"{key}:")][1]
    assert main(["train", "--recipe", str(path), "--check"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(path) in line and f"key {key!r} is given twice" in line and f"line {second}" in line, line


# --------------------------------------------------------------------------------------------------------------
# 3. values


NON_FINITE = [
    ("training.learning_rate", ".inf"),
    ("training.learning_rate", ".nan"),
    ("stages.0.learning_rate", ".nan"),
    ("training.weight_decay", ".nan"),
    ("training.max_grad_norm", ".inf"),
    ("protocol.validation.fraction", ".nan"),
]


@pytest.mark.parametrize(("key", "value"), NON_FINITE)
def test_non_finite_rates_are_refused_where_the_recipe_is_read(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    key: str,
    value: str,
) -> None:
    recipe = write_recipe(tmp_path / "r.yaml", tiny(data, tmp_path / "out"))
    assert main(["train", "--recipe", str(recipe), "--set", f"{key}={value}", "--check"]) == 2
    line = one_error_line(capsys.readouterr().err)
    field = key.replace("stages.0.", "stages[0].")
    assert str(recipe) in line and f"field '{field}'" in line and "finite" in line, line


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), -1.0])
def test_a_training_spec_built_in_code_refuses_non_finite_rates(rate: float) -> None:
    with pytest.raises(MiexInputError, match="learning_rate"):
        TrainingSpec(learning_rate=rate)


def test_a_diverging_stage_stops_the_run_naming_stage_and_epoch(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
) -> None:
    """Adam at a learning rate of 1e30 turns the weights into inf/NaN within the first epoch: the run stops instead
    of writing UF1/UAR computed from NaN logits."""
    out = tmp_path / "out"
    recipe = tiny(data, out, **QUICK)
    recipe["training"]["learning_rate"] = 1e30
    diverged = r"fold0/finetune: the training loss became nan in epoch 1 .*learning_rate"
    with pytest.raises(MiexInputError, match=diverged):
        run(parse_recipe(recipe))
    assert not (out / "results.json").exists()


def test_the_loss_callback_and_the_tensor_loop_stop_on_nan() -> None:
    spec = TrainingSpec(epochs=2, decay_epochs=0, num_workers=0)
    callback = StopOnNonFiniteLoss(spec, "seed 0 fold f/pre")
    state = SimpleNamespace(epoch=2.0)
    callback.on_log(None, state, None, logs={"loss": 0.7})  # finite: nothing happens
    with pytest.raises(MiexInputError, match=r"seed 0 fold f/pre: the training loss became inf in epoch 2 of 2"):
        callback.on_log(None, state, None, logs={"loss": float("inf")})

    class Diverging(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(1))

        def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor) -> SimpleNamespace:
            return SimpleNamespace(loss=(self.weight * pixel_values.sum() * float("nan")).sum())

    with pytest.raises(MiexInputError, match=r"flow fold/stage: the training loss became nan in epoch 1 of 2"):
        train_on_tensors(Diverging(), torch.ones(4, 1), torch.zeros(4), spec, seed=0, label="flow fold/stage")


# --------------------------------------------------------------------------------------------------------------
# 4. damaged MiE-X shards


def synthesized_miex(folder: Path) -> Path:
    """The fixture MiE-X, its shard (and receipt) written by synthesis's own :func:`write_shard`."""
    mf.build_miex(folder, MIE_SUBJECTS, size=32)  # the card (README.md)
    rows = mf.miex_rows(MIE_SUBJECTS, size=32)
    count = len(rows["label"])
    write_shard(
        Shard(0, 1, 0, count),
        folder,
        [{k: v[i] for k, v in rows.items()} for i in range(count)],
        mf.miex_features(),
        "test-run",
    )
    return folder


SHARD = "data/train-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def receipted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesized_miex(tmp_path_factory.mktemp("receipted") / "miex")


def test_miex_load_checks_receipts(receipted: Path, tmp_path: Path) -> None:
    assert len(miex.load(receipted)) == 18
    stray = shutil.copytree(receipted, tmp_path / "stray")
    shutil.copy(stray / SHARD, stray / "data" / "train-extra.parquet")
    with pytest.raises(MiexInputError, match=r"train-extra\.parquet.*no receipt"):
        miex.load(stray)


@given(position=st.floats(0.0, 0.999), bit=st.integers(0, 7))
@SETTINGS
def test_miex_load_refuses_any_flipped_bit_naming_the_shard(
    receipted: Path, tmp_path_factory: pytest.TempPathFactory, position: float, bit: int
) -> None:
    """Property: a single flipped bit anywhere in a shard is refused before `load_dataset` reads it."""
    folder = shutil.copytree(receipted, tmp_path_factory.mktemp("flipped") / "miex")
    shard = folder / SHARD
    content = bytearray(shard.read_bytes())
    content[int(position * len(content))] ^= 1 << bit
    shard.write_bytes(bytes(content))
    with pytest.raises(MiexInputError, match=r"damaged MiE-X shard: its sha256 differs") as raised:
        miex.load(folder)
    assert raised.value.file == str(shard) and "miex synthesize" in str(raised.value)


def test_train_refuses_a_damaged_receipted_shard_before_training(
    data: dict[str, Path],  # noqa: F811
    receipted: Path,
    tmp_path: Path,
    no_training: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = shutil.copytree(receipted, tmp_path / "miex")
    shard = folder / SHARD
    content = bytearray(shard.read_bytes())
    content[len(content) // 2] ^= 0x10
    shard.write_bytes(bytes(content))
    recipe = write_recipe(tmp_path / "r.yaml", tiny(data, tmp_path / "out", **{"data.miex": str(folder)}))
    assert main(["train", "--recipe", str(recipe), "--check"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(shard) in line and "damaged MiE-X shard" in line and "synthesize" in line, line


def broken_png(size: int = 32) -> bytes:
    """A PNG whose compressed pixels are damaged (PIL: "broken data stream" / "unrecognized data stream")."""
    from io import BytesIO

    buffer = BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    content = bytearray(buffer.getvalue())
    start = content.index(b"IDAT") + 8
    for index in range(start, start + 64):
        content[index] ^= 0xA5
    return bytes(content)


def test_train_names_the_shard_of_an_image_that_does_not_decode(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A folder without receipts (a download of the shards alone): the image fails mid-training; the error names the
    shard and the row, and says how to get a good copy."""
    rows = mf.miex_rows(MIE_SUBJECTS, size=32)
    rows["apex"][4] = {"bytes": broken_png(), "path": None}
    folder = mf.write_miex(tmp_path / "miex", rows)
    recipe = tiny(
        data,
        tmp_path / "out",
        **{**QUICK, "stages": [{"name": "pretrain", "train": ["miex"]}, {"name": "finetune", "train": ["real"]}]},
    )
    recipe["data"]["miex"] = str(folder)
    path = write_recipe(tmp_path / "r.yaml", recipe)
    assert main(["train", "--recipe", str(path), "--no-progress"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(folder / SHARD) in line and "row 4: its apex image does not decode" in line, line
    assert "synthesize" in line and "download" in line, line
