"""Nothing lost, nothing leaked: what `miex push` publishes, links inside an output folder,
and which folders a command may write into.

A user's file must never be truncated, replaced, deleted or uploaded because it sits in (or is linked from) a folder
miex writes: each case below plants the user's data where a careless or hostile layout puts it, runs the command,
and checks the data is intact and the refusal names the path.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import face_fixtures as ff
import pytest
from hub_server import serve_hub
from miex_fixtures import folder_bytes, one_error_line
from test_hub import SHARD, build_miex_folder, miex

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.core.fileio import (
    DATASET_KIND,
    FACE_POOL_KIND,
    MARKER_NAME,
    RUN_STATE,
    OutputLock,
    guard_output_folder,
    mark_output,
    output_kind,
)
from miex.data.hub import push_folder, upload_plan

SMALL = ["--expert", "4", "--samples-per-identity", "12", "--shard-size", "4", "--batch-size", "4"]
USER_BYTES = b"the user's own data, never to be touched\n"


pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def cli_pool(tmp_path_factory: pytest.TempPathFactory, miex_cache: Path) -> Path:
    """A face pool made by `miex faces` (one astronaut photo), once per module."""
    root = tmp_path_factory.mktemp("cli_pool")
    ff.save(root / "photos" / "person" / "me.png", ff.astronaut())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(miex_cache))
        assert faces(root / "photos", root / "pool") == 0
    return root / "pool"


@pytest.fixture
def pool(cli_pool: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "pool"
    shutil.copytree(cli_pool, copy, symlinks=True)
    return copy


@pytest.fixture(scope="module")
def made(face_pool: Path, tmp_path_factory: pytest.TempPathFactory, miex_cache: Path) -> Path:
    """A finished MiE-X dataset folder, made once per module by `miex synthesize`."""
    out = tmp_path_factory.mktemp("made") / "miex"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(miex_cache))
        assert main(["synthesize", "--out", str(out), "--faces", str(face_pool), *SMALL]) == 0
    return out


@pytest.fixture
def dataset(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "miex"
    shutil.copytree(made, copy, symlinks=True)
    return copy


@pytest.fixture
def user_data(tmp_path: Path) -> Path:
    """A user's folder outside every output folder: what links point at."""
    folder = tmp_path / "mine"
    (folder / "images").mkdir(parents=True)
    (folder / "notes.txt").write_bytes(USER_BYTES)
    (folder / "sample_grid.png").write_bytes(USER_BYTES)
    (folder / "images" / "holiday.png").write_bytes(USER_BYTES)
    return folder


def synthesize(out: Path, *args: str) -> int:
    return main(["synthesize", "--out", str(out), *args])


def faces(source: Path, out: Path, *args: str) -> int:
    return main(["faces", str(source), "--out", str(out), "--workers", "1", *args])


def plant_link(out: Path, relative: str, target: Path) -> Path:
    """Replace ``out/relative`` (file or folder, when present) by a link to ``target``."""
    link = out / relative
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    elif link.exists() or link.is_symlink():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


# 1. push publishes the dataset's own files only ------------------------------------------------------------------


def test_push_uploads_only_the_datasets_own_files_and_names_the_rest(tmp_path: Path, user_data: Path) -> None:
    folder = tmp_path / "miex"
    build_miex_folder(folder)
    (folder / "plan.parquet").write_bytes(b"PAR1 the rendered plan PAR1")
    (folder / "images").mkdir()
    (folder / "images" / "sample_grid.png").write_bytes(b"grid")
    (folder / "credentials.json").write_text('{"token": "hf_secret"}')
    (folder / "notes").mkdir()
    (folder / "notes" / "todo.txt").write_bytes(USER_BYTES)
    (folder / "images" / "private.png").write_bytes(USER_BYTES)
    (folder / "hostname").symlink_to(user_data / "notes.txt")
    (folder / "linked").symlink_to(user_data, target_is_directory=True)
    with serve_hub(tmp_path) as hub:
        result = miex("push", folder, "--repo", "org/miex", env=hub.env(tmp_path))
        assert result.returncode == 0, result.stderr
        remote = hub.files("org/miex")
    assert set(remote) == {".gitattributes", "README.md", SHARD, "plan.parquet", "images/sample_grid.png"}
    assert USER_BYTES not in remote.values() and not any(b"hf_secret" in data for data in remote.values())
    for left_out in ("credentials.json", "notes/todo.txt", "images/private.png", "hostname", "linked"):
        assert left_out in result.stderr, result.stderr  # the user is told what stayed local


@pytest.mark.parametrize("linked", ["README.md", SHARD, "data", "images/sample_grid.png", "plan.parquet"])
def test_push_refuses_a_link_among_the_datasets_files(tmp_path: Path, user_data: Path, linked: str) -> None:
    folder = tmp_path / "miex"
    build_miex_folder(folder)
    (folder / "images").mkdir()
    (folder / "images" / "sample_grid.png").write_bytes(b"grid")
    (folder / "plan.parquet").write_bytes(b"PAR1")
    moved = tmp_path / "elsewhere"
    shutil.move(folder / linked, moved)
    (folder / linked).symlink_to(moved)
    with pytest.raises(MiexInputError, match="a link among the dataset's own files") as refused:
        upload_plan(folder)
    assert refused.value.file == str(folder / linked)


def test_upload_plan_of_a_model_folder_never_follows_links(tmp_path: Path, user_data: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "secret.txt").symlink_to(user_data / "notes.txt")
    (folder / "mine").symlink_to(user_data, target_is_directory=True)
    files, left_out = upload_plan(folder, "model")
    assert files == ["config.json"] and left_out == ["mine", "secret.txt"]


def test_push_through_a_linked_lock_truncates_nothing(dataset: Path, user_data: Path) -> None:
    plant_link(dataset, f"{RUN_STATE}/lock", user_data / "notes.txt")
    with pytest.raises(MiexInputError, match="a link") as refused:
        push_folder(dataset, "org/miex")  # refused before any Hub request
    assert refused.value.file == str(dataset / RUN_STATE / "lock")
    assert (user_data / "notes.txt").read_bytes() == USER_BYTES


# 2. links inside an output folder ---------------------------------------------------------------------------------

DATASET_LINKS = [
    ".miex",
    ".miex/lock",
    ".miex/shards",
    ".miex/output.json",
    "data",
    "images",
    "README.md",
    "plan.parquet",
    "images/sample_grid.png",
    "data/sub",
]


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("relative", DATASET_LINKS)
def test_synthesize_never_writes_or_deletes_through_a_link(
    dataset: Path, face_pool: Path, user_data: Path, relative: str, overwrite: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    target = user_data / "notes.txt" if Path(relative).suffix or relative.endswith("lock") else user_data
    if relative in (".miex", "data", "images", ".miex/shards"):
        shutil.copytree(dataset / relative, user_data / "copied", dirs_exist_ok=True)  # a plausible folder there
    link = plant_link(dataset, relative, target)
    before = folder_bytes(user_data)
    capsys.readouterr()
    args = ["--faces", str(face_pool), *SMALL, *(["--overwrite"] if overwrite else [])]
    assert synthesize(dataset, *args) == 2
    message = one_error_line(capsys.readouterr().err)
    assert str(link) in message and "link" in message
    assert folder_bytes(user_data) == before


def test_a_fresh_out_whose_lock_is_a_link_is_refused(
    tmp_path: Path, face_pool: Path, user_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fresh"
    plant_link(out, f"{RUN_STATE}/lock", user_data / "notes.txt")
    assert synthesize(out, "--faces", str(face_pool), *SMALL) == 2
    assert f"{out}/.miex/lock" in one_error_line(capsys.readouterr().err)
    assert (user_data / "notes.txt").read_bytes() == USER_BYTES


@pytest.mark.parametrize("relative", [".miex", ".miex/lock", "crops", "crops/person", ".parts", "index.parquet"])
def test_faces_never_writes_or_deletes_through_a_link(
    tmp_path: Path, pool: Path, user_data: Path, relative: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = user_data / "notes.txt" if relative in (".miex/lock", "index.parquet") else user_data / "images"
    link = plant_link(pool, relative, target)
    before = folder_bytes(user_data)
    photos = tmp_path / "photos"
    photos.mkdir()
    for overwrite in ([], ["--overwrite"]):
        code = faces(photos, pool, *overwrite)
        assert folder_bytes(user_data) == before
        assert code == 2
        message = one_error_line(capsys.readouterr().err)
        assert str(link) in message and "link" in message


def test_the_lock_never_opens_a_link_even_when_planted_after_the_check(tmp_path: Path, user_data: Path) -> None:
    out = tmp_path / "out"
    plant_link(out, f"{RUN_STATE}/lock", user_data / "notes.txt")
    lock = OutputLock(out)
    with pytest.MonkeyPatch.context() as patch:  # the check passes, as if the link appeared just after it
        patch.setattr("miex.core.fileio.refuse_links", lambda *args, **kwargs: None, raising=False)
        try:
            with pytest.raises(MiexInputError, match="a link"):
                lock.__enter__()
        finally:
            assert (user_data / "notes.txt").read_bytes() == USER_BYTES


# 3. a folder is a command's own only by its marker ----------------------------------------------------------------


@pytest.mark.parametrize("planted", ["index.parquet", ".parts", ".miex", "dataset marker"])
def test_faces_refuses_a_folder_that_is_not_a_face_pool(
    tmp_path: Path, planted: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p"
    (out / "crops").mkdir(parents=True)
    (out / "crops" / "my_face.png").write_bytes(USER_BYTES)
    (out / "keep.txt").write_bytes(USER_BYTES)
    if planted == "index.parquet":
        (out / "index.parquet").write_bytes(USER_BYTES)
    elif planted == "dataset marker":
        mark_output(out, DATASET_KIND, "miex synthesize")
    else:
        (out / planted).mkdir()
        (out / planted / "options.json").write_bytes(USER_BYTES)
    before = folder_bytes(out)
    photos = tmp_path / "photos"
    photos.mkdir()
    code = faces(photos, out)
    assert folder_bytes(out) == before  # the user's crops/my_face.png and keep.txt are still there
    assert code == 2
    message = one_error_line(capsys.readouterr().err)
    assert "not made by miex faces" in message and "--overwrite" in message and str(out) in message
    if planted == "dataset marker":
        assert f"holds a {DATASET_KIND}" in message


def test_synthesize_refuses_a_face_pool_folder(pool: Path, face_pool: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = folder_bytes(pool)
    code = synthesize(pool, "--faces", str(face_pool), *SMALL)
    assert folder_bytes(pool) == before
    assert code == 2
    message = one_error_line(capsys.readouterr().err)
    assert f"holds a {FACE_POOL_KIND}" in message and "--overwrite" in message
    assert output_kind(pool) == FACE_POOL_KIND


def test_faces_refuses_a_dataset_folder(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = folder_bytes(dataset)
    photos = tmp_path / "photos"
    photos.mkdir()
    code = faces(photos, dataset)
    assert folder_bytes(dataset) == before
    assert code == 2
    assert f"holds a {DATASET_KIND}" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("where", [".", "sub"])
def test_synthesize_out_equal_to_or_inside_its_face_pool_is_refused(
    pool: Path, where: str, overwrite: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    before = folder_bytes(pool)
    out = pool / where
    args = ["--faces", str(pool), *SMALL, *(["--overwrite"] if overwrite else [])]
    code = synthesize(out, *args)
    assert folder_bytes(pool) == before
    assert code == 2
    message = one_error_line(capsys.readouterr().err)
    assert "--out is" in message and "input folder" in message and str(pool) in message


def test_synthesize_marks_its_folder_and_resumes_it(dataset: Path, face_pool: Path) -> None:
    marker = json.loads((dataset / RUN_STATE / MARKER_NAME).read_text())
    assert marker["kind"] == DATASET_KIND and marker["command"] == "miex synthesize"
    before = folder_bytes(dataset / "data")
    assert synthesize(dataset, "--faces", str(face_pool), *SMALL) == 0  # its own folder: resumed, not refused
    assert folder_bytes(dataset / "data") == before
    assert synthesize(dataset, "--faces", str(face_pool), *SMALL, "--shard-size", "6", "--overwrite") == 0
    assert output_kind(dataset) == DATASET_KIND  # --overwrite keeps the marker it clears around


def test_faces_refuses_its_own_source_folder_as_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "me.png").write_bytes(USER_BYTES)
    mark_output(photos, FACE_POOL_KIND, "miex faces")  # even a folder that looks like a pool
    before = folder_bytes(photos)
    assert faces(photos, photos, "--overwrite") == 2
    assert "source folder itself" in one_error_line(capsys.readouterr().err)
    assert folder_bytes(photos) == before


def test_a_second_run_is_refused_with_the_holders_pid_and_leaves_it_there(tmp_path: Path) -> None:
    out = tmp_path / "out"
    holder = f"pid {os.getpid()}"
    with OutputLock(out):
        with pytest.raises(MiexInputError, match=f"another miex run \\({holder}\\) is writing this folder"):
            OutputLock(out).__enter__()
        assert (out / RUN_STATE / "lock").read_text().strip() == holder
    with OutputLock(out):  # released: the next run takes it
        assert (out / RUN_STATE / "lock").read_text().strip() == holder


def test_a_folder_holding_only_a_stale_lock_counts_as_empty(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with OutputLock(out):
        guard_output_folder(out, False, kind=DATASET_KIND, command="miex synthesize")  # no refusal
    (out / RUN_STATE / "other").write_text("x")
    with pytest.raises(MiexInputError, match=r"no \.miex/output\.json marker"):
        guard_output_folder(out, False, kind=DATASET_KIND, command="miex synthesize")
    assert os.path.isfile(out / RUN_STATE / "lock")


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_python_package_is_never_an_output_folder(tmp_path: Path, overwrite: bool) -> None:
    """`miex synthesize` run in a checkout whose source package shares the default output's name must not write into
    (or, with --overwrite, replace) that source: a folder holding __init__.py is refused, --overwrite or not."""
    package = tmp_path / "miex"
    package.mkdir()
    (package / "__init__.py").write_text('"""the source"""\n')
    before = folder_bytes(package)
    with pytest.raises(MiexInputError, match="is a Python package"):
        guard_output_folder(package, overwrite, kind="MiE-X dataset", command="miex synthesize")
    assert folder_bytes(package) == before
