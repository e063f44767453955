"""The data-free first run (README "From Python" and `miex train --recipe miex_heldout_samples`): with no licensed
corpus it learns well above chance on held-out MiE-X samples, never splits an AU draw between training and test, and
says with its score what that score means."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import datasets
import numpy as np
import pytest
from miex_fixtures import build_miex

from miex.core.errors import MiexInputError
from miex.train.protocols import au_draws, heldout_split
from miex.train.runner.inputs import check_inputs
from miex.train.runner.recipe import load_recipe, shipped_recipes
from miex.train.runner.sources import load_corpus
from miex.train.runner.specs import RealSpec

README = Path(__file__).resolve().parents[1] / "README.md"
RECIPE = "miex_heldout_samples"
LABELS = ["negative", "positive", "surprise"]
MEANING = "it is not a micro-expression recognition result on real data"


def draws_dataset(draws: int, *, identities: int = 1, seed: int = 0) -> datasets.Dataset:
    """``draws`` AU draws of 1-3 samples each (equal AU values, one class per draw), shown on ``identities`` faces."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {"label": [], "identity": [], "onset_au": [], "apex_au": []}
    for draw in range(draws):
        apex = rng.uniform(0, 5, 17).round(6).tolist()
        for _ in range(int(rng.integers(1, 4))):
            rows["label"].append(draw % 3)
            rows["identity"].append(f"face-{int(rng.integers(identities))}")
            rows["onset_au"].append([0.0] * 17)
            rows["apex_au"].append(apex)
    features = datasets.Features(
        {
            "label": datasets.ClassLabel(names=LABELS),
            "identity": datasets.Value("string"),
            "onset_au": datasets.List(datasets.Value("float32"), length=17),
            "apex_au": datasets.List(datasets.Value("float32"), length=17),
        }
    )
    return datasets.Dataset.from_dict(rows, features=features)


# --------------------------------------------------------------------------------------------------------------
# the split


def test_samples_with_equal_aus_are_one_draw() -> None:
    dataset = draws_dataset(5)
    names = au_draws(dataset)
    apex = [tuple(row) for row in dataset["apex_au"]]
    assert len(set(names)) == 5 == len(set(apex))
    assert all((names[i] == names[j]) == (apex[i] == apex[j]) for i in range(len(names)) for j in range(len(names)))
    assert names[0] == "draw-0001"


def test_a_held_out_split_never_splits_an_au_draw_and_tests_every_class() -> None:
    dataset = draws_dataset(60)
    splits = heldout_split(dataset, test_size=0.25, seed=0)
    train, test = ({tuple(row) for row in splits[side]["apex_au"]} for side in ("train", "test"))
    assert not train & test and len(train | test) == 60
    assert len(test) == 15  # a quarter of the draws
    assert sorted(set(splits["test"]["label"])) == [0, 1, 2]
    assert len(splits["train"]) + len(splits["test"]) == len(dataset)
    again = heldout_split(dataset, test_size=0.25, seed=0)["test"]["apex_au"]
    assert again == splits["test"]["apex_au"]  # seeded: the same split every time


def test_a_held_out_identity_split_keeps_faces_apart_and_one_face_says_what_to_do() -> None:
    splits = heldout_split(draws_dataset(60, identities=8), by="identity")
    assert not set(splits["train"]["identity"]) & set(splits["test"]["identity"])
    with pytest.raises(MiexInputError, match=r"1 identity, too few for 4 folds.*held_out: au_draw"):
        heldout_split(draws_dataset(60), by="identity")
    with pytest.raises(MiexInputError, match="test_size"):
        heldout_split(draws_dataset(6), test_size=0.9)


def test_a_miex_test_folder_is_read_by_its_units_and_says_what_to_change(tmp_path: Path) -> None:
    folder = build_miex(tmp_path / "miex", [("casme2", "sub01")])
    corpus = load_corpus(RealSpec(clips=folder, held_out="identity"), "real")
    assert set(corpus.subjects["subject"]) == {"celeba-00000", "celeba-00001"}
    assert set(corpus.dataset.column_names) == {"onset", "apex", "label", "dataset", "subject", "clip"}
    with pytest.raises(MiexInputError, match=r"data\.real\.labels.*MiE-X folder"):
        load_corpus(RealSpec(clips=folder, labels=("happiness", "surprise")), "real")
    one_face = build_miex(tmp_path / "one", [("casme2", "sub01")], identities=1)
    with pytest.raises(MiexInputError, match=r"held_out.*shows 1 .*set held_out: au_draw"):
        load_corpus(RealSpec(clips=one_face, held_out="identity"), "real")
    missing = load_recipe(shipped_recipes()[RECIPE], [f"data.real.clips={tmp_path / 'absent'}"])
    with pytest.raises(MiexInputError, match=r"MiE-X folder not found \(make one with `miex synthesize"):
        check_inputs(missing)  # what `miex train` says before loading anything when ./miex is not there


# --------------------------------------------------------------------------------------------------------------
# what the README and the recipe promise


def test_the_readme_first_run_holds_out_draws_and_names_the_recipe() -> None:
    text = README.read_text(encoding="utf-8")
    example = re.search(r"<!-- python-example -->\n```python\n(.*?)```", text, re.S).group(1)
    assert "heldout_split(" in example and "progress=True" in example and MEANING in example
    assert "train_test_split" not in example  # a random row split tests on frames it trained on
    command = re.search(r"<!-- first-run-command -->\n```bash\n(.*?)```", text, re.S).group(1)
    assert command.strip() == f"miex synthesize && miex train --recipe {RECIPE}"
    recipe = load_recipe(shipped_recipes()[RECIPE])
    assert recipe.reproduces is None  # no published figure is claimed for a synthetic test set
    assert str(recipe.data.real.clips) == "miex"  # the folder `miex synthesize` writes
    assert recipe.data.real.held_out == "au_draw"  # the embedded default shows one face
    assert recipe.data.miex is None and [stage.train for stage in recipe.stages] == [("real",)]
    assert recipe.model.name == "ststnet" and recipe.stages[0].training.total_epochs <= 30


# --------------------------------------------------------------------------------------------------------------
# a scaled-down run of the shipped recipe: 120 samples at 64 px (shipped: 300 at 128), one seed, 3 folds


SMALL = ["seeds=[0]", "protocol.k=3", "protocol.workers=1", "training.epochs=40", "output.final_model=false"]
"""The recipe's model, input, optimiser and held-out protocol; fewer samples, folds, seeds and epochs (~20 s)."""


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run_recipe(folder: Path, out: Path) -> tuple[dict, list[str]]:
    from miex.train.runner import run

    handler, logger = Lines(), logging.getLogger("miex.train")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        run(load_recipe(RECIPE, [*SMALL, f"data.real.clips={folder}"]).with_output(out), progress=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return json.loads((out / "results.json").read_text(encoding="utf-8")), handler.lines


def random_labels_per_draw(folder: Path, out: Path) -> Path:
    """The same MiE-X with each AU draw's label drawn at random: nothing left to learn (the control)."""
    from miex.train.data import load_miex

    dataset = load_miex(folder)
    draws = au_draws(dataset)
    rng = np.random.default_rng(0)
    label = {draw: int(rng.integers(3)) for draw in dict.fromkeys(draws)}
    dataset.map(lambda _, row: {"label": label[draws[row]]}, with_indices=True).save_to_disk(str(out))
    return out


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, miex_cache: Path) -> Iterator[dict]:
    import miex

    root = tmp_path_factory.mktemp("first_run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(miex_cache))  # the embedded face, aligned once per session
        patch.setenv("MIEX_FLOW_CACHE", str(root / "flow_cache"))
        miex.synthesize(out=str(root / "miex"), samples_per_identity=120, size=64)
        results, lines = run_recipe(root / "miex", root / "run")
        control, _ = run_recipe(random_labels_per_draw(root / "miex", root / "shuffled"), root / "control")
        yield {"results": results, "lines": lines, "control": control, "out": root / "run"}


@pytest.mark.slow
def test_the_first_run_learns_well_above_chance_on_held_out_samples(first_run: dict) -> None:
    learned, control = first_run["results"]["last_epoch"]["all"], first_run["control"]["last_epoch"]["all"]
    assert learned["num_samples"] == 120  # every sample tested once, out of fold
    assert learned["uf1"]["mean"] > 0.65 and learned["uar"]["mean"] > 0.65, learned  # chance: 0.33 (seen: 0.86)
    # random labels per AU draw: at chance, so the bar above fails when learning breaks (or a draw leaks into test)
    assert control["uf1"]["mean"] < 0.5 and control["uar"]["mean"] < 0.5, control  # seen: 0.31


@pytest.mark.slow
def test_the_first_run_says_it_is_a_synthetic_held_out_evaluation(first_run: dict) -> None:
    results, out = first_run["results"], first_run["out"]
    evaluation = results["evaluation"]
    assert evaluation["test_data"] == "MiE-X (synthetic)" and evaluation["held_out"] == "au_draw"
    assert evaluation["identities"] == 1 and evaluation["held_out_units"] == results["tested"]["all"]["subjects"]
    assert MEANING in evaluation["note"]
    assert results["protocol"]["description"].startswith("a held-out synthetic evaluation")
    card = (out / "model" / "README.md").read_text(encoding="utf-8")
    assert "tested on MiE-X" in card and "a held-out synthetic evaluation" in card
    assert "not a result on real data" in card
    assert "each subject being one AU draw" in card and "1 identity, seen in training" in card
    assert "This run reproduces" not in card and "adapted from" not in card  # no published figure is claimed
    # what was tested is named as what it is: samples of AU draws, not a clip table's clips of subjects
    assert "samples of" in card and "AU draws (1 identity)" in card and "clip table" not in card
    assert "labelled clips" not in card and "real clips of the test subjects" not in card
    table = card[card.index("| stage |") :].splitlines()[0]  # only the settings the in-memory flow loop reads
    assert "learning_rate" in table and not {"eval_batch_size", "precision", "activation_checkpointing"} & set(
        table.replace("|", " ").split()
    )
    scores = next(i for i, line in enumerate(first_run["lines"]) if line.startswith("results: UF1"))
    assert MEANING in first_run["lines"][scores + 1]  # said right after the score
