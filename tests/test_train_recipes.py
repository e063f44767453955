"""Shipped recipes (by name, listed, reading the README flow's files) and model cards that say what ran.

Cards are rendered from results built by the runner's own summary code (no training), so each check is about the
card: a CASME II-only run of a Table 1 recipe is neither titled nor indexed as CompMiE, each result appears once in
``model-index``, and the training curves carry a legend for every line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results
from hypothesis import given, settings
from hypothesis import strategies as st
from test_readme_flow import readme_block, readme_flow

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.train.runner import facts, load_recipe
from miex.train.runner.card import ScoredCorpus, eval_results, render_card, write_card
from miex.train.runner.outputs import FoldResult, curves_figure, summarize
from miex.train.runner.recipe import Recipe, find_recipe, shipped_recipes

LABELS = ["negative", "positive", "surprise"]
FLOW_RECIPE = "table1_branches_miex_finetune"


# --------------------------------------------------------------------------------------------------------------
# recipes by name


def test_a_recipe_is_found_by_name_dashed_name_or_path(tmp_path: Path) -> None:
    shipped = shipped_recipes()[FLOW_RECIPE]
    assert find_recipe(FLOW_RECIPE) == shipped
    assert find_recipe("table1-branches-miex-finetune") == shipped  # its `name:` spelling
    own = tmp_path / f"{FLOW_RECIPE}.yaml"  # a file of the same name wins over the shipped recipe
    own.write_text(shipped.read_text(encoding="utf-8").replace("seeds: [0, 1, 2]", "seeds: [7]"), encoding="utf-8")
    assert find_recipe(own) == own and load_recipe(own).seeds == (7,)
    assert load_recipe(FLOW_RECIPE).source == shipped


UNKNOWN = [
    (
        "table1_branches_mix_finetune",
        r"no shipped recipe named 'table1_branches_mix_finetune' \(did you mean "
        r"table1_branches_miex_finetune",
    ),
    ("nothing_like_it", r"no shipped recipe named 'nothing_like_it'; `miex train --list-recipes`"),
    (
        "elsewhere/table1_branches_compmie.yaml",
        r"not found; the shipped recipe of that name runs with --recipe "
        r"table1_branches_compmie",
    ),
]


@pytest.mark.parametrize(("reference", "message"), UNKNOWN)
def test_unknown_recipes_say_what_to_run(reference: str, message: str) -> None:
    with pytest.raises(MiexInputError, match=message):
        find_recipe(reference)


def test_cli_lists_recipes_and_suggests_names(capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--list-recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    shipped = shipped_recipes()
    assert [line.split()[0] for line in lines] == list(shipped)
    table1 = next(line for line in lines if line.startswith(f"{FLOW_RECIPE} "))
    assert "Table 1: Branches pre-trained on MiE-X" in table1 and "(casme2, samm, smic; 3-fold)" in table1
    assert "50.7 / 52.1" in table1
    assert "(mmew; 5-fold)" in next(line for line in lines if line.startswith("table2_branches_mmew "))
    assert main(["train", "--recipe", "tabel1_branches_compmie", "--check"]) == 2
    assert "did you mean table1_branches_compmie" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="2"):
        main(["train"])  # neither --recipe nor --list-recipes
    assert "one of the arguments --recipe --list-recipes is required" in capsys.readouterr().err


def test_shipped_recipes_read_the_files_the_readme_flow_writes() -> None:
    written = {argv[argv.index("--out") + 1].rstrip("/") for argv in readme_flow() if "--out" in argv}
    flows = {argv[argv.index("--out") + 1].rstrip("/") for argv in readme_block("## Real flows") if "--out" in argv}
    assert {"clips.parquet", "miex"} <= written and {"flows.parquet", "miex"} <= flows
    for name, path in shipped_recipes().items():
        recipe = load_recipe(path)
        real, miex = recipe.data.real.clips, recipe.data.miex
        assert not real.is_absolute() and len(real.parts) == 1, (name, real)  # relative to where `miex train` runs
        if name.startswith("megc2019_flows_"):  # the shared composite flow release, read by `miex corpus flow-images`
            assert str(real) == "flows.parquet", name
        elif recipe.reproduces and set(recipe.reproduces.datasets) == {"casme2", "samm", "smic"}:
            assert str(real) == "clips.parquet", name
        assert miex is None or str(miex.path) in ("miex", "miex-video"), name
        assert "data/" not in path.read_text(encoding="utf-8"), name
        assert f"--recipe {name} " in path.read_text(encoding="utf-8")  # its smoke test names it as users will


def test_recipes_are_package_data() -> None:
    """A non-editable install carries them: the folder is a package and pyproject ships its YAML files."""
    folder = next(iter(shipped_recipes().values())).parent
    assert (folder / "__init__.py").is_file() and folder.parent.name == "train"
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
    package_data = pyproject[pyproject.index("[tool.setuptools.package-data]") :].split("\n\n")[0]
    assert '"*.yaml"' in package_data


# --------------------------------------------------------------------------------------------------------------
# cards


def fold(index: int, dataset: str, truth: list[int], last: list[int], miex: int = 54) -> FoldResult:
    subject = f"s{index}"
    return FoldResult(
        seed=0,
        fold=f"fold{index}",
        test_subjects=[(dataset, subject)],
        datasets=[dataset] * len(truth),
        subjects=[subject] * len(truth),
        clips=[f"{subject}_{i}" for i in range(len(truth))],
        truth=np.array(truth),
        last=np.array(last),
        counts={
            "pretrain": {"miex": {"used": miex - 2 * index, "removed": 2 * index}},
            "finetune": {"real": {"used": 8, "removed": 4}},
        },
    )


MIEX = {"path": "miex", "split": "train", "samples": 54, "identities": 2, "sources": None, "frames_per_sample": 2}
"""results.json ``miex`` for a 54-sample MiE-X without a ``source`` column."""


def results_of(recipe: Recipe, folds: list[FoldResult]) -> dict[str, Any]:
    """What run() passes to render_card, from the runner's own summary and facts (every fact the card states)."""
    summary = summarize(folds, [0], LABELS, recipe.protocol.absent)
    protocol = {
        "description": recipe.protocol.describe(),
        "short": recipe.protocol.short(),
        "folds": len(folds),
        "folds_defined": len(folds),
        "validation_fraction": recipe.protocol.validation_fraction,
    }
    tested = facts.tested_counts(folds)
    return {
        "label_names": LABELS,
        "real_clips": tested["all"]["clips"],
        "real_input": "frames",
        "tested": tested,
        "initialisation": facts.initialisation(recipe),
        "miex": dict(MIEX),
        "protocol": protocol,
        "alignment": {},
        "inputs": {"resize": 256, "crop_size": 224},
        "seeds": [0],
        "stages": [
            {"name": s.name, "train": list(s.train), **facts.stage_facts(s, folds, MIEX)} for s in recipe.stages
        ],
        **summary,
    }


def card_of(recipe: Recipe, results: dict[str, Any], folder: Path) -> ModelCard:
    text = render_card(recipe, results, parameters=1234, world=1, checkpoint="no checkpoint")
    return ModelCard.load(write_card(folder, text))


def index_of(card: ModelCard) -> list[tuple[str, str, float]]:
    _, evals = model_index_to_eval_results(card.data.to_dict()["model-index"])
    return [(e.dataset_type, e.metric_type, e.metric_value) for e in evals]


def test_a_casme2_only_run_of_a_table1_recipe_is_carded_as_casme2(tmp_path: Path) -> None:
    recipe = load_recipe(FLOW_RECIPE, ["seeds=[0]"])
    folds = [fold(i, "casme2", [0, 1, 2, 2], [0, 1, 1, 2]) for i in range(3)]
    results = results_of(recipe, folds)
    results["alignment"] = {
        "real": {
            "method": "onset-similarity",
            "description": "128 px crops, one transform",
            "skipped_clips": [{"clip": "EP01_01"}],
        }
    }
    card = card_of(recipe, results, tmp_path)
    assert "- alignment of `real` (onset-similarity): 128 px crops, one transform; 1 clip(s) with no face" in card.text
    title = card.text.lstrip().splitlines()[0]
    assert title == "# Branches on CASME II, pre-trained on MiE-X (3-fold, 3 classes)"
    header = yaml.safe_load(card.content.split("---")[1])
    assert header["datasets"] == ["casme2", "miex"]
    assert header["model-index"][0]["name"] == title[2:]
    assert "compmie" not in card.content.split("---")[1].lower()  # the header; the text names it only as the paper's
    index = index_of(card)
    assert [(d, m) for d, m, _ in index] == [("casme2", "uf1"), ("casme2", "uar"), ("casme2", "accuracy")]
    assert index[0][2] == pytest.approx(round(results["last_epoch"]["all"]["uf1"]["mean"], 4))
    assert "MiE-X, 54 samples" in card.text and "CASME II, 12 labelled clips" in card.text
    rows = [line for line in card.text.splitlines() if line.startswith("| ") and "±" in line]
    assert [row.split(" | ")[:2] for row in rows] == [["| CASME II", "12"]]  # one row: the corpus is its dataset
    assert "tested on CASME II, 12 clips of 3 subjects, by subject-independent 3-fold" in card.text
    assert "in 3 classes (negative, positive, surprise)" in card.text
    assert (
        "adapted from the recipe for Table 1: Branches pre-trained on MiE-X, fine-tuned on CompMiE (UF1 / UAR (%) "
        "50.7 / 52.1"
    ) in card.text
    assert "it was tested on CASME II instead of CASME II + SAMM + SMIC" in card.text


def test_a_composite_run_lists_each_result_once_and_quotes_the_paper(tmp_path: Path) -> None:
    recipe = load_recipe(FLOW_RECIPE, ["seeds=[0]"])
    folds = [
        fold(0, "casme2", [0, 1, 2], [0, 1, 2]),
        fold(1, "samm", [0, 1, 2], [0, 0, 2]),
        fold(2, "smic", [0, 1, 2], [1, 1, 2]),
    ]
    card = card_of(recipe, results_of(recipe, folds), tmp_path)
    index = index_of(card)
    pairs = [(d, m) for d, m, _ in index]
    assert len(pairs) == len(set(pairs)) == 4 * 3
    assert {d for d, _ in pairs} == {"compmie", "casme2", "samm", "smic"}
    assert dict(((d, m), v) for d, m, v in index)[("casme2", "uf1")] == 1.0
    assert "# Branches on CompMiE (CASME II + SAMM + SMIC), pre-trained on MiE-X (3-fold, 3 classes)" in card.text
    rows = [line.split(" | ")[0] for line in card.text.splitlines() if line.startswith("| ") and "±" in line]
    assert rows == ["| CompMiE (CASME II + SAMM + SMIC)", "| CASME II", "| SAMM", "| SMIC"]
    assert "**Published figure.** Branches (Liu et al., FG 2019): UF1 / UAR (%) 50.7 / 52.1" in card.text
    assert "This run reproduces" not in card.text  # 9 clips of 3 subjects are not the paper's 442 of 68
    assert "it tested 9 clips of 3 subjects (CASME II 3 of 1, SAMM 3 of 1, SMIC 3 of 1) where the paper" in card.text


def test_a_changed_protocol_is_not_the_papers_figure(tmp_path: Path) -> None:
    recipe = load_recipe(FLOW_RECIPE, ["protocol={kind: loso}"])
    folds = [
        fold(0, "casme2", [0, 1, 2], [0, 1, 2]),
        fold(1, "samm", [0, 1, 2], [0, 0, 2]),
        fold(2, "smic", [0, 1, 2], [1, 1, 2]),
    ]
    card = card_of(recipe, results_of(recipe, folds), tmp_path)
    assert "its protocol is LOSO instead of 3-fold" in card.text
    assert "so the published figure does not apply" in card.text
    assert card.text.lstrip().splitlines()[0].endswith("(LOSO, 3 classes)")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["casme2", "samm", "smic", "mmew", "user set"]), min_size=1, max_size=6))
def test_model_index_never_repeats_a_result(datasets_: list[str]) -> None:
    recipe = load_recipe(FLOW_RECIPE, ["seeds=[0]"])
    folds = [fold(i, name, [0, 1, 2], [0, 2, 2]) for i, name in enumerate(datasets_)]
    results = results_of(recipe, folds)
    entries = eval_results(recipe, results)
    keys = [(e.dataset_type, e.metric_type) for e in entries]
    present = sorted(set(datasets_))
    assert len(keys) == len(set(keys)) == 3 * (1 if len(present) == 1 else 1 + len(present))
    assert set(ScoredCorpus.of(results).datasets) == set(present)


# --------------------------------------------------------------------------------------------------------------
# curves


def history(epochs: int, validation: bool) -> list[dict[str, float]]:
    rows: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        rows.append({"epoch": float(epoch), "loss": 1.0 / epoch})
        if validation:
            rows.append({"epoch": float(epoch), "eval_loss": 1.2 / epoch, "eval_uf1": 0.1 * epoch})
    return rows


def legend_texts(figure: Any) -> list[list[str]]:
    return [[t.get_text() for t in axes.get_legend().get_texts()] for axes in figure.axes if axes.get_legend()]


def test_curves_label_each_fold_and_the_validation_split() -> None:
    folds = [fold(i, "casme2", [0], [0]) for i in range(3)]
    for result in folds:
        result.history = {"pretrain": history(2, False), "finetune": history(3, True)}
    pretrain, finetune = legend_texts(curves_figure(folds, ["pretrain", "finetune"]))
    assert pretrain == ["train loss, fold0", "train loss, fold1", "train loss, fold2"]
    per_fold = [text for i in range(3) for text in (f"train loss, fold{i}", f"validation loss, fold{i}")]
    assert finetune == [*per_fold, *(f"validation UF1, fold{i}" for i in range(3))]


def test_curves_of_many_folds_keep_one_entry_per_kind_and_the_mean() -> None:
    folds = [fold(i, "casme2", [0], [0]) for i in range(20)]
    for result in folds:
        result.history = {"train": history(2, True)}
    (texts,) = legend_texts(curves_figure(folds, ["train"]))
    assert texts == [
        "train loss, each run",
        "validation loss, each run",
        "train loss, mean of 20 runs",
        "validation UF1, each run",
    ]


def test_a_recipe_without_a_published_figure_claims_no_reproduction() -> None:
    from miex.train.runner.card import reproduction_note

    recipe = load_recipe(shipped_recipes()["megc2019_loso_branches"])
    folds = [fold(i, dataset, [0, 1, 2], [0, 1, 2]) for i, dataset in enumerate(["casme2", "samm", "smic"])]
    note = reproduction_note(recipe, results_of(recipe, folds))
    assert "reproduces" not in note and "no published figure exists" in note


def test_the_card_usage_names_this_runs_input_sizes() -> None:
    from miex.train.runner.card import checkpoint_inputs

    branches = load_recipe(shipped_recipes()["table1_branches_compmie"], ["data.image={resize: 128, crop_size: 112}"])
    assert "(B, 3, 112, 112)" in checkpoint_inputs(branches) and "pixel_values_onset" in checkpoint_inputs(branches)
    flows = load_recipe(shipped_recipes()["megc2019_flows_offapexnet_real"])
    assert checkpoint_inputs(flows).startswith("pixel_values (B, 2, 28, 28): u, v of the composite flow image")
