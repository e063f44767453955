"""Docs that match behaviour: every fenced code block of README.md, docs/reference.md and CONTRIBUTING.md is accounted
for in :data:`REGISTRY`, and each one that can run offline runs, here or in the test the registry names.

A block is named by its file and either the HTML comment marker right above it (``<!-- python-example -->``) or the
nearest heading above it and its first line (comment stripped). Verifications:

- ``"runs here"``: a test of this module runs the block verbatim from a temporary folder (bash blocks with
  ``bash -e``, the ``miex`` console script and this interpreter first on PATH; python blocks with this interpreter),
  substituting only what the text marks as the reader's own (``RELEASE/``), a shared absolute path (``/tmp/``) or a
  count or epoch budget (test-sized, as tests/test_readme_flow.py runs the whole flow's ``--expert 500`` with 30);
  Hub lines talk to the loopback Hub of tests/hub_server.py;
- ``"tests/test_x.py::test_name"``: that test runs it, reading it from the doc (the file names the block's marker
  or heading), so a change to the block is what that test runs;
- ``"not offline: <reason>"`` / ``"not run: <reason>"``: it needs the network, or is not a command to run.

A block's entry may also map each command line (comment stripped) to its verification. A new block with no entry,
or an entry for a block that is gone, fails :func:`test_every_doc_block_is_registered`.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ("README.md", "docs/reference.md", "CONTRIBUTING.md")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
MARKER = re.compile(r"(<!--\s*[\w-]+\s*-->)\s*\n$")
RUNS_HERE = "runs here"
NOT_RUN = ("not offline: ", "not run: ")
CI_INSTALLS = "not offline: installs from PyPI; CI runs them (test_the_install_blocks_are_what_ci_runs)"

REGISTRY: dict[str, str | dict[str, str]] = {
    "README.md | <!-- main-command -->": CI_INSTALLS,
    "README.md | <!-- test-command -->": CI_INSTALLS,
    "README.md | ## Load MiE-X: three ways in | from datasets import load_dataset": RUNS_HERE,
    "README.md | <!-- python-example -->": "tests/test_api.py::test_the_readme_python_example_runs",
    "README.md | <!-- first-run-command -->": RUNS_HERE,
    "README.md | ## The whole flow | miex corpus megc2019 DATA/ --out clips.parquet": "tests/test_readme_flow.py::test_the_readme_flow_runs_verbatim",  # noqa: E501 (its NEEDS_MORE: lines it skips; push: here)
    "README.md | ## Real flows: the composite release the field shares | "
    "miex corpus flow-images RELEASE/ --labels LABELS.csv --out flows.parquet": RUNS_HERE,
    "README.md | ## See the motion: magnification and `miex app` | miex app": {
        "miex app": "not run: serves on port 7860 until stopped; tests/test_app.py serves it on a free port",
        "miex app --miex miex/ --recognizer runs/branches/model --faces pool/ --checkpoint ganimation/": "not run: a server, and it needs a trained model and a GANimation checkpoint (tests/test_app.py)",  # noqa: E501
    },
    "README.md | ## See the motion: magnification and `miex app` | miex app --space space/": RUNS_HERE,  # local Hub
    "docs/reference.md | ## Nuisance between onset and apex | "
    "miex synthesize --out /tmp/mx_off --samples-per-identity 120": RUNS_HERE,
    "CONTRIBUTING.md | ## Layout: the data flow is the folder structure | src/miex/": "not run: a folder listing, not code",  # noqa: E501
}


@dataclass(frozen=True)
class Block:
    """One fenced code block of a doc."""

    file: str
    heading: str
    marker: str | None
    lang: str
    body: str

    @property
    def key(self) -> str:
        return f"{self.file} | {self.marker}" if self.marker else f"{self.file} | {self.heading} | {self.lines[0]}"

    @property
    def lines(self) -> list[str]:
        """Its non-empty lines, each without a trailing ``#`` comment (bash) or surrounding blanks."""
        return [command(line) for line in self.body.splitlines() if command(line)]


def command(line: str) -> str:
    """A line without its trailing comment (``  # ...``), stripped."""
    return re.split(r"\s+#\s|^#\s", line, maxsplit=1)[0].strip()


def doc_blocks() -> list[Block]:
    blocks = []
    for name in DOCS:
        text = (ROOT / name).read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            before = text[: match.start()]
            headings = re.findall(r"^#{1,6} .+$", before, re.M)
            marker = MARKER.search(before)
            blocks.append(
                Block(
                    name, headings[-1] if headings else "", marker and marker.group(1), match.group(1), match.group(2)
                )
            )
    return blocks


def doc_block(key: str) -> Block:
    found = [block for block in doc_blocks() if block.key == key]
    assert len(found) == 1, f"{key}: {len(found)} blocks in the docs have this name (see REGISTRY)"
    return found[0]


def runnable_lines(key: str) -> str:
    """The block's text to run: whole when registered ``runs here``, else only its lines registered so."""
    block, entry = doc_block(key), REGISTRY[key]
    if entry == RUNS_HERE:
        return block.body
    assert isinstance(entry, dict)
    return "\n".join(line for line in block.body.splitlines() if entry.get(command(line)) == RUNS_HERE)


# --------------------------------------------------------------------------------------------------------------
# the registry


def test_every_doc_block_is_registered() -> None:
    keys = [block.key for block in doc_blocks()]
    assert len(keys) == len(set(keys)), f"two blocks share a name; add an <!-- marker --> above one: {keys}"
    unregistered = sorted(set(keys) - set(REGISTRY))
    assert not unregistered, f"doc blocks with no REGISTRY entry in tests/test_docs_blocks.py: {unregistered}"
    gone = sorted(set(REGISTRY) - set(keys))
    assert not gone, f"REGISTRY entries that name no doc block (changed or removed?): {gone}"


def verifications() -> list[tuple[Block, str, str]]:
    """(block, line or '', verification) for every registered block and, for per-line entries, every line."""
    found = []
    for block in doc_blocks():
        entry = REGISTRY.get(block.key)
        if isinstance(entry, dict):
            assert sorted(entry) == sorted(block.lines), f"{block.key}: the entry's lines are not the block's lines"
            found += [(block, line, entry[line]) for line in block.lines]
        elif entry is not None:
            found.append((block, "", entry))
    return found


def test_every_verification_is_one_this_module_knows() -> None:
    for block, line, entry in verifications():
        assert entry == RUNS_HERE or entry.startswith(NOT_RUN) or "::" in entry, (block.key, line, entry)
        if entry.startswith(NOT_RUN):
            assert len(entry.split(": ", 1)[1]) > 10, f"{block.key}: say why it is not run"


def test_a_named_test_exists_and_reads_the_block_from_the_doc() -> None:
    named = [(block, entry) for block, _, entry in verifications() if "::" in entry]
    assert named
    for block, entry in named:
        path, name = entry.split("::")
        source = (ROOT / path).read_text(encoding="utf-8")
        functions = {node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)}
        assert name in functions, f"{block.key}: {path} has no test {name}"
        anchor = block.marker or block.heading
        assert anchor in source and block.file in source, (
            f"{block.key}: {path} does not read the block from {block.file} (it never names {anchor!r})"
        )


def test_the_install_blocks_are_what_ci_runs() -> None:
    """CI's .ci/run installs torch 2.13.0 and then runs the test command verbatim, read by its marker; the main
    command's installs are the test command's without the extras, and its one offline command is the first-run
    command's first (run by :func:`test_the_first_run_command`)."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    main, tests = (
        doc_block(f"README.md | <!-- {name} -->").body.strip().split(" && ")
        for name in ("main-command", "test-command")
    )
    assert "sed -n '/^<!-- test-command -->$/" in ci and tests[-1] == "python -m pytest -q"
    assert "ruff check ." in ci and "ruff format --check ." in ci  # CI lints too
    assert main[0] == "pip install torch==2.13.0" and '"torch==2.13.0"' in ci
    assert main[1].replace("-e .", '-e ".[test,app]"') == tests[0] and main[2] == tests[1]
    first_run = doc_block("README.md | <!-- first-run-command -->").body.strip().split(" && ")
    assert main[3:] == first_run[:1] == ["miex synthesize"]
    assert REGISTRY["README.md | <!-- first-run-command -->"] == RUNS_HERE


# --------------------------------------------------------------------------------------------------------------
# running blocks


def bin_dir(tmp_path: Path) -> Path:
    """A folder with ``miex`` (the installed console script, or ``python -m miex`` where none is beside this
    interpreter) and ``python`` (this interpreter)."""
    beside = Path(sys.executable).parent
    if (beside / "miex").is_file() and (beside / "python").is_file():
        return beside
    made = tmp_path / "bin"
    made.mkdir(exist_ok=True)
    (made / "miex").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m miex "$@"\n')
    (made / "miex").chmod(0o755)
    (made / "python").symlink_to(sys.executable)
    return made


def run_block(lang: str, text: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``text`` run as the reader would (bash: stop at the first failing command), from ``cwd``."""
    env = {**(os.environ if env is None else env), "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, "-c", text] if lang == "python" else ["bash", "-e", "-o", "pipefail", "-c", text]
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (text, done.stdout[-3000:], done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done


@pytest.fixture
def work(tmp_path: Path, miex_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder; the embedded face's aligned copy comes from the session cache, flows cache here."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(miex_cache))
    monkeypatch.setenv("MIEX_FLOW_CACHE", str(tmp_path / "flow_cache"))
    monkeypatch.setenv("PATH", f"{bin_dir(tmp_path)}{os.pathsep}{os.environ.get('PATH', '')}")
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def shard_rows(folder: Path) -> int:
    return sum(pq.read_metadata(path).num_rows for path in (folder / "data").glob("*.parquet"))


@pytest.mark.slow
def test_load_miex_three_ways(work: Path) -> None:
    """The README's three ways in: the folder, the Hub repo it was pushed to (the whole flow's ``miex push`` line,
    verbatim, to the loopback Hub) and the builder class on a face pool and AU pool made with the command line."""
    from hub_server import serve_hub
    from test_robust_paths import build_photos

    key = "README.md | ## Load MiE-X: three ways in | from datasets import load_dataset"
    flow = doc_block("README.md | ## The whole flow | miex corpus megc2019 DATA/ --out clips.parquet")
    push = next(line for line in flow.lines if line.startswith("miex push "))
    build_photos(work / "PHOTOS")
    with serve_hub(work.parent) as hub:
        env = {**hub.env(work.parent / "client"), "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]}
        setup = (
            "miex faces PHOTOS/ --out pool/ --workers 1\nmiex au-pool --expert 1 --out au_pool.parquet\n"
            f"miex synthesize --samples-per-identity 6 --size 64\n{push}"
        )
        run_block("bash", setup, work, env)
        before = len(hub.stray)  # the setup's (MediaPipe, in `miex faces`, tries play.googleapis.com: refused)
        check = "\nprint(json.dumps({'rows': len(ds), 'ids': sorted(set(ds['identity'])), 'hub': len(hub)}))"
        code = f"{runnable_lines(key)}\nimport json\nhub = load_dataset('org/miex', split='train'){check}"
        done = run_block("python", code, work, env)
        # the block asked nothing of any other host but the datasets-server lookups `datasets` makes (answered 404)
        assert all("datasets-server." in stray for stray in hub.stray[before:]), hub.stray[before:]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed["hub"] == shard_rows(work / "miex") == 6  # the pushed folder, read back from the Hub
    assert printed["rows"] == 3 * 3 and len(printed["ids"]) == 3  # the builder: 3 pool faces x 3 classes (1 draw)


@pytest.mark.slow
def test_the_first_run_command(work: Path) -> None:
    """``miex synthesize && miex train --recipe miex_heldout_samples`` as shipped: the embedded default, 4 folds x 3
    seeds, results.json and a model card that says what the score means."""
    run_block("bash", runnable_lines("README.md | <!-- first-run-command -->"), work)
    assert shard_rows(work / "miex") == 300
    out = work / "runs" / "miex-heldout-samples"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    scores = results["last_epoch"]["all"]
    assert scores["num_samples"] == 300 and results["protocol"]["folds"] == 4
    assert scores["uf1"]["mean"] > 0.6 and scores["uar"]["mean"] > 0.6, scores  # chance: 0.33
    assert "not a result on real data" in (out / "model" / "README.md").read_text(encoding="utf-8")


SMOKE = "--set protocol.max_folds=2 --set training.epochs=2 --set seeds=[0]"
"""What the README and each recipe's header give for a smoke run of a ``miex train --recipe`` line."""


def sized_for_test(text: str, additions: dict[str, str]) -> str:
    """``text`` with the options ``additions`` gives for the lines that start so, added before each line's comment
    (test-sized counts, as tests/test_readme_flow.py runs the whole flow's ``--expert 500`` with 30)."""
    lines = []
    for line in text.splitlines():
        extra = next((words for start, words in additions.items() if command(line).startswith(start)), None)
        lines.append(line if extra is None else f"{command(line)} {extra}")
    return "\n".join(lines)


@pytest.mark.slow
def test_real_flows(work: Path) -> None:
    """The README's flow-image block on a composite release written by tests/flow_fixtures.py (18 clips, 6
    subjects): the reader's RELEASE/ and LABELS.csv replaced by the fixture's, 24 MiE-X samples, smoke training runs."""
    import flow_fixtures as ffx

    labels = ffx.write_flat(work.parent / "release" / "RELEASE", ffx.composite_clips())
    text = runnable_lines(
        "README.md | ## Real flows: the composite release the field shares | "
        "miex corpus flow-images RELEASE/ --labels LABELS.csv --out flows.parquet"
    )
    assert "RELEASE/" in text and "LABELS.csv" in text
    text = text.replace("RELEASE/", f"{labels.parent / 'RELEASE'}/").replace("LABELS.csv", str(labels))
    run_block(
        "bash", sized_for_test(text, {"miex train ": SMOKE, "miex synthesize ": "--samples-per-identity 24"}), work
    )
    assert pq.read_metadata(work / "flows.parquet").num_rows == 18
    for name in ("real", "miex-finetune", "miex-only"):
        results = json.loads((work / "runs" / f"megc2019-flows-ststnet-{name}" / "results.json").read_text())
        assert results["last_epoch"]["all"]["num_samples"] == 6, name  # 2 folds of 3 clips
    assert shard_rows(work / "miex") == 24 and (work / "miex-flows").is_dir()


@pytest.mark.slow
def test_the_space_commands(work: Path) -> None:
    """``miex app --space space/`` writes the Space folder, and the ``hf`` lines create the Space and upload it, here
    to the loopback Hub: what lands there is the folder, whose README.md holds the Space settings."""
    pytest.importorskip("gradio", reason="the app's optional extra is not installed: pip install -e '.[app]'")
    from hub_server import serve_hub

    text = runnable_lines("README.md | ## See the motion: magnification and `miex app` | miex app --space space/")
    with serve_hub(work.parent) as hub:
        run_block("bash", text, work, hub.env(work.parent / "client"))
        assert not hub.stray, hub.stray
        stored = hub.files("my-lab/miex-demo", "space")
    space = work / "space"
    assert stored["app.py"] == (ROOT / "app.py").read_bytes() == (space / "app.py").read_bytes()
    assert stored["face_landmarker.task"] == (space / "face_landmarker.task").read_bytes()
    assert "sdk: gradio" in stored["README.md"].decode() and "miex/app/ui.py" in stored


@pytest.mark.slow
def test_the_nuisance_statistics_commands(work: Path) -> None:
    """docs/reference.md §Nuisance between onset and apex: two syntheses and the flow-statistics benchmark from the
    repository root (the benchmark's path is relative to it), in a private folder instead of the shared /tmp, 18 pairs
    each (docs: 120)."""
    text = runnable_lines(
        "docs/reference.md | ## Nuisance between onset and apex | "
        "miex synthesize --out /tmp/mx_off --samples-per-identity 120"
    )
    assert text.count("/tmp/") == 4 and text.count("--samples-per-identity 120") == 2
    text = text.replace("/tmp/", f"{work}/").replace("--samples-per-identity 120", "--samples-per-identity 18")
    done = run_block("bash", text, ROOT)
    assert shard_rows(work / "mx_off") == shard_rows(work / "mx_real") == 18
    assert "strain" in done.stdout
