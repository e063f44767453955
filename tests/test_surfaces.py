"""The surfaces a user meets before any work runs: ``--help`` of every command, ``miex train --list-recipes``,
``help(miex)``; ``miex train``'s input checks before the model stack loads; and the README's launch lines, which
start the command line as modules (``-m``) from any folder.

Speed is measured by ``benchmarks/bench_help_latency.py``, never asserted here: these tests check what makes it (the
surfaces load no torch, transformers, datasets, accelerate, mediapipe or gradio) and that the lazy names still
resolve to the same API.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import os
import pickle
import pydoc
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import corpus_fixtures as cf
import datasets
import miex_fixtures as mf
import pytest
from test_train_runner import MIE_SUBJECTS, composite_clips, tiny, write_recipe

import miex
from miex.cli import COMMANDS, main
from miex.core.errors import MiexInputError
from miex.train.runner import parse_recipe, run
from miex.train.runner.inputs import check_inputs

ROOT = Path(__file__).resolve().parents[1]
MODEL_STACK = ("torch", "transformers", "datasets", "accelerate", "evaluate", "mediapipe", "gradio")
"""What no help surface may import: each costs seconds, and none is needed to print options."""
SMALL = ["--samples-per-identity", "24", "--shard-size", "8", "--batch-size", "4"]
"""The 2-rank synthesis size of tests/test_synthesis.py."""


def repo_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess started outside the checkout: the package found as an install would be."""
    path = os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **extra}


def python(code: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env or repo_env(), capture_output=True, text=True, timeout=300
    )


# --------------------------------------------------------------------------------------------------------------
# help surfaces load nothing heavy

SURFACES_PROBE = """
import contextlib, io, json, pydoc, sys
from miex.cli import COMMANDS, main
stack = {stack!r}
surfaces = [["--help"], *([c.name, "--help"] for c in COMMANDS), ["train", "--list-recipes"], "help(miex)"]
loaded = {{}}
for surface in surfaces:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if surface == "help(miex)":
            import miex
            help(miex)
            code = 0
        else:
            try:
                code = main(surface)
            except SystemExit as stop:
                code = stop.code
    label = surface if isinstance(surface, str) else "miex " + " ".join(surface)
    new = [m for m in stack if m in sys.modules and not any(m in v["stack"] for v in loaded.values())]
    loaded[label] = {{"code": code, "printed": len(out.getvalue()), "stack": new}}
print(json.dumps(loaded))
"""


def test_help_surfaces_load_no_model_stack(tmp_path: Path) -> None:
    """Every ``--help``, ``--list-recipes`` and ``help(miex)``, in one fresh interpreter: the first surface that
    pulls in torch (or another part of the model stack) is named."""
    done = python(SURFACES_PROBE.format(stack=MODEL_STACK), tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    surfaces = json.loads(done.stdout)
    assert len(surfaces) == len(COMMANDS) + 3
    for label, seen in surfaces.items():
        assert seen["code"] == 0 and seen["printed"] > 200, (label, seen)
        assert seen["stack"] == [], f"{label} imports {seen['stack']}"


def test_help_miex_documents_every_public_name() -> None:
    text = pydoc.render_doc(miex, renderer=pydoc.plaintext)
    for name in miex.__all__:
        if name != "__version__":
            shown = (f"\n    {name}(", f"\n    {name} = ", f"class {name}(")  # a function, an alias, a class
            assert any(form in text for form in shown), f"help(miex) lacks {name}"
    assert "Train recognizer family ``model`` on ``train``" in text  # train_recognizer's docstring
    assert "What :func:`train_recognizer` trained and measured" in text  # TrainResult's


def test_train_recognizer_is_the_real_function_behind_a_light_front() -> None:
    """``miex.train_recognizer`` shows the real signature and docstring before torch loads and calls the real
    function: its argument checks answer."""
    from miex.train.api import TrainResult, train_recognizer

    front = miex.train_recognizer
    assert inspect.signature(front) == inspect.signature(train_recognizer)
    assert inspect.cleandoc(front.__doc__) == inspect.cleandoc(train_recognizer.__doc__)
    assert front.__name__ == "train_recognizer" and pickle.loads(pickle.dumps(front)) is front
    assert miex.TrainResult is TrainResult
    unlabelled = datasets.Dataset.from_dict({"onset": [0], "apex": [0]})
    with pytest.raises(MiexInputError, match="ClassLabel"):
        front(unlabelled, model="branches")


def test_the_runner_exports_run_the_function_whichever_import_comes_first(tmp_path: Path) -> None:
    """``miex.train.runner.run`` is both a submodule and the function the package exports: importing the submodule
    first must not turn the package's ``run`` into the module."""
    code = (
        "import sys, types\n"
        "import miex.train.runner as package\n"
        "light = 'torch' not in sys.modules\n"
        "from miex.train.runner.run import preflight\n"
        "from miex.train.runner import run\n"
        "print(light, isinstance(run, types.FunctionType), package.run is run, run.__module__,\n"
        "      package.preflight is preflight, type(sys.modules['miex.train.runner.run']).__name__)\n"
    )
    done = python(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "True", "True", "miex.train.runner.run", "True", "module"]


# --------------------------------------------------------------------------------------------------------------
# miex train: inputs first

GUARDED_TRAIN = """
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args[1:2]))
    raise OSError("network refused by the test")
socket.socket.connect = refuse
socket.getaddrinfo = refuse
from miex.cli import main
code = main(["train", "--recipe", "table1_branches_compmie"])
print(json.dumps({{"code": code, "attempts": attempts, "stack": [m for m in {stack!r} if m in sys.modules]}}))
"""


def test_a_missing_clip_table_is_reported_before_any_model_or_network(tmp_path: Path) -> None:
    """The shipped recipe names a Hub backbone; in a folder without clips.parquet, `miex train` says so (exit 2)
    with no connection attempted and without importing transformers, so no backbone load could have started."""
    env = {k: v for k, v in repo_env().items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    done = python(GUARDED_TRAIN.format(stack=MODEL_STACK), tmp_path, env)
    assert done.returncode == 0, done.stderr[-3000:]
    outcome = json.loads(done.stdout)
    assert outcome == {"code": 2, "attempts": [], "stack": []}, outcome
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("miex train: error: clips.parquet, field 'data.real.clips': clip table not found"), line
    assert "miex corpus" in line and "--set data.real.clips=PATH" in line


def test_every_unusable_input_is_named_in_one_error(tmp_path: Path) -> None:
    (tmp_path / "miex").mkdir()  # made, but nothing synthesized into it
    (tmp_path / "ck.parquet").write_text("not parquet")
    recipe = parse_recipe(
        {
            "model": {"name": "branches"},
            "protocol": {"kind": "loso"},
            "data": {
                "real": {"clips": str(tmp_path / "gone.parquet")},
                "miex": str(tmp_path / "miex"),
                "extra": {"ck": {"clips": str(tmp_path / "ck.parquet")}},
            },
        },
        file=tmp_path / "r.yaml",
    )
    with pytest.raises(MiexInputError) as caught:
        check_inputs(recipe)
    message = str(caught.value)
    assert message.startswith("3 input files of the recipe are unusable")
    assert "field 'data.real.clips': clip table not found" in message
    assert "field 'data.extra.ck.clips': not a readable clip table" in message
    assert "field 'data.miex': the MiE-X folder is empty" in message


def test_the_runner_reads_the_data_before_it_builds_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From Python (``miex.train.runner.run``), too, a missing clip table is found before any backbone is loaded."""

    def no_model(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a model was built before the data was read")

    monkeypatch.setattr(importlib.import_module("miex.train.runner.checks"), "create_model", no_model)
    recipe = parse_recipe(
        {
            "model": {"name": "branches", "backbone": "microsoft/resnet-18"},
            "protocol": {"kind": "loso"},
            "data": {"real": {"clips": str(tmp_path / "gone.parquet")}},
        },
        file=tmp_path / "r.yaml",
    )
    with pytest.raises(MiexInputError, match="clip table not found"):
        run(recipe, check=True)


# --------------------------------------------------------------------------------------------------------------
# launch lines work from any folder


def readme_flow_line(prefix: str) -> list[str]:
    """The words of the README's whole-flow line that starts with ``prefix`` (comment stripped)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("## The whole flow") :]
    block = block[block.index("```bash") + 7 : block.index("```", block.index("```bash") + 7)]
    lines = [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"the README's whole flow has {len(lines)} line(s) starting {prefix!r}"
    return lines[0]


def launcher(words: list[str], until: str) -> list[str]:
    """``words`` up to and including ``until``, the launcher started as ``python -m`` (nothing depends on PATH)."""
    module = {"torchrun": ["torch.distributed.run"], "accelerate": ["accelerate.commands.launch"]}[words[0]]
    rest = words[1:] if words[0] == "torchrun" else words[2:]  # accelerate's "launch" is the module's job
    return [sys.executable, "-m", *module, *rest[: rest.index(until) + 1]]


def shard_bytes(out: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted((out / "data").glob("*.parquet"))]


@pytest.fixture
def one_rank(miex_cache: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The embedded default at the 2-rank test's size, synthesized in this process."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(miex_cache))
    out = tmp_path_factory.mktemp("one_rank") / "miex"
    assert main(["synthesize", "--out", str(out), *SMALL]) == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize("prefix", ["torchrun", "accelerate launch -m miex synthesize"])
def test_the_readme_synthesis_launch_lines_run_from_another_folder(
    prefix: str, one_rank: Path, miex_cache: Path, tmp_path: Path
) -> None:
    """The README's launch lines (their launcher and module, this test's inputs) from a folder outside the checkout
    write the bytes one process writes: 2 ranks under torchrun, all devices (here: one CPU process) under
    accelerate."""
    command = launcher(readme_flow_line(prefix), until="synthesize")
    assert command[command.index("-m", 3) : command.index("-m", 3) + 2] == ["-m", "miex"]
    done = subprocess.run(
        [*command, "--out", "launched", *SMALL],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=repo_env(XDG_CACHE_HOME=str(miex_cache)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert shard_bytes(tmp_path / "launched") == shard_bytes(one_rank)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tests/test_train_runner.py's tiny corpus and MiE-X (27 clips of 9 subjects, 32 px MiE-X)."""
    root = tmp_path_factory.mktemp("launch_data")
    megc = cf.build_composite(root / "megc", composite_clips())
    assert main(["corpus", "megc2019", str(megc), "--out", str(root / "compmie.parquet")]) == 0
    mf.build_miex(root / "miex", MIE_SUBJECTS, size=32)
    return {"clips": root / "compmie.parquet", "miex": root / "miex"}


@pytest.mark.slow
def test_the_train_help_torchrun_line_runs_from_another_folder(tiny_data: dict[str, Path], tmp_path: Path) -> None:
    """``miex train --help``'s torchrun line (2 ranks, ``-m miex train``) trains a tiny recipe from a folder outside
    the checkout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["train", "--help"])
    (line,) = [line for line in out.getvalue().splitlines() if line.strip().startswith("torchrun")]
    words = shlex.split(line, comments=True)
    assert words[-5:] == ["-m", "miex", "train", "--recipe", "R.yaml"], words
    smoke = {"protocol.max_folds": 1, "output.final_model": False}
    recipe = write_recipe(tmp_path / "R.yaml", tiny(tiny_data, tmp_path / "run", **smoke))
    done = subprocess.run(
        [*launcher(words, until="train"), "--recipe", recipe.name, "--no-progress"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=repo_env(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["world_size"] == 2 and results["last_epoch"]["all"]["num_samples"] > 0


def test_the_readme_flow_is_the_flow_miex_help_shows() -> None:
    """One declaration of the whole flow (``miex.cli.FLOW``): the README's block is it, line for line, and
    ``miex --help`` prints it, so neither can drift from the other."""
    from miex.cli import EPILOG, flow_lines

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("## The whole flow") :]
    block = block[block.index("```bash\n") + len("```bash\n") :]
    assert block[: block.index("```")].splitlines() == flow_lines()
    assert "\n".join(flow_lines("  ")) in EPILOG
