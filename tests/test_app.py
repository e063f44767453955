"""`miex app` in a real browser: Debian's Chromium, driven by Playwright, against the app served by a subprocess
(``python -m miex app``) on a free loopback port, fully offline.

One server and one browser serve the three browser tests (moving an AU slider re-renders the apex; browsing a
synthesized MiE-X and filtering it by class; classifying a pair with a tiny saved recognizer). Each writes full-page
screenshots to ``$MIEX_ARTEFACTS`` (default ``tests/artefacts/``) for a reviewer. The app's logic is also tested
without a browser, and ``miex app --help`` / the missing-extra error without Gradio.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ARTEFACTS = Path(os.environ.get("MIEX_ARTEFACTS") or ROOT / "tests" / "artefacts")
TINY_RESNET: dict[str, Any] = {"hidden_sizes": [8, 16, 16, 16], "embedding_size": 8}
SAMPLES = 12
START_TIMEOUT = 120.0
"""Seconds for the server to answer: importing torch and Gradio on a busy 2-core machine."""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


REQUIRE_BROWSER = "MIEX_REQUIRE_BROWSER"
"""Set (to 1) by .ci/run: there a missing browser stack fails the browser tests instead of skipping them."""


def needs_browser() -> None:
    """Skip (with the reason) where the browser stack is absent; fail instead under CI (:data:`REQUIRE_BROWSER`),
    which installs all three (.ci/run, README), so a broken install never passes as skipped tests."""
    missing = [
        reason
        for module, reason in [
            ("gradio", "the app's optional extra is not installed: pip install -e '.[app]'"),
            ("playwright.sync_api", "playwright is not installed: pip install -e '.[test]'"),
        ]
        if importlib.util.find_spec(module.split(".")[0]) is None
    ]
    if chromium() is None:
        missing.append("Debian's chromium is not installed: apt-get install chromium")
    if missing and os.environ.get(REQUIRE_BROWSER) == "1":
        pytest.fail(f"{REQUIRE_BROWSER}=1 but {'; '.join(missing)}")
    if missing:
        pytest.skip("; ".join(missing))


# --- without a browser -------------------------------------------------------------------------------------------


def test_help_says_how_to_run_it_locally_and_as_a_space() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "miex", "app", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    for text in (
        "--port",
        "--miex",
        "--recognizer",
        "--faces",
        "--checkpoint",
        "--share",
        "Space",
        "app.py",
        "miex[app]",
    ):
        assert text in done.stdout, text


@pytest.mark.parametrize("required", [False, True])
def test_a_missing_browser_skips_locally_and_fails_under_ci(required: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv(REQUIRE_BROWSER, "1" if required else "0")
    outcome = pytest.fail.Exception if required else pytest.skip.Exception
    with pytest.raises(outcome, match="chromium is not installed"):
        needs_browser()


def test_without_gradio_the_command_names_the_extra(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from miex.cli import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` raises ImportError
    for name in ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_DISABLE_TELEMETRY"):  # set by the app; restored afterwards
        monkeypatch.setenv(name, "unset")
    assert main(["app", "--port", "7999"]) == 2
    assert "pip install 'miex[app]'" in capsys.readouterr().err


def test_space_options_come_from_its_variables() -> None:
    from miex.app import AppOptions

    options = AppOptions.from_env(
        {"MIEX_APP_MIEX": "org/miex", "MIEX_APP_RECOGNIZER": " org/model ", "MIEX_APP_FACES": ""}
    )
    assert (options.miex, options.recognizer, options.faces, options.checkpoint) == (
        "org/miex",
        "org/model",
        None,
        None,
    )
    assert options.share is False and options.host is None  # a Space sets GRADIO_SERVER_NAME itself


def test_space_folder_holds_entry_packages_settings_and_bundle(tmp_path: Path) -> None:
    import yaml

    pytest.importorskip("gradio", reason="the app's optional extra is not installed: pip install -e '.[app]'")
    from miex.app.space import ENTRY_SOURCE, write_space

    assert (ROOT / "app.py").read_text(encoding="utf-8") == ENTRY_SOURCE, "app.py and its copy in space.py differ"
    folder = write_space(tmp_path / "space")
    assert (folder / "app.py").read_text(encoding="utf-8") == ENTRY_SOURCE
    assert (folder / "miex" / "app" / "ui.py").is_file() and (folder / "miex" / "train" / "models").is_dir()
    assert (folder / "miex" / "data" / "sources" / "expert_table.json").is_file()  # package data travels too
    assert not list(folder.rglob("__pycache__"))
    assert (folder / "face_landmarker.task").stat().st_size > 1_000_000
    wanted = (folder / "requirements.txt").read_text(encoding="utf-8").split()
    assert "torch>=2.13" in wanted and "mediapipe>=0.10" in wanted
    assert not [line for line in wanted if line.startswith(("pytest", "ruff", "gradio"))]
    settings = yaml.safe_load((folder / "README.md").read_text(encoding="utf-8").split("---")[1])
    assert settings["sdk"] == "gradio" and settings["app_file"] == "app.py" and settings["sdk_version"]
    (folder / "requirements.txt").write_text("stale\n", encoding="utf-8")
    assert write_space(folder) == folder  # its own Space: rewritten in place
    assert "torch>=2.13" in (folder / "requirements.txt").read_text(encoding="utf-8")


def test_the_space_folder_never_replaces_other_files(tmp_path: Path) -> None:
    """A folder of the user's own files (or another kind of miex output) is refused unless --overwrite; a Space
    inside the packages it copies is always refused."""
    pytest.importorskip("gradio", reason="the app's optional extra is not installed: pip install -e '.[app]'")
    from miex.app.space import write_space
    from miex.core.errors import MiexInputError

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.md").write_text("my notes\n", encoding="utf-8")
    with pytest.raises(MiexInputError, match="not made by miex app --space"):
        write_space(mine)
    assert (mine / "README.md").read_text(encoding="utf-8") == "my notes\n"
    assert write_space(mine, overwrite=True) == mine and (mine / "app.py").is_file()
    with pytest.raises(MiexInputError, match="inside the input folder"):
        write_space(ROOT / "src" / "miex" / "data" / "space_here")
    assert not (ROOT / "src" / "miex" / "data" / "space_here").exists()


def test_prototypes_are_the_expert_sources_expected_apex() -> None:
    from miex.app.generate import INTENSITY_RANGES, prototype
    from miex.data.aus.schema import AU_INDEX
    from miex.data.sources.expert import MACRO_INTENSITY, MICRO_INTENSITY, load_expert_table

    assert INTENSITY_RANGES == {"micro": MICRO_INTENSITY, "macro": MACRO_INTENSITY}
    table = load_expert_table()
    happiness = prototype("happiness", "micro")
    assert happiness[AU_INDEX["AU12"]] == pytest.approx(1.0 * 1.0)  # always on, mean of U(0.5, 1.5)
    assert happiness[AU_INDEX["AU06"]] == pytest.approx(table["happiness"]["AU06"] * 1.0)
    assert np.count_nonzero(happiness) == len(table["happiness"])
    assert prototype("surprise", "macro")[AU_INDEX["AU01"]] == pytest.approx(2.75)


def test_an_uploaded_photo_is_aligned_and_animated(tmp_path: Path) -> None:
    from skimage import data

    from miex.app.generate import Animator, au_vector, face_from_photo
    from miex.core.errors import MiexInputError
    from miex.data.aus.schema import AU_INDEX
    from miex.data.faces.align import TEMPLATE, stable_points
    from miex.data.generators.ganimation import GANimationNetwork

    face = face_from_photo(data.astronaut())
    assert face.rgb.shape == (128, 128, 3) and face.landmarks.shape == (478, 2)
    assert (
        np.abs(stable_points(face.landmarks) - TEMPLATE * 128).max() < 3
    )  # eyes, nose, mouth where `miex faces` puts them
    with pytest.raises(MiexInputError, match="no face"):
        face_from_photo(np.full((200, 200, 3), 90, np.uint8))

    smile = au_vector([0.0] * 17)
    smile[AU_INDEX["AU12"]] = 3.0
    onset, apex = Animator("warp").frames(face, np.zeros(17, np.float32), smile)
    assert onset.shape == apex.shape == (128, 128, 3) and onset.dtype == np.uint8
    assert np.abs(apex.astype(int) - onset.astype(int)).mean() > 0.5

    GANimationNetwork(width=8, num_residual_blocks=1, image_size=32).save_pretrained(tmp_path / "ganimation")
    onset, apex = Animator("ganimation", str(tmp_path / "ganimation")).frames(face, np.zeros(17, np.float32), smile)
    assert onset.shape == apex.shape == (32, 32, 3)  # the face is resized to the checkpoint's size


def test_browser_filters_by_class_source_and_identity(tmp_path: Path) -> None:
    from miex_fixtures import build_miex

    from miex.app.browse import open_miex
    from miex.data.aus.schema import AU_NAMES

    folder = build_miex(tmp_path / "miex", [("casme2", "sub01")], identities=2)
    browser = open_miex(str(folder))
    assert browser.classes == ["negative", "positive", "surprise"]
    assert browser.sources == ["mie", "mae", "expert"]
    assert browser.identities == ["celeba-00000", "celeba-00001"]
    everything = browser.matching(browser.classes, browser.sources, [])
    assert len(everything) == 18  # 2 identities x 3 classes x 3 sources
    rows = browser.matching(["surprise"], ["mae", "expert"], ["celeba-00001"])
    table = browser.table.iloc[rows]
    assert len(rows) == 2 and set(table["label"]) == {"surprise"} and set(table["identity"]) == {"celeba-00001"}
    assert set(table["source"]) == {"mae", "expert"}
    assert len(browser.matching([], browser.sources, [])) == 0
    onset, apex = browser.frames(int(rows[0]))
    assert onset.shape == apex.shape == (40, 40, 3)
    assert list(browser.details(int(rows[0]))["AU"]) == list(AU_NAMES)  # the fixture draws every apex AU above 0

    from miex.core.errors import MiexInputError

    with pytest.raises(MiexInputError, match="not a MiE-X folder"):
        open_miex(str(tmp_path / "missing"))
    with pytest.raises(MiexInputError, match="ORG/NAME"):
        open_miex("not a repo")
    with pytest.raises(MiexInputError, match="could not load a MiE-X"):
        open_miex("my-lab/absent")  # the suite runs offline: one line that says why, not a traceback


def test_classify_reads_the_runs_recipe_and_computes_flow(tmp_path: Path) -> None:
    import torch

    from miex.app.classify import Preprocessing, classify, load_recognizer
    from miex.core.errors import MiexInputError
    from miex.train.models import create_model

    recipe = tmp_path / "run" / "recipe.yaml"
    create_model("ststnet").save_pretrained(tmp_path / "run" / "model")
    recipe.write_text(
        "data:\n  real: {clips: c.parquet, alignment: none}\n  image: {resize: 64, crop_size: 56}\n"
        "  flow: {method: farneback}\n",
        encoding="utf-8",
    )
    recognizer = load_recognizer(str(tmp_path / "run" / "model"))
    assert recognizer.preprocessing == Preprocessing(64, 56, "farneback", False, str(recipe))
    rng = np.random.default_rng(0)
    onset = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    apex = np.roll(onset, 2, axis=1)  # a 2-pixel shift: real motion for the flow
    probabilities = classify(recognizer, onset, apex)
    assert list(probabilities) == ["negative", "positive", "surprise"]
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(MiexInputError, match="differ in size"):
        classify(recognizer, onset, apex[:32])
    with pytest.raises(MiexInputError, match="larger than resize"):
        classify(recognizer, onset, apex, resize=32, crop_size=56)

    torch.manual_seed(0)
    create_model("dtscnn", conv_channels=[4, 8], temporal_scales=[4, 8]).save_pretrained(tmp_path / "video")
    with pytest.raises(MiexInputError, match="frame sequence"):
        load_recognizer(str(tmp_path / "video"))
    with pytest.raises(MiexInputError, match="model folder not found"):
        load_recognizer(str(tmp_path / "missing"))
    with pytest.raises(MiexInputError, match="could not load a recognizer"):
        load_recognizer("my-lab/absent")


# --- in the browser ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private user cache, a small MiE-X synthesized from the embedded default, and a tiny saved recognizer."""
    needs_browser()
    import torch

    from miex.cli import main
    from miex.train.models import create_model

    root = tmp_path_factory.mktemp("app")
    cache, miex, model = root / "cache", root / "miex", root / "model"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        assert main(["synthesize", "--out", str(miex), "--samples-per-identity", str(SAMPLES)]) == 0
    torch.manual_seed(0)
    create_model("branches", encoder=TINY_RESNET, head_hidden=[16, 8]).eval().save_pretrained(model)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return {"root": root, "cache": cache, "miex": miex, "model": model}


@pytest.fixture(scope="module")
def server(work: dict[str, Path]) -> Iterator[str]:
    """``miex app`` on a free port, offline, until the module's tests are done."""
    port = free_port()
    offline = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    places = {"XDG_CACHE_HOME": str(work["cache"]), "GRADIO_TEMP_DIR": str(work["root"] / "gradio")}
    env = {**os.environ, **offline, **places, "OMP_NUM_THREADS": "1"}
    log = (work["root"] / "server.log").open("w")
    command = [
        sys.executable,
        "-m",
        "miex",
        "app",
        "--port",
        str(port),
        "--miex",
        str(work["miex"]),
        "--recognizer",
        str(work["model"]),
    ]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work["root"])
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"miex app exited with {process.returncode}:\n{(work['root'] / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"miex app did not answer in {START_TIMEOUT:.0f} s:\n{(work['root'] / 'server.log').read_text()}"
                )
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(work: dict[str, Path]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh page on the app; ``page.offsite`` lists every request it made beyond this machine."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.offsite = []
    opened.on(
        "request",
        lambda request: (
            opened.offsite.append(request.url)
            if not request.url.startswith((server.rstrip("/"), "data:", "blob:"))
            else None
        ),
    )
    opened.set_default_timeout(60_000)
    opened.goto(server)
    opened.wait_for_selector("#apex-image img")  # the first render ran: the app is up in this page
    yield opened
    errors = opened.get_by_text("Error", exact=True)  # the title of Gradio's error toast
    assert errors.count() == 0, f"the app showed an error: {opened.inner_text('body')[:600]}"
    context.close()


def test_the_space_entry_builds_the_same_app(work: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import runpy

    for name, value in {
        "XDG_CACHE_HOME": str(work["cache"]),
        "MIEX_APP_MIEX": str(work["miex"]),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }.items():
        monkeypatch.setenv(name, value)
    demo = runpy.run_path(str(ROOT / "app.py"), run_name="space")["demo"]  # not "__main__": built, not served
    values = {block.elem_id: getattr(block, "value", None) for block in demo.blocks.values() if block.elem_id}
    assert {"apex-image", "au-AU12", "au-AU45", "browse-gallery", "classify-probabilities"} <= set(values)
    assert values["miex-where"] == str(work["miex"]) and values["model-where"] == ""


def shown_image(page: Any, selector: str) -> np.ndarray:
    """The pixels an ``<img>`` shows, fetched from the app like the browser fetched them (once: the app never
    rewrites an image file it has sent, see ``miex.app.ui.image_keys``, so a fetch that fails is a bug)."""
    source = page.locator(f"{selector} img").first.get_attribute("src")
    response = page.request.get(source)
    assert response.ok, f"{selector}: fetching {source} gave HTTP {response.status}"
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


def wait_for_new_image(page: Any, selector: str, before: str) -> None:
    script = (
        "([css, old]) => { const img = document.querySelector(css + ' img');"
        " return img !== null && img.getAttribute('src') !== old; }"
    )
    page.wait_for_function(script, arg=[selector, before])


@pytest.mark.slow
def test_moving_an_au_slider_changes_the_rendered_apex(page: Any) -> None:
    onset, apex = shown_image(page, "#onset-image"), shown_image(page, "#apex-image")
    assert apex.shape == (128, 128, 3)
    assert np.array_equal(onset, apex), "with every AU at 0 the apex is the onset"
    page.screenshot(path=str(ARTEFACTS / "app_generate_neutral.png"), full_page=True)

    before = page.locator("#apex-image img").get_attribute("src")
    track = page.locator("#au-AU12 input[type=range]").bounding_box()
    page.mouse.click(track["x"] + 0.9 * track["width"], track["y"] + track["height"] / 2)  # AU12 to about 4.5
    wait_for_new_image(page, "#apex-image", before)
    assert float(page.locator("#au-AU12 input[type=number]").input_value()) > 3.5
    smiling = shown_image(page, "#apex-image")
    change = np.abs(smiling.astype(np.int16) - apex.astype(np.int16)).sum(axis=2)
    assert change.mean() > 1.0, "moving AU12 (lip corner puller) left the apex as it was"
    assert change[80:].mean() > 4 * change[:48].mean(), "AU12 moved the brows more than the mouth"
    assert np.array_equal(shown_image(page, "#onset-image"), onset), "the onset (AUs 0) must not change"
    assert shown_image(page, "#magnified-image").shape == smiling.shape
    page.screenshot(path=str(ARTEFACTS / "app_generate_au12.png"), full_page=True)

    from miex.app.generate import prototype
    from miex.data.aus.schema import AU_NAMES

    before = page.locator("#apex-image img").get_attribute("src")
    page.click("#prototype input")
    page.get_by_role("option", name="surprise").click()  # the sliders jump to the prototype, the apex follows
    wait_for_new_image(page, "#apex-image", before)
    shown = [float(page.locator(f"#au-{name} input[type=number]").input_value()) for name in AU_NAMES]
    assert shown == pytest.approx(prototype("surprise", "micro").tolist(), abs=0.01)
    surprised = shown_image(page, "#apex-image")
    assert np.abs(surprised.astype(np.int16) - smiling.astype(np.int16)).mean() > 1.0
    page.screenshot(path=str(ARTEFACTS / "app_generate_surprise.png"), full_page=True)
    assert page.offsite == []


@pytest.mark.slow
def test_browsing_a_synthesized_miex_filters_by_class(page: Any, work: dict[str, Path]) -> None:
    import datasets

    labels = np.asarray(datasets.load_dataset(str(work["miex"]), split="train")["label"])
    page.click("#tab-browse-button")
    page.wait_for_selector("#browse-gallery img")
    assert page.locator("#browse-count").inner_text().startswith(f"{SAMPLES} of {SAMPLES}")
    assert page.locator("#browse-gallery img").count() == SAMPLES
    page.screenshot(path=str(ARTEFACTS / "app_browse_all.png"), full_page=True)

    kept = int((labels != 0).sum())  # 0 is "negative"
    page.click("#filter-class label:has-text('negative')")
    page.wait_for_function("n => document.querySelector('#browse-count').innerText.startsWith(n + ' of')", arg=kept)
    assert page.locator("#browse-gallery img").count() == kept
    captions = [line for line in page.locator("#browse-gallery").inner_text().splitlines() if " · " in line]
    assert len(captions) == kept and not any(c.startswith("negative") for c in captions), captions

    page.locator("#browse-gallery img").first.click()
    page.wait_for_selector("#browse-apex img")
    page.wait_for_function("() => document.querySelector('#browse-aus').innerText.includes('AU')")
    assert re.search(r"AU\d\d", page.locator("#browse-aus").inner_text().split("apex", 1)[-1])
    page.screenshot(path=str(ARTEFACTS / "app_browse_filtered.png"), full_page=True)
    assert page.offsite == []


@pytest.mark.slow
def test_classifying_a_pair_with_a_tiny_saved_model(page: Any, work: dict[str, Path]) -> None:
    import datasets
    import torch
    from transformers import AutoModelForImageClassification

    import miex.train.models  # noqa: F401  (registers the recognizers)
    from miex.train.data import Collator, model_inputs

    sample = datasets.load_dataset(str(work["miex"]), split="train")[SAMPLES - 1]
    onset, apex = work["root"] / "onset.png", work["root"] / "apex.png"
    sample["onset"].save(onset)
    sample["apex"].save(apex)
    model = AutoModelForImageClassification.from_pretrained(work["model"]).eval()
    columns = model_inputs(model.config, train=False)(
        {"onset": [sample["onset"]], "apex": [sample["apex"]], "label": [0]}
    )
    inputs = Collator()([{key: values[0] for key, values in columns.items()}])
    inputs.pop("labels")
    with torch.inference_mode():
        expected = torch.softmax(model(**inputs).logits, dim=-1)[0].tolist()

    page.click("#tab-classify-button")
    page.wait_for_function("() => document.querySelector('#model-info').innerText.includes('branches')")
    page.set_input_files("#classify-onset input[type=file]", str(onset))
    page.set_input_files("#classify-apex input[type=file]", str(apex))
    page.wait_for_selector("#classify-onset img")
    page.wait_for_selector("#classify-apex img")
    page.uncheck("#classify-align input")  # the frames are MiE-X crops already; the reference above does not align
    page.click("#classify-run")
    page.wait_for_function("() => document.querySelector('#classify-table').innerText.includes('probability')")
    shown = dict(re.findall(r"^(\w+)\s+([01]\.\d{4})$", page.locator("#classify-table").inner_text(), re.MULTILINE))
    assert list(shown) == model.config.label_names
    assert [float(v) for v in shown.values()] == pytest.approx(expected, abs=2e-4)
    best = model.config.label_names[int(np.argmax(expected))]
    assert page.locator("#classify-probabilities").inner_text().splitlines()[1] == best
    page.screenshot(path=str(ARTEFACTS / "app_classify.png"), full_page=True)
    assert page.offsite == []
