"""`miex train` and `miex eval-generator` show progress, fail early with one line, and leave nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_train_runner import data, datasets_cache, tiny, write_recipe  # noqa: F401 - fixtures and builders

from miex.cli import main
from miex.train.runner.recipe import default_num_workers, parse_recipe

# --------------------------------------------------------------------------------------------------------------
# miex train


@pytest.mark.slow
def test_train_shows_one_step_bar_per_fold_and_stage(
    data: dict[str, Path],  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recipe = tiny(data, tmp_path / "out", stages=[{"name": "finetune", "train": ["real"]}])
    recipe["output"]["final_model"] = False
    path = write_recipe(tmp_path / "r.yaml", recipe)
    assert main(["train", "--recipe", str(path)]) == 0
    bars = capsys.readouterr().err.replace("\r", "\n")
    labels = {line.split(":")[0] for line in bars.splitlines() if "step" in line and "/finetune" in line}
    assert len(labels) == 3, bars  # 3 folds x 1 stage, each its own bar
    assert main(["train", "--recipe", str(path), "--overwrite", "--no-progress"]) == 0
    assert "step/s" not in capsys.readouterr().err.replace("\r", "\n")


def test_default_workers_leave_a_core_and_are_recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for cores, local_world, expected in ((1, 1, 0), (2, 1, 1), (16, 1, 4), (8, 4, 1)):
        monkeypatch.setattr("os.sched_getaffinity", lambda _pid, n=cores: set(range(n)), raising=False)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_world))
        assert default_num_workers() == expected, (cores, local_world)
        recipe = parse_recipe(
            {"model": {"name": "branches"}, "data": {"real": {"clips": "c.parquet"}}, "protocol": {"kind": "loso"}},
            file=tmp_path / "r.yaml",
        )
        assert recipe.stages[0].training.num_workers == expected  # results.json's stages list records it


BAD_RECIPES: dict[str, bytes | None] = {
    "not-yaml.yaml": b"name: [unclosed\n  x: {",
    "list.yaml": b"- a\n- b\n",
    "utf16.yaml": "name: x\n".encode("utf-16"),
    "binary.yaml": bytes(range(256)),
    "folder.yaml": None,  # a folder
}


@pytest.mark.parametrize("name", [*BAD_RECIPES, "missing.yaml", "set-without-equals"])
def test_bad_recipe_inputs_are_one_line_and_exit_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    extra: list[str] = []
    if name == "set-without-equals":
        path.write_text("name: x\n", encoding="utf-8")
        extra = ["--set", "training.epochs"]
    elif name in BAD_RECIPES:
        content = BAD_RECIPES[name]
        path.mkdir() if content is None else path.write_bytes(content)
    assert main(["train", "--recipe", str(path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("miex train: error: ") and len(err.splitlines()) == 1, err
    assert ("--set" in err) if extra else (str(path) in err), err


# --------------------------------------------------------------------------------------------------------------
# miex eval-generator


def _refuse_work(monkeypatch: pytest.MonkeyPatch, *, loading: bool = True) -> None:
    """Fail the test if the evaluation (and, with ``loading``, the generator's loading) starts."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("work started before the inputs were checked")

    monkeypatch.setattr("miex.data.generators.fidelity.evaluate_generator", refuse)
    if loading:
        monkeypatch.setattr("miex.data.generators.load_generator", refuse)


def _bad_faces(tmp_path: Path, kind: str) -> Path:
    folder = tmp_path / kind
    if kind == "missing":
        return folder
    folder.mkdir()
    if kind == "garbage-index":
        (folder / "index.parquet").write_bytes(b"PAR1 not really")
    elif kind == "garbage-image":
        (folder / "face.png").write_bytes(b"\x89PNG broken")
    elif kind == "a-file":
        folder.rmdir()
        folder.write_text("x")
    return folder  # "empty": a folder without index.parquet or images


@pytest.mark.parametrize("kind", ["missing", "empty", "garbage-index", "garbage-image", "a-file"])
def test_eval_generator_bad_faces_fail_at_once(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _refuse_work(monkeypatch)
    faces = _bad_faces(tmp_path, kind)
    out = tmp_path / "reports" / "r.json"
    assert main(["eval-generator", "--generator", "warp", "--faces", str(faces), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("miex eval-generator: error: ") and len(err.splitlines()) == 1, err
    assert str(faces) in err
    assert not (tmp_path / "reports").exists()  # nothing left behind


@pytest.mark.parametrize("where", ["under-a-file", "a-folder", "bad-grid"])
def test_eval_generator_bad_outputs_fail_at_once(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _refuse_work(monkeypatch, loading=False)  # outputs are checked after the (quick) generator load
    (tmp_path / "file").write_text("x")
    extra = {
        "under-a-file": ["--out", str(tmp_path / "file" / "sub" / "r.json")],
        "a-folder": ["--out", str(tmp_path)],
        "bad-grid": ["--out", str(tmp_path / "new" / "r.json"), "--grid", str(tmp_path / "g.xyz")],
    }[where]
    assert main(["eval-generator", "--generator", "warp", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("miex eval-generator: error: ") and len(err.splitlines()) == 1, err
    assert not (tmp_path / "new").exists()


@pytest.mark.slow
def test_eval_generator_creates_the_report_folder_shows_progress_and_exits_quietly(tmp_path: Path) -> None:
    """A real run under ``-X dev``: parents of --out made, a faces x sweeps bar, no MediaPipe noise at exit."""
    from PIL import Image
    from skimage import data as skimage_data

    faces = tmp_path / "faces"
    faces.mkdir()
    Image.fromarray(np.ascontiguousarray(skimage_data.astronaut()[40:210, 140:310])).save(faces / "a.png")
    out = tmp_path / "missing" / "dir" / "r.json"
    command = [
        sys.executable,
        "-X",
        "dev",
        "-m",
        "miex",
        "eval-generator",
        "--generator",
        "warp",
        "--faces",
        str(faces),
        "--out",
        str(out),
        "--intensities",
        "0",
        "5",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert out.is_file() and out.with_suffix(".png").is_file()
    lines = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert any("1 face(s) x 23 sweeps" in line and "46/46" in line for line in lines), lines
    noise = [line for line in lines if not line.startswith("eval-generator")]
    assert not noise, noise  # no "Exception ignored ... TypeError" from MediaPipe, no warnings
    assert not [p for p in out.parent.iterdir() if ".tmp" in p.name]


def test_eval_generator_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("eval-generator", "train"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "examples" in text and f"\n  miex {command} --" in text, text
