"""Bad input to the generator commands: `miex train-generator`, `miex eval-generator`, the AU pickle and --device.

Each case plants what a careless or hostile user gives (a folder of their own files as --out, a 2 KB pickle that
expands to gigabytes, --lr nan, a garbage config.json, a full disk, --device banana) and checks the command answers
with one line naming the file or option, the right exit code (2 bad input, 1 disk) and nothing of the user's touched.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from miex_fixtures import TINY_GANIMATION, folder_bytes, one_error_line
from safetensors import SafetensorError
from test_ganimation import _synthetic_faces, _tiny_config

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.core.fileio import EVAL_EXPORT_KIND, GENERATOR_KIND, OutputLock, output_kind
from miex.data.aus import read_ganimation_aus, write_ganimation_aus, write_ganimation_ids
from miex.data.aus.ganimation_format import MAX_DEPTH, check_object_graph
from miex.data.generators import load_generator
from miex.data.generators.external_judge import check_export_folder
from miex.data.generators.ganimation.checkpoints import CHECKPOINT_MANIFEST, write_checkpoint_manifest
from miex.data.generators.ganimation.train import GANimationTrainer, TrainingDiverged
from miex.data.generators.ganimation_options import INTEGER_BOUNDS, TrainConfig, check_config

TINY = [*TINY_GANIMATION, "--batch-size", "4", "--sample-every", "0"]
"""``miex train-generator`` options for a model that trains a step in well under a second on a CPU."""
USER_BYTES = b'{"the user\'s own": "config, never to be touched"}\n'
EXPORT = ["eval-generator", "--generator", "warp", "--size", "64", "--aus", "AU12", "--intensities", "0", "5"]
"""The smallest `miex eval-generator` run that renders (the astronaut, one AU at two levels)."""


def exit_code(argv: Sequence[str]) -> int:
    """``miex ARGV``'s exit code, whether it returns it or argparse exits (an option's type refusing a value)."""
    try:
        return main(list(argv))
    except SystemExit as stop:
        return int(stop.code or 0)


@pytest.fixture(scope="module")
def sample_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """GANimation's sample-data layout with 8 synthetic 32 px faces: imgs/, aus_openface.pkl, train_ids.csv."""
    data = tmp_path_factory.mktemp("gan") / "sample_data"
    faces = _synthetic_faces(data / "imgs", count=8)
    write_ganimation_aus({p.stem: a for p, a in zip(faces.paths, faces.aus, strict=True)}, data / "aus_openface.pkl")
    write_ganimation_ids([p.name for p in faces.paths], data / "train_ids.csv")
    return data


@pytest.fixture(scope="module")
def trained(sample_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step train-generator output, checkpointed after each step (never modified: copy it to change it)."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("trained") / "run"
    assert (
        main(["train-generator", str(sample_data), "--out", str(out), *TINY, "--max-steps", "2", "--save-every", "1"])
        == 0
    )
    return out


def train(data: Path, out: Path, *extra: str) -> int:
    return exit_code(["train-generator", str(data), "--out", str(out), *TINY, "--max-steps", "1", *extra])


# --- 1. the output folder is train-generator's own only by its marker -------------------------------------------


def test_train_generator_never_writes_into_a_folder_of_user_files(
    sample_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    (out / "generator").mkdir(parents=True)
    (out / "generator" / "config.json").write_bytes(USER_BYTES)
    (out / "train_config.json").write_bytes(USER_BYTES)
    before = folder_bytes(out)
    assert train(sample_data, out) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(out) in line and "--overwrite" in line and "not made by miex train-generator" in line
    assert folder_bytes(out) == before and not (out / ".miex").exists()
    assert train(sample_data, out, "--overwrite") == 0  # the user said so: the folder becomes a generator output
    assert output_kind(out) == GENERATOR_KIND and (out / "generator" / "model.safetensors").is_file()


def test_train_generator_refuses_another_kind_of_miex_output(
    sample_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from miex.core.fileio import FACE_POOL_KIND, mark_output

    out = tmp_path / "pool"
    mark_output(out, FACE_POOL_KIND, "miex faces")
    (out / "index.parquet").write_bytes(USER_BYTES)
    assert train(sample_data, out) == 2
    assert f"it holds a {FACE_POOL_KIND}" in one_error_line(capsys.readouterr().err)
    assert output_kind(out) == FACE_POOL_KIND


def test_train_generator_resumes_in_its_own_folder_after_a_stop(
    sample_data: Path, trained: Path, tmp_path: Path
) -> None:
    import shutil

    out = tmp_path / "run"
    shutil.copytree(trained, out)
    for model in ("generator", "critic"):  # a run stopped before its end: checkpoints and marker, no models yet
        shutil.rmtree(out / model)
    assert (out / ".miex" / "lock").is_file()  # a stopped run leaves its (released) lock file
    assert train(sample_data, out, "--max-steps", "3", "--resume", "latest") == 0
    assert (out / "generator" / "model.safetensors").is_file() and output_kind(out) == GENERATOR_KIND


@pytest.mark.parametrize("where", ["checkpoints", "generator", "samples"])
def test_train_generator_refuses_links_where_it_writes(
    sample_data: Path, tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_bytes(USER_BYTES)
    out = tmp_path / "run"
    out.mkdir()
    (out / where).symlink_to(elsewhere)
    assert train(sample_data, out, "--overwrite") == 2
    assert str(out / where) in one_error_line(capsys.readouterr().err)
    assert folder_bytes(elsewhere) == {"config.json": USER_BYTES}


def test_train_generator_output_never_lies_inside_its_data(
    sample_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train(sample_data, sample_data / "run") == 2
    assert "inside the input folder" in one_error_line(capsys.readouterr().err)
    assert not (sample_data / "run").exists()


def test_a_second_train_generator_run_is_refused_while_one_writes(
    sample_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    with OutputLock(out):  # as another run holding the folder
        assert train(sample_data, out) == 2
    assert "another miex run" in one_error_line(capsys.readouterr().err)
    assert not (out / "checkpoints").exists()


def test_eval_generator_export_never_replaces_user_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "renders"
    (export / "face00").mkdir(parents=True)
    (export / "export.json").write_bytes(USER_BYTES)  # a user's file that merely has the export's name
    (export / "manifest.csv").write_bytes(USER_BYTES)
    (export / "face00" / "face00_000_input.png").write_bytes(USER_BYTES)
    before = folder_bytes(export)
    argv = [*EXPORT, "--out", str(tmp_path / "report.json"), "--export", str(export)]
    assert exit_code(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(export) in line and "--export" in line and "--overwrite" in line
    assert folder_bytes(export) == before and not (tmp_path / "report.json").exists()
    assert exit_code([*argv, "--overwrite"]) == 0
    assert output_kind(export) == EVAL_EXPORT_KIND
    assert exit_code(argv) == 0  # its own export: a rerun replaces the renders without --overwrite


def test_eval_generator_export_refuses_links_and_its_faces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = tmp_path / "photos"
    elsewhere.mkdir()
    (elsewhere / "face00_000_input.png").write_bytes(USER_BYTES)
    export = tmp_path / "renders"
    export.mkdir()
    (export / "face00").symlink_to(elsewhere)
    argv = [*EXPORT, "--out", str(tmp_path / "report.json"), "--export", str(export), "--overwrite"]
    assert exit_code(argv) == 2
    assert str(export / "face00") in one_error_line(capsys.readouterr().err)
    assert folder_bytes(elsewhere) == {"face00_000_input.png": USER_BYTES}
    with pytest.raises(MiexInputError, match="--export is inside the input folder"):  # the --faces folder
        check_export_folder(elsewhere / "renders", inputs=[elsewhere])


# --- 2. bounds: the AU pickle, epochs and steps ------------------------------------------------------------------


def _shared_bomb(fan_out: int, levels: int) -> object:
    """A list of ``fan_out`` references to one list of ... of 17 numbers: tiny pickled, fan_out**levels walked."""
    node: object = [1.0] * 17
    for _ in range(levels):
        node = [node] * fan_out
    return node


def test_a_tiny_au_pickle_of_shared_lists_is_refused_before_it_expands(tmp_path: Path) -> None:
    import tracemalloc

    path = tmp_path / "aus_openface.pkl"
    path.write_bytes(pickle.dumps({"a": _shared_bomb(60, 5)}, protocol=2))  # 13 billion values once walked
    assert path.stat().st_size < 2000
    tracemalloc.start()
    try:
        with pytest.raises(MiexInputError, match="expands to more than") as error:
            read_ganimation_aus(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.value.file == str(path) and peak < 50 << 20
    shared = {f"id{i}": _shared_bomb(100, 4) for i in range(10)}  # many ids sharing one bomb: also refused
    path.write_bytes(pickle.dumps(shared, protocol=2))
    with pytest.raises(MiexInputError, match="expands to more than"):
        read_ganimation_aus(path)


@settings(max_examples=30, deadline=None)
@given(fan_out=st.integers(2, 400), levels=st.integers(0, MAX_DEPTH + 2), ids=st.integers(1, 50))
def test_every_shared_reference_au_pickle_is_measured_not_walked(fan_out: int, levels: int, ids: int) -> None:
    data = {f"id{i}": _shared_bomb(fan_out, levels) for i in range(ids)}
    walked = 18  # what walking one id's value visits: 17 numbers + their list, then fan_out copies per level + 1
    for _ in range(levels):
        walked = fan_out * walked + 1
    walked = 1 + ids * (1 + walked)  # the dict, and each id's key
    too_deep = levels + 2 > MAX_DEPTH  # the dict, `levels` lists of lists, the list of numbers
    if too_deep or walked > 10**7:
        with pytest.raises(ValueError, match="nests deeper" if too_deep else "expands to more than"):
            check_object_graph(data, max_expanded=10**7)
    else:
        assert check_object_graph(data, max_expanded=10**7) == walked


def test_deep_and_self_referential_au_pickles_are_input_errors(
    tmp_path: Path, sample_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "aus_openface.pkl"
    depth = 100_000  # built by opcodes: pickle.dumps itself would recurse that deep
    path.write_bytes(b"\x80\x02}X\x01\x00\x00\x00a" + b"]" * depth + b"a" * (depth - 1) + b"s.")
    with pytest.raises(MiexInputError, match="nests deeper than") as error:
        read_ganimation_aus(path)
    assert error.value.file == str(path)
    loop: list[object] = []
    loop.append(loop)
    looped: dict[str, object] = {}
    looped["a"] = looped
    for data in ({"a": loop}, looped, {"a": [1.0] * 16 + [loop]}):
        path.write_bytes(pickle.dumps(data, protocol=2))
        with pytest.raises(MiexInputError, match="refers to itself") as error:
            read_ganimation_aus(path)
        assert error.value.file == str(path)
    data = tmp_path / "data"
    data.mkdir()
    for name in ("imgs", "train_ids.csv"):
        (data / name).symlink_to(sample_data / name)
    (data / "aus_openface.pkl").write_bytes(pickle.dumps({"a": loop}, protocol=2))
    assert train(data, tmp_path / "run") == 2
    line = one_error_line(capsys.readouterr().err)
    assert "aus_openface.pkl" in line and "refers to itself" in line and "internal error" not in line


def test_honest_au_pickles_sharing_one_array_still_load(tmp_path: Path) -> None:
    path = tmp_path / "aus_openface.pkl"
    row = np.linspace(0, 5, 17)
    path.write_bytes(pickle.dumps({f"{i:06d}": row for i in range(20_000)}, protocol=2))  # one array, 20k ids
    assert len(read_ganimation_aus(path)) == 20_000
    path.write_bytes(pickle.dumps({"a": [float(v) for v in row]}, protocol=2))
    np.testing.assert_allclose(read_ganimation_aus(path)["a"], row, rtol=1e-6)


def test_a_schedule_too_long_to_finish_is_refused(
    sample_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    base = ["train-generator", str(sample_data), "--out", str(out), *TINY]
    for extra in (["--epochs", str(10**22)], ["--max-steps", str(10**12)], ["--decay-epochs", str(10**9)]):
        assert exit_code([*base, *extra]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert extra[0] in line and "internal error" not in line
    from miex.data.generators.ganimation import train as train_module

    monkeypatch.setattr(train_module, "MAX_TOTAL_STEPS", 50)  # epochs x steps per epoch beyond the cap
    assert exit_code([*base, "--epochs", "40", "--decay-epochs", "20"]) == 2
    assert "more than the 50 a run may take" in one_error_line(capsys.readouterr().err)
    assert output_kind(out) is None and not (out / "checkpoints").exists()  # refused before the folder is claimed


# --- 3. values checked where they enter; NaN losses stop the run ----------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--batch-size", "0"),
        ("--batch-size", "-3"),
        ("--lr", "nan"),
        ("--lr", "inf"),
        ("--lr", "-1e-4"),
        ("--lr", "0"),
        ("--image-size", "7"),
        ("--image-size", "30"),
        ("--image-size", "4096"),
        ("--critic-layers", "20"),
        ("--critic-layers", "0"),
        ("--critic-layers", "6"),
        ("--au-weight", "nan"),
        ("--au-weight", "-1"),
        ("--critic-steps", "0"),
        ("--save-every", "0"),
        ("--seed", "-1"),
        ("--width", "0"),
    ],
)
def test_bad_training_values_are_refused_with_their_range(
    sample_data: Path, tmp_path: Path, option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train(sample_data, tmp_path / "run", f"{option}={value}") == 2  # "=": a bare -1e-4 reads as an option
    line = one_error_line(capsys.readouterr().err)
    assert option in line and "internal error" not in line
    assert not (tmp_path / "run").exists()  # refused before the folder is made


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(INTEGER_BOUNDS)), offset=st.integers(1, 10**6), above=st.booleans())
def test_every_integer_option_outside_its_range_is_refused(name: str, offset: int, above: bool) -> None:
    low, high = INTEGER_BOUNDS[name]
    value = high + offset if above else low - offset
    with pytest.raises(MiexInputError, match=f"from {low} to {high}") as error:
        check_config(TrainConfig(data="d", output_dir="o", **{name: value}))
    assert error.value.field == f"--{name.replace('_', '-')}"


def test_a_nan_loss_stops_the_run_before_anything_is_saved(
    sample_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert train(sample_data, out, "--au-weight", "1e308", "--save-every", "1") == 2  # finite, but the loss is not
    line = one_error_line(capsys.readouterr().err)
    assert "training diverged at step 1" in line and "--lr" in line and "internal error" not in line
    assert not list(out.glob("checkpoints/*")) and not (out / "generator").exists()


def test_weights_that_are_no_longer_finite_are_never_saved(sample_data: Path, tmp_path: Path) -> None:
    config = _tiny_config(tmp_path, data=str(sample_data), output_dir=str(tmp_path / "run"), max_steps=2)
    trainer = GANimationTrainer(config)
    trainer.train(until=1)
    with torch.no_grad():
        next(trainer.generator.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="no longer finite"):
        trainer.save_checkpoint()
    with pytest.raises(TrainingDiverged):
        trainer.save_pretrained()
    assert not (tmp_path / "run" / "checkpoints").exists() and not (tmp_path / "run" / "generator").exists()


# --- 4. broken checkpoints and a full disk ----------------------------------------------------------------------------


def _copy(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{garbage", "not a readable generator config.json"),
        ("[1, 2]", "expected a JSON object"),
        ('{"width": "wide"}', "field 'width'"),
        ('{"width": 8, "layers": 3}', "unknown generator setting"),
        ('{"num_residual_blocks": 1e9}', "field 'num_residual_blocks'"),
        ('{"norm_affine": "yes"}', "true or false"),
        ('{"image_size": 30}', "multiple of 4"),
        ("\xff\xfe", "not a readable"),
    ],
)
def test_an_invalid_generator_config_json_names_the_file(
    trained: Path, tmp_path: Path, text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _copy(trained / "generator", tmp_path / "generator")
    (folder / "config.json").write_text(text, encoding="latin-1")
    with pytest.raises(MiexInputError, match=message) as error:
        load_generator("ganimation", checkpoint=folder, device="cpu")
    assert error.value.file == str(folder / "config.json")
    argv = [
        "eval-generator",
        "--generator",
        "ganimation",
        "--checkpoint",
        str(folder),
        "--out",
        str(tmp_path / "r.json"),
        "--device",
        "cpu",
    ]
    assert exit_code(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(folder / "config.json") in line and "internal error" not in line


def test_a_corrupt_generator_model_safetensors_names_the_file(trained: Path, tmp_path: Path) -> None:
    folder = _copy(trained / "generator", tmp_path / "generator")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(MiexInputError, match="not a readable safetensors file") as error:
        load_generator("ganimation", checkpoint=folder, device="cpu")
    assert error.value.file == str(weights)


def test_a_corrupt_model_safetensors_on_resume_is_an_input_error(
    sample_data: Path, trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _copy(trained, tmp_path / "run")
    step = out / "checkpoints" / "step_2"
    (step / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    write_checkpoint_manifest(step)  # the manifest matches: the file was broken before it was recorded
    assert train(sample_data, out, "--max-steps", "3", "--resume", "latest") == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(step) in line and "does not load as tensors" in line


DISK_FULL = "Error while serializing: I/O error: No space left on device (os error 28)"
"""What safetensors raises when the disk fills up mid-write (seen on a full tmpfs)."""


def _full_disk_safetensors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every safetensors write (accelerate's checkpoints, the Hub mixin's save_pretrained) fails as on a full disk."""
    import accelerate.utils.other
    import safetensors.torch

    def full(*args: object, **kwargs: object) -> None:
        raise SafetensorError(DISK_FULL)

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    monkeypatch.setattr(accelerate.utils.other, "safe_save_file", full)


@pytest.mark.parametrize("when", ["checkpoint", "end"])
def test_a_full_disk_during_train_generator_is_one_line_and_exit_1(
    sample_data: Path, tmp_path: Path, when: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _full_disk_safetensors(monkeypatch)
    out = tmp_path / "run"
    assert train(sample_data, out, "--save-every", "1" if when == "checkpoint" else "1000") == 1
    line = one_error_line(capsys.readouterr().err)
    assert "disk is full" in line and str(out) in line and "internal error" not in line
    assert not list(out.glob(f"checkpoints/*/{CHECKPOINT_MANIFEST}"))  # no checkpoint counts as complete


def test_a_full_disk_in_torch_save_is_reported_as_one(
    sample_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    def full(*args: object, **kwargs: object) -> None:  # torch's zip writer names no errno, only a position
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 90944 vs 90836")

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9, 0))
    assert train(sample_data, tmp_path / "run", "--save-every", "1") == 1
    line = one_error_line(capsys.readouterr().err)
    assert "disk is full" in line and "step_1" in line


def test_a_plain_write_hitting_a_full_disk_is_exit_1(
    sample_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from miex.data.generators.ganimation.train import SamplingState

    def full(self: object, folder: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / "sampling_state.json"))

    monkeypatch.setattr(SamplingState, "save", full)
    assert train(sample_data, tmp_path / "run", "--save-every", "1") == 1
    assert "disk is full" in one_error_line(capsys.readouterr().err)


# --- 5. --device -----------------------------------------------------------------------------------------------------


def _missing_devices() -> list[str]:
    missing = ["banana", "cuda:99", "cpu:x"]
    return missing + ([] if torch.cuda.is_available() else ["cuda"])


@pytest.mark.parametrize("device", _missing_devices())
def test_a_device_this_machine_lacks_is_refused_naming_the_option(
    trained: Path, tmp_path: Path, device: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "eval-generator",
        "--generator",
        "ganimation",
        "--checkpoint",
        str(trained / "generator"),
        "--out",
        str(tmp_path / "r.json"),
        "--device",
        device,
    ]
    synthesize = ["synthesize", "--out", str(tmp_path / "miex"), "--device", device]
    for command in (argv, synthesize):
        assert exit_code(command) == 2
        line = one_error_line(capsys.readouterr().err)
        assert "--device" in line and repr(device) in line and "this machine has: cpu" in line
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "miex").exists()
    with pytest.raises(MiexInputError, match="this machine has: cpu"):
        load_generator("ganimation", checkpoint=trained / "generator", device=device)


# --- a real kill ------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_train_generator_killed_mid_run_resumes_in_its_folder(sample_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = [
        sys.executable,
        "-m",
        "miex",
        "train-generator",
        str(sample_data),
        "--out",
        str(out),
        *TINY,
        "--max-steps",
        "100000",
        "--save-every",
        "1",
    ]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoints" / "step_2" / CHECKPOINT_MANIFEST).is_file():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert output_kind(out) == GENERATOR_KIND
    done = json.loads((out / ".miex" / "output.json").read_text())
    assert done["command"] == "miex train-generator"
    assert train(sample_data, out, "--max-steps", "3", "--resume", "latest") == 0
    assert (out / "generator" / "model.safetensors").is_file()
