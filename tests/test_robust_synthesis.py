"""`miex synthesize` and `miex push` never mix stale work, never overwrite what they did not make, refuse corrupt data.

Resume keyed on content (face pixels, landmarks, generator weights, options), the output-folder guard and
lock, receipt checks before any upload, one-line errors for bad options, bad motion models and full disks, progress.
"""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from miex_fixtures import folder_bytes, one_error_line
from PIL import Image

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.core.fileio import OutputLock
from miex.data.hub import check_folder
from miex.data.synthesis import engine, shards
from miex.data.synthesis.shards import shard_files

SMALL = ["--expert", "4", "--samples-per-identity", "12", "--shard-size", "4", "--batch-size", "4"]


pytestmark = pytest.mark.usefixtures("private_cache")


def crop_of(pool: Path) -> Path:
    name = pq.read_table(pool / "index.parquet", columns=["file"]).column("file")[0].as_py()
    return pool / name


def synthesize(out: Path, *args: str) -> int:
    return main(["synthesize", "--out", str(out), *args])


def shard_bytes(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in shard_files(out)}


def interrupt_after_first_shard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in for a kill: the run stops (Ctrl-C) right after its first finished shard."""
    real = engine.write_shard
    calls = []

    def write_then_stop(*args: Any, **kwargs: Any) -> Any:
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "write_shard", write_then_stop)


# 1. resume by content ---------------------------------------------------------------------------------------------


@pytest.fixture
def two_face_pool(pool_copy: Path) -> Path:
    """The pool plus a second identity: a brighter copy of the crop under its own name."""
    import pyarrow as pa

    index = pq.read_table(pool_copy / "index.parquet")
    first = index.slice(0, 1).to_pylist()[0]
    twin = pool_copy / "crops" / "twin.png"
    pixels = np.asarray(Image.open(crop_of(pool_copy)).convert("RGB")).astype(np.int16)
    Image.fromarray(np.clip(pixels + 12, 0, 255).astype(np.uint8)).save(twin)
    row = {**first, "file": "crops/twin.png", "identity": "twin"}
    index = pa.concat_tables([index, pa.Table.from_pylist([row], schema=index.schema)])
    pq.write_table(index.replace_schema_metadata(index.schema.metadata), pool_copy / "index.parquet")
    return pool_copy


def shards_using(out: Path, face: Path) -> set[str]:
    """Names of the shards whose rows were rendered from ``face``."""
    plan = pq.read_table(out / "plan.parquet", columns=["face"]).column("face").to_pylist()  # named inside the pool
    names = sorted(shard_files(out))
    size = len(plan) // len(names)
    return {names[k // size].name for k, used in enumerate(plan) if face.as_posix().endswith("/" + used)}


def test_a_changed_face_crop_redoes_exactly_the_shards_that_used_it(
    two_face_pool: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "out"
    inputs = ["--faces", str(two_face_pool), *SMALL]
    with monkeypatch.context() as patch:
        interrupt_after_first_shard(patch)
        assert synthesize(out, *inputs) == 130
    assert len(shard_files(out)) == 1  # stopped after one shard
    assert synthesize(out, *inputs) == 0  # resumed
    written = {path.name: path.stat().st_mtime_ns for path in shard_files(out)}

    twin = two_face_pool / "crops" / "twin.png"
    pixels = np.asarray(Image.open(twin).convert("RGB")).astype(np.int16)
    Image.fromarray(np.clip(pixels + 25, 0, 255).astype(np.uint8)).save(twin)  # same path, same plan: new pixels
    caplog.clear()
    assert synthesize(out, *inputs) == 0
    assert "face pixels or landmarks changed" in caplog.text
    fresh = tmp_path / "fresh"
    assert synthesize(fresh, *inputs) == 0
    assert shard_bytes(out) == shard_bytes(fresh)  # no old render survives
    redone = {path.name for path in shard_files(out) if path.stat().st_mtime_ns != written[path.name]}
    assert redone == shards_using(out, twin) and 0 < len(redone) < len(written)  # and only those


def test_another_plan_in_the_same_folder_is_refused_until_overwrite(
    pool_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert synthesize(out, "--faces", str(pool_copy), *SMALL) == 0
    kept = shard_bytes(out)
    capsys.readouterr()
    other = [*SMALL[:-4], "--shard-size", "4", "--batch-size", "4", "--seed", "7"]
    assert synthesize(out, "--faces", str(pool_copy), *other) == 2
    message = one_error_line(capsys.readouterr().err)
    assert "the plan rows changed" in message and "--overwrite" in message
    assert shard_bytes(out) == kept
    assert synthesize(out, "--faces", str(pool_copy), *other, "--overwrite") == 0
    assert shard_bytes(out) != kept


def test_changed_landmarks_alone_redo_the_shards(pool_copy: Path, tmp_path: Path) -> None:
    import pyarrow as pa

    out = tmp_path / "out"
    inputs = ["--faces", str(pool_copy), *SMALL]
    assert synthesize(out, *inputs) == 0
    index = pq.read_table(pool_copy / "index.parquet")
    moved = [[value + 0.5 for value in row] for row in index.column("landmarks").to_pylist()]
    column = index.schema.get_field_index("landmarks")
    index = index.set_column(column, index.schema.field(column), pa.array(moved, index.schema.field(column).type))
    pq.write_table(index, pool_copy / "index.parquet")
    written = shard_bytes(out)
    assert synthesize(out, *inputs) == 0
    assert shard_bytes(out) != written  # the warp moves landmarks: new landmarks, new frames


def test_a_retrained_checkpoint_at_the_same_path_is_not_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import torch

    from miex.data.generators.ganimation.model import GANimationNetwork

    checkpoint = tmp_path / "generator"
    torch.manual_seed(0)
    GANimationNetwork(width=8, num_residual_blocks=1, image_size=32).save_pretrained(checkpoint)
    inputs = [
        "--generator",
        "ganimation",
        "--checkpoint",
        str(checkpoint),
        "--size",
        "32",
        "--device",
        "cpu",
        "--samples-per-identity",
        "6",
        "--shard-size",
        "2",
        "--batch-size",
        "2",
    ]
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        interrupt_after_first_shard(patch)
        assert synthesize(out, *inputs) == 130
    torch.manual_seed(1)
    GANimationNetwork(width=8, num_residual_blocks=1, image_size=32).save_pretrained(checkpoint)
    caplog.clear()
    assert synthesize(out, *inputs) == 0  # every shard used the old weights: all rendered again
    assert "generator weights changed" in caplog.text
    fresh = tmp_path / "fresh"
    assert synthesize(fresh, *inputs) == 0
    assert shard_bytes(out) == shard_bytes(fresh)


def test_weights_digest_follows_the_tensors_not_the_path() -> None:
    import torch

    from miex.data.generators.ganimation.model import GANimationNetwork
    from miex.data.generators.ganimation.pipeline import GANimationGenerator
    from miex.data.generators.warp import WarpGenerator

    torch.manual_seed(0)
    model = GANimationNetwork(width=8, num_residual_blocks=1, image_size=32)
    first = engine.weights_digest(GANimationGenerator(model, checkpoint="a", device="cpu"))
    assert first == engine.weights_digest(GANimationGenerator(model, checkpoint="b", device="cpu"))
    with torch.no_grad():
        weight = next(model.parameters())
        weight[(0,) * weight.ndim] += 1e-3
    assert engine.weights_digest(GANimationGenerator(model, checkpoint="a", device="cpu")) != first
    assert engine.weights_digest(WarpGenerator()) is None  # its config holds the motion model's digest


# 2. output folder guard and lock ----------------------------------------------------------------------------------


@pytest.fixture
def user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "myproj"
    (folder / "images").mkdir(parents=True)
    (folder / "README.md").write_text("# my project\n")
    (folder / "plan.parquet").write_bytes(b"my own plan")
    (folder / "images" / "sample_grid.png").write_bytes(b"my own picture")
    return folder


def test_a_folder_miex_did_not_make_is_refused_untouched(
    user_folder: Path, pool_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = folder_bytes(user_folder)
    assert synthesize(user_folder, "--faces", str(pool_copy), *SMALL) == 2
    message = one_error_line(capsys.readouterr().err)
    assert "not made by miex" in message and "--overwrite" in message and str(user_folder) in message
    assert folder_bytes(user_folder) == before
    assert not (user_folder / ".miex").exists()
    assert synthesize(user_folder, "--faces", str(pool_copy), *SMALL, "--overwrite") == 0
    assert (user_folder / "README.md").read_text() != "# my project\n"


def test_out_naming_a_file_or_a_path_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    assert synthesize(blocker, *SMALL) == 2
    assert "names a file" in one_error_line(capsys.readouterr().err)
    assert synthesize(blocker / "sub", "--samples-per-identity", "3") == 1
    assert "not a folder" in one_error_line(capsys.readouterr().err)
    assert blocker.read_text() == "keep me"


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_second_run_on_a_locked_folder_is_refused(
    tmp_path: Path, pool_copy: Path, capsys: pytest.CaptureFixture[str], overwrite: bool
) -> None:
    out = tmp_path / "out"
    assert synthesize(out, "--faces", str(pool_copy), *SMALL) == 0
    before = folder_bytes(out)
    capsys.readouterr()
    with OutputLock(out):  # stands for another run writing this folder
        extra = ["--overwrite", "--shard-size", "6"] if overwrite else []
        assert synthesize(out, "--faces", str(pool_copy), *SMALL, *extra) == 2
    assert "another miex run" in one_error_line(capsys.readouterr().err)
    after = folder_bytes(out)
    assert {k: v for k, v in after.items() if k != ".miex/lock"} == {
        k: v for k, v in before.items() if k != ".miex/lock"
    }


def test_overwrite_keeps_the_lock_file_it_holds(tmp_path: Path, pool_copy: Path) -> None:
    out = tmp_path / "out"
    assert synthesize(out, "--faces", str(pool_copy), *SMALL) == 0
    assert synthesize(out, "--faces", str(pool_copy), *SMALL, "--shard-size", "6", "--overwrite") == 0
    assert (out / ".miex" / "lock").is_file()
    assert len(shard_files(out)) == 2


# 3. push verifies receipts ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def made(face_pool: Path, tmp_path_factory: pytest.TempPathFactory, miex_cache: Path) -> Path:
    out = tmp_path_factory.mktemp("made") / "miex"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(miex_cache))
        assert synthesize(out, "--faces", str(face_pool), *SMALL) == 0
    return out


@pytest.fixture
def folder(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "miex"
    shutil.copytree(made, copy)
    return copy


def flip_bit(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position % len(data)] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["truncated", "zero-byte", "bit-flipped"])
def test_push_refuses_a_damaged_shard_before_any_request(
    folder: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_folder(folder)  # intact: accepted
    shard = shard_files(folder)[1]
    if damage == "truncated":
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    elif damage == "zero-byte":
        shard.write_bytes(b"")
    else:
        flip_bit(shard, shard.stat().st_size // 2)
    assert main(["push", str(folder), "--repo", "org/miex"]) == 2
    message = one_error_line(capsys.readouterr().err)
    assert shard.name in message and "corrupt shard" in message and "miex synthesize" in message


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(min_value=0, max_value=10**9))
def test_any_single_bit_flip_is_refused(folder: Path, position: int) -> None:
    shard = shard_files(folder)[0]
    original = shard.read_bytes()
    try:
        flip_bit(shard, position)
        with pytest.raises(MiexInputError, match="corrupt shard"):
            check_folder(folder)
    finally:
        shard.write_bytes(original)


def test_push_refuses_a_stray_data_file_without_receipt(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stray = folder / "data" / "train-extra.parquet"
    shutil.copy(shard_files(folder)[0], stray)
    assert main(["push", str(folder), "--repo", "org/miex"]) == 2
    message = one_error_line(capsys.readouterr().err)
    assert "train-extra.parquet" in message and "no receipt" in message


def test_push_refuses_a_card_that_miscounts_the_shards(folder: Path) -> None:
    card = folder / "README.md"
    card.write_text(card.read_text().replace("num_examples: 12", "num_examples: 13"))
    with pytest.raises(MiexInputError, match="card counts 13 train rows but the shards hold 12"):
        check_folder(folder)


def test_a_repaired_folder_passes_again(folder: Path, face_pool: Path) -> None:
    flip_bit(shard_files(folder)[2], 100)
    with pytest.raises(MiexInputError, match="corrupt shard"):
        check_folder(folder)
    assert synthesize(folder, "--faces", str(face_pool), *SMALL) == 0  # the advice the message gives
    assert check_folder(folder)


# 4. clean errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["0", "-3"])
def test_a_shard_size_below_one_is_one_line(tmp_path: Path, size: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert synthesize(out, "--shard-size", size) == 2
    assert "--shard-size must be a whole number of at least 1" in one_error_line(capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "not found"),
        ("{not json", "not readable JSON"),
        ("[1, 2]", "must be a table"),
        ('{"aus": {"AU01": 5}}', "field 'aus.AU01': must be a list"),
        ('{"aus": {"AU01": [{"landmarks": [1], "shift": [1, 2]}]}, "eyelids": 3}', "field 'eyelids': must be a table"),
    ],
)
def test_a_bad_warp_model_is_one_line(
    tmp_path: Path, content: str | None, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "motion.json"
    if content is not None:
        model.write_text(content)
    out = tmp_path / "out"
    assert synthesize(out, "--warp-model", str(model), *SMALL) == 2
    message = one_error_line(capsys.readouterr().err)
    assert expected in message and str(model) in message
    assert not out.exists()


def test_a_full_disk_leaves_no_partial_shard(
    tmp_path: Path, pool_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = shards.pq.write_table

    def fill_the_disk(table: Any, where: Any, **options: Any) -> None:
        if shards.STAGING_DIR in Path(where).parts and "00001" in Path(where).name:
            Path(where).write_bytes(b"PAR1 half a shard")
            raise OSError(errno.ENOSPC, "No space left on device", str(where))
        real(table, where, **options)

    monkeypatch.setattr(shards.pq, "write_table", fill_the_disk)
    out = tmp_path / "out"
    assert synthesize(out, "--faces", str(pool_copy), *SMALL) == 1
    assert "disk is full" in one_error_line(capsys.readouterr().err)
    assert [p.name for p in (out / "data").iterdir()] == ["train-00000-of-00003.parquet"]  # only whole shards
    assert not any((out / ".miex" / "staging").iterdir())
    monkeypatch.setattr(shards.pq, "write_table", real)
    assert synthesize(out, "--faces", str(pool_copy), *SMALL) == 0  # space freed: the run resumes
    assert len(shard_files(out)) == 3


def test_engine_config_refuses_impossible_settings() -> None:
    for field in ("shard_size", "batch_size", "size"):
        with pytest.raises(MiexInputError, match="at least 1"):
            engine.EngineConfig(**{field: 0})


# 5. progress ------------------------------------------------------------------------------------------------------


def test_face_check_shard_verification_and_card_show_progress(
    tmp_path: Path, pool_copy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for module in ("faces", "engine", "card"):  # every bar of a synthesis run shows at once
        monkeypatch.setattr(f"miex.data.synthesis.{module}.PROGRESS_DELAY_S", 0)
    out = tmp_path / "out"
    assert synthesize(out, "--faces", str(pool_copy), *SMALL) == 0
    assert synthesize(out, "--faces", str(pool_copy), *SMALL) == 0  # resumed: every shard verified
    err = capsys.readouterr().err
    for step in ("check faces", "verify shards", "dataset card"):
        assert step in err, err[-2000:]
    run = json.loads((out / ".miex" / "run.json").read_text())
    assert set(run["parts"]) == set(engine.RUN_PARTS)
