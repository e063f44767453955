"""The model card of a run: ``card_templates/model_card.md`` filled from the results, with a generated YAML header.

The header comes from ``huggingface_hub.ModelCardData(eval_results=[EvalResult(...)])`` (docs/reference.md §Hugging Face
stack: the Trainer's ``create_model_card`` does not put custom metrics into ``model-index``), one ``EvalResult`` per
metric (UF1, UAR, accuracy; last epoch, mean over seeds) for the test corpus and, when it holds several datasets, each
of them: every result appears once. So the numbers in the card are the numbers in ``results.json``.

Title, summary and ``model-index`` say what RAN: the datasets found in the test predictions (after the recipe's
filters), the protocol, the label space and the sources of each stage with their sizes, never the recipe's name or
description (a CASME II-only run of a Table 1 recipe is not "CompMiE"); the summary states the clips and subjects
tested per dataset, folds, epochs, initial weights, seeds and MiE-X size and sources that results.json records. A
recipe's ``reproduces`` figure is claimed only when every published fact of its setup matches what ran
(:mod:`.claims`); otherwise the card names every difference. The figure is attributed to the method that produced
it, never to this run (docs/reference.md §Recipes and cards).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from miex.core.errors import MiexInputError
from miex.data.cards import render_template
from miex.data.magnify import Magnification
from miex.train.models import model_class
from miex.train.runner.claims import (
    Ran,
    attribution,
    differences,
    miex_text,
    published_setup,
    recorded,
    tested_text,
    unpublished,
)
from miex.train.runner.recipe import Recipe, TrainingSpec
from miex.train.runner.titles import DATASET_TITLES, MODEL_TITLES, dataset_title, listed, model_title, plural

__all__ = [
    "CARD_FIGURES",
    "DATASET_TITLES",
    "MODEL_TITLES",
    "ScoredCorpus",
    "card_summary",
    "dataset_title",
    "published_figure",
    "render_card",
    "reproduction_note",
    "write_card",
]

CARD_TEMPLATE = "model_card.md"
METRICS: tuple[tuple[str, str], ...] = (("uf1", "UF1"), ("uar", "UAR"), ("accuracy", "Accuracy"))
MODEL_DESCRIPTIONS = {
    "branches": "two ResNet encoders on the onset and apex frames, MLP head (Liu et al., FG 2019)",
    "apexme": "one CNN on the apex frame or the onset-apex flow image (Li, Huang & Zhao, ICIP 2018)",
    "ststnet": "shallow triple-stream net on optical flow u, v and strain (Liong et al., FG 2019)",
    "offapexnet": "two-stream CNN on onset-apex optical flow (Gan et al., 2019)",
    "dtscnn": "dual temporal scale 3-D CNN on flow sequences (Peng et al., 2017)",
    "htnet": "hierarchical transformer over four facial areas of the onset-apex flow image (Wang et al., 2024)",
}


COMPOSITES: dict[frozenset[str], tuple[str, str]] = {frozenset({"casme2", "samm", "smic"}): ("compmie", "CompMiE")}
"""Dataset sets with a name of their own (the MEGC2019 composite is the paper's CompMiE): model-index key, title."""


CARD_FIGURES: dict[str, tuple[str, str]] = {
    "confusion_matrix.png": (
        "confusion matrix",
        "*Confusion matrix* of the last epoch's out-of-fold test predictions, all seeds pooled: rows are the true "
        "class, columns the predicted one; each cell gives the clip count and its share of the true class (the "
        "colour), so the diagonal is the recall of each class and the off-diagonal cells show which classes are "
        "confused.",
    ),
    "training_curves.png": (
        "training curves",
        "*Training curves,* one panel per stage: the training loss per epoch of every seed × fold run (solid) and, "
        "where a validation split was carved from the training subjects, the validation loss (dashed) and "
        "validation UF1 (dotted, right axis). A validation loss that rises while the training loss falls signals "
        "overfitting.",
    ),
}
"""The figures the runner writes beside the card (``plots/`` copied into ``model/``): alt text and caption."""


def figures_markdown(present: Iterable[str] | None = None) -> str:
    """Markdown embedding the card's figures that exist (``present``: file names; None = all of them), captioned."""
    names = list(CARD_FIGURES) if present is None else [name for name in CARD_FIGURES if name in set(present)]
    if not names:
        return "_No figures were written for this run._"
    return "\n\n".join(f"![{CARD_FIGURES[n][0]}]({n})\n\n{CARD_FIGURES[n][1]}" for n in names)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "data"


@dataclass(frozen=True)
class ScoredCorpus:
    """The corpus a run was scored on, named from the datasets of its predictions."""

    datasets: tuple[str, ...]
    key: str
    """model-index ``dataset.type``: the dataset, the composite's name, or the datasets joined."""
    title: str
    clips: int

    @classmethod
    def of(cls, results: Mapping[str, Any]) -> ScoredCorpus:
        last = results["last_epoch"]
        datasets = tuple(part for part in last if part not in ("note", "all"))
        titles = " + ".join(dataset_title(d) for d in datasets)
        if len(datasets) == 1:
            key, title = datasets[0], titles
        elif frozenset(datasets) in COMPOSITES:
            key, name = COMPOSITES[frozenset(datasets)]
            title = f"{name} ({titles})"
        else:
            key, title = slug("-".join(datasets)), titles
        return cls(datasets, key, title, int(last["all"]["num_samples"]))


def source_sizes(results: Mapping[str, Any]) -> dict[str, int]:
    """Samples of each training source (used + removed by the fold filter: the same total in every fold)."""
    final = results.get("final_model")  # absent when output.final_model is off
    counts = final["train_counts"] if final else results["runs"][0]["folds"][0]["train_counts"]
    return {source: c["used"] + c["removed"] for stage in counts.values() for source, c in stage.items()}


def source_title(
    source: str,
    test: ScoredCorpus,
    sizes: Mapping[str, int],
    *,
    with_size: bool = True,
    miex: Mapping[str, Any] | None = None,
) -> str:
    """``real`` is the test corpus (its training subjects); ``miex`` MiE-X (with results.json ``miex``: its samples,
    and its identities and AU sources where its columns hold them); an extra source its dataset's name."""
    title = test.title if source == "real" else dataset_title(source)
    if not with_size:
        return title
    if source == "real":
        return f"{title}, each fold's training subjects"
    if source == "miex" and miex:
        counts = miex["sources"] or {}  # None: the MiE-X has no `source` column
        sources = f" (AU sources {', '.join(f'{name} {n:,}' for name, n in counts.items())})" if counts else ""
        return f"{title}, {miex_text(miex['samples'], miex['identities'], None)}{sources}"
    unit = "samples" if source == "miex" else "clips"
    return f"{title}, {sizes[source]:,} {unit}" if source in sizes else title


def pretraining_sources(recipe: Recipe) -> list[str]:
    """Sources of the stages before the last (in order, once each): what the model was pre-trained on."""
    return list(dict.fromkeys(source for stage in recipe.stages[:-1] for source in stage.train))


def card_title(recipe: Recipe, results: Mapping[str, Any]) -> str:
    test = ScoredCorpus.of(results)
    model = model_title(recipe.model.name)
    last = recipe.stages[-1].train
    if last == ("real",):
        title = f"{model} on {test.title}"
    else:
        title = f"{model} trained on {' + '.join(source_title(s, test, {}) for s in last)}, tested on {test.title}"
    earlier = pretraining_sources(recipe)
    if earlier:
        title += f", pre-trained on {' + '.join(source_title(s, test, {}) for s in earlier)}"
    protocol = results["protocol"]
    folds, defined = protocol["folds"], recorded(protocol, "folds_defined", "protocol.")
    partial = f", {folds} of {defined} folds" if folds < defined else ""
    return f"{title} ({protocol['short']}{partial}, {len(results['label_names'])} classes)"


def _target(recipe: Recipe) -> str:
    paper = recipe.reproduces
    assert paper is not None
    return f"{paper.paper}: {paper.row}" + (f" ({paper.scores})" if paper.scores else "")


def reproduction_note(recipe: Recipe, results: Mapping[str, Any]) -> str:
    """Whether the published figure applies: only when every published fact of its setup that is known (datasets,
    clips and subjects tested, protocol and folds, classes, input, stages, epochs, initial weights, runs, MiE-X size
    and sources, magnification, validation split) matches what this run did (:mod:`.claims`); otherwise every
    difference, named."""
    paper = recipe.reproduces
    if paper is None:
        return "The recipe names no paper result to compare with."
    found = differences(paper, Ran.of(results))
    target = _target(recipe)
    but = listed(found, "; ")
    if not paper.scores:
        how = f"follows {target}" if not found else f"is adapted from {target}, but {but}"
        return f"This run {how}; no published figure exists for it to compare with."
    if not found:
        missing = unpublished(paper)
        caveat = f" (not published, so not compared: {', '.join(missing)})" if missing else ""
        return f"This run reproduces {target}: it matches every published fact of that setup{caveat}."
    return f"This run is adapted from the recipe for {target}, but {but}, so the published figure does not apply to it."


def published_figure(recipe: Recipe) -> str:
    """The card's published figure, attributed to the method that produced it, with the setup it was measured in."""
    paper = recipe.reproduces
    if paper is None:
        return "No published figure: the recipe names no paper result."
    if not paper.scores:
        return f"No published figure exists for this setup ({paper.paper}: {paper.row})."
    return (
        f"{attribution(recipe)}: {paper.scores} ({paper.paper}: {paper.row}). Published setup: "
        f"{published_setup(paper)}."
    )


def card_summary(recipe: Recipe, results: Mapping[str, Any]) -> str:
    """What ran, in one paragraph: clips and subjects tested per dataset, protocol and folds, classes, initial
    weights, each stage's sources (MiE-X's size and AU sources) and epochs, and the seeds."""
    ran = Ran.of(results)
    test = ScoredCorpus.of(results)
    sizes = source_sizes(results)
    stages = "; ".join(
        f"{stage.name}: {' + '.join(source_title(s, test, sizes, miex=ran.miex) for s in stage.sources)}, "
        f"{plural(stage.epochs, 'epoch')}"
        for stage in ran.stages
    )
    labels = results["label_names"]
    folds = (
        f"all {ran.folds} folds run"
        if ran.folds >= ran.folds_defined
        else f"{ran.folds} of its {ran.folds_defined} folds run"
    )
    weights = (
        f"Encoders initialised from `{ran.backbone}`"
        if ran.backbone
        else "Weights initialised at random (no pretrained checkpoint)"
    )
    seeds = ", ".join(map(str, ran.seeds))
    tested = synthetic_test_text(results) or tested_text(ran.tested)
    return (
        f"A {model_title(recipe.model.name)} micro-expression recognizer tested on "
        f"{test.title}, {tested}, by {results['protocol']['description']}, "
        f"{folds}, in {len(labels)} classes ({', '.join(labels)}). {weights}. Trained in "
        f"{plural(len(ran.stages), 'stage')}: {stages}. Scores are the mean over "
        f"{plural(len(ran.seeds), 'seed')} ({seeds})."
    )


def eval_results(recipe: Recipe, results: Mapping[str, Any]) -> list[EvalResult]:
    """One EvalResult per metric for the test corpus, and for each of its datasets when it holds several (a
    one-dataset corpus IS its dataset: the same numbers twice would read as two results); last-epoch means over
    seeds."""
    last = results["last_epoch"]
    test = ScoredCorpus.of(results)
    split = f"{results['protocol']['short']} out-of-fold"
    seeds = len(results["seeds"])
    entries = []
    parts = [("all", test.key, test.title)]
    if len(test.datasets) > 1:
        parts += [(part, part, f"{dataset_title(part)} (part of {test.title})") for part in test.datasets]
    for part, dataset_type, dataset_name in parts:
        for key, label in METRICS:
            entries.append(
                EvalResult(
                    task_type="image-classification",
                    task_name="Micro-expression recognition",
                    dataset_type=dataset_type,
                    dataset_name=dataset_name,
                    dataset_split=split,
                    metric_type=key,
                    metric_name=f"{label} (last epoch, mean of {seeds} seed{'s' if seeds > 1 else ''})",
                    metric_value=round(last[part][key]["mean"], 4),
                )
            )
    return entries


def card_data(recipe: Recipe, results: Mapping[str, Any]) -> ModelCardData:
    test = ScoredCorpus.of(results)
    backbone = recipe.model.backbone
    trained = dict.fromkeys(source for stage in recipe.stages for source in stage.train if source != "real")
    return ModelCardData(
        model_name=card_title(recipe, results),
        library_name="transformers",
        pipeline_tag="image-classification",
        license="other",
        tags=["micro-expression", "miex", "facial-expression-recognition", f"miex-{recipe.model.name}"],
        datasets=[test.key, *trained],
        metrics=[key for key, _ in METRICS],
        base_model=backbone if backbone and "/" in backbone and not Path(backbone).exists() else None,
        eval_results=eval_results(recipe, results),
    )


def _pm(entry: Mapping[str, Any]) -> str:
    return f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f}"


def results_table(summary: Mapping[str, Any], test: ScoredCorpus) -> str:
    """The test corpus's row, then one per dataset when it holds several (one dataset: its row IS the corpus's)."""
    lines = ["| test data | samples | UF1 (%) | UAR (%) | accuracy (%) |", "|---|---:|---:|---:|---:|"]
    parts = ["all", *(test.datasets if len(test.datasets) > 1 else ())]
    for part in parts:
        entry = summary[part]
        name = test.title if part == "all" else dataset_title(part)
        lines.append(
            f"| {name} | {entry['num_samples']} | {_pm(entry['uf1'])} | {_pm(entry['uar'])} | "
            f"{_pm(entry['accuracy'])} |"
        )
    return "\n".join(lines)


def _hyperparameters(recipe: Recipe, world: int, applied: list[Mapping[str, Any]] | None = None) -> str:
    """The stages' training settings; ``applied``: results.json's stages, whose settings are the ones that applied
    (the flow recognizers' in-memory loop reads no ``eval_batch_size``, ``precision`` or checkpointing)."""
    keys = [name for name in TrainingSpec.__dataclass_fields__ if name != "num_workers"]
    if applied is not None:
        keys = [name for name in keys if all(name in stage for stage in applied)]
    lines = ["| stage | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for stage in recipe.stages:
        values = [str(getattr(stage.training, key)) for key in keys]
        lines.append(f"| {stage.name} | " + " | ".join(values) + " |")
    data = recipe.data
    spec = _input_spec(recipe)
    inputs = (
        "Inputs: each clip's or MiE-X pair's composite flow image (u, v and optical strain at 28 x 28, each channel "
        "min-max scaled per image to 0-255; docs/reference.md §Flow images), computed once, no augmentation; data "
        "shuffled every epoch."
        if spec.flow and not spec.sequence
        else f"Inputs: {spec.sequence} frames sampled from onset to apex, the optical flow (u, v) between consecutive "
        "ones as a sequence (docs/reference.md §Recognizers), no augmentation."
        if spec.sequence
        else f"Inputs: shorter side resized to {data.resize}, training augmentation random rotation ±10°, colour "
        f"jitter 0.2 and a random {data.crop_size} crop; evaluation resize + centre crop."
    )
    lines += [
        "",
        f"{inputs} `batch_size` is the global batch ({world} process{'es' if world > 1 else ''}). Learning rate "
        "constant for `epochs`, then linear decay to 0 over `decay_epochs`. Seeds: "
        + ", ".join(map(str, recipe.seeds))
        + ".",
        "",
        _magnification(data.magnify),
    ]
    return "\n".join(lines)


def _magnification(spec: Magnification | None) -> str:
    """One line saying whether the inputs were motion-magnified (a deviation from the paper when they were)."""
    if spec is None:
        return "Motion magnification: off (the paper's setting)."
    return (
        f"Motion magnification: on, linear Eulerian (α = {spec.alpha:g}, {spec.levels} levels, cutoff wavelength "
        f"{spec.cutoff_wavelength:g} px), applied to the apex of every real and MiE-X sample before augmentation "
        "or flow (docs/reference.md §Motion magnification); the paper trains on unmagnified frames."
    )


def _stages(recipe: Recipe) -> str:
    lines = []
    for index, stage in enumerate(recipe.stages, 1):
        lines.append(
            f"{index}. **{stage.name}**: trains on {', '.join(f'`{s}`' for s in stage.train)} for "
            f"{stage.training.total_epochs} epoch(s)"
        )
    if len(recipe.stages) > 1:
        lines.append(
            "\nEach stage continues from the previous stage's weights; where the label space changes, the "
            "classification head is re-initialised and the encoders kept."
        )
    return "\n".join(lines)


def synthetic_test_text(results: Mapping[str, Any]) -> str | None:
    """``300 samples of 185 AU draws (1 identity)`` when the run tested on held-out MiE-X samples (the data-free
    first run: results.json ``evaluation``), where "clips" and "subjects" would misname what was tested."""
    evaluation = results.get("evaluation")  # written only when the test corpus is MiE-X
    if not evaluation:
        return None
    units = "AU draw" if evaluation["held_out"] == "au_draw" else "identity"
    samples = results["tested"]["all"]["clips"]
    identities = evaluation["identities"]
    whose = f" ({plural(identities, 'identity', 'identities')})" if identities and units != "identity" else ""
    many = "identities" if units == "identity" else ""
    return f"{plural(samples, 'sample')} of {plural(evaluation['held_out_units'], units, many)}{whose}"


def _training_data(recipe: Recipe, results: Mapping[str, Any]) -> str:
    data = recipe.data
    real = data.real
    test = ScoredCorpus.of(results)
    synthetic = synthetic_test_text(results)
    if synthetic:
        return (
            f"- `real`: MiE-X folder `{real.clips.name}`: {synthetic}, 3-class (negative, positive, "
            f"surprise), every fold tested on {results['evaluation']['held_out'].replace('_', ' ')}s it never "
            "trained on"
        )
    sizes = source_sizes(results)
    labels = "3-class (negative, positive, surprise)" if real.labels is None else f"native classes {list(real.labels)}"
    called = f" (named {real.name!r} in the recipe)" if real.name and slug(real.name) != test.key else ""
    total = recorded(results, "real_clips")
    folds, defined = results["protocol"]["folds"], recorded(results["protocol"], "folds_defined", "protocol.")
    what = (
        f"{test.title}, {total} labelled clips"
        if test.clips == total
        else f"{total} labelled clips, {test.clips} of them ({test.title}) tested in the {folds} of {defined} folds run"
    )
    lines = [
        f"- `real`: clip table `{real.clips.name}`: {what}{called}"
        + (f", datasets filtered to {list(real.datasets)}" if real.datasets else "")
        + f", {labels}"
    ]
    used = {source for stage in recipe.stages for source in stage.train}
    if data.miex and "miex" in used:
        lines.append(
            f"- `miex`: {source_title('miex', test, sizes, miex=results['miex'])} from "
            f"`{data.miex.path.name}` (split `{data.miex.split}`)"
        )
    for name, spec in data.extra.items():
        if name not in used:
            continue
        frames = f", early frames: apex at floor(N·p), p ~ U{spec.early_interval}" if spec.frames == "early" else ""
        lines.append(f"- `{name}`: {source_title(name, test, sizes)} from clip table `{spec.clips.name}`{frames}")
    for name, info in recorded(results, "alignment").items():
        skipped = len(info.get("skipped_clips") or [])
        left_out = f"; {skipped} clip(s) with no face on the onset frame left out (results.json)" if skipped else ""
        lines.append(f"- alignment of `{name}` ({info['method']}): {info['description']}{left_out}")
    return "\n".join(lines)


LEAKAGE = (
    "In every fold, real clips of the test subjects are never trained on, in any stage; extra real sets drop those "
    "subjects' clips, and MiE-X samples whose AUs were measured on a test subject's clip are removed (the fold filter "
    "of `miex.train.protocols`). The per-fold counts of removed samples are in `results.json`."
)
SYNTHETIC_LEAKAGE = (
    "In every fold, no sample of a test AU draw (or identity, with `held_out: identity`) is trained on: samples with "
    "the same AUs on the same face render to the same frames, so a random split would test on training images."
)


def render_card(
    recipe: Recipe,
    results: Mapping[str, Any],
    *,
    parameters: int,
    world: int,
    checkpoint: str,
    figures: Iterable[str] | None = None,
) -> str:
    """The full card text (YAML header + filled template); ``figures`` are the image files present beside the card
    (None: every one of :data:`CARD_FIGURES`, which the runner always writes)."""
    ran = Ran.of(results)  # refuses a results.json that lacks a fact the card states
    label_names = ran.label_names
    best = results.get("best_on_validation")
    best_note = (
        "Best epoch chosen on a validation split carved from the training subjects (never on test data), for "
        "reference:\n\n" + results_table(best, ScoredCorpus.of(results))
        if best
        else 'No validation split was configured, so no "best epoch" figure is given (choosing it on test data '
        "would inflate the score)."
    )
    usage = (
        "from transformers import AutoModelForImageClassification\n"
        "import miex.train.models  # registers the miex recognizers with the Auto classes\n\n"
        'model = AutoModelForImageClassification.from_pretrained("PATH_OR_REPO")\n'
        f"# inputs: {checkpoint_inputs(recipe)}; see miex.train.data.model_inputs"
    )
    body = render_template(
        CARD_TEMPLATE,
        title=card_title(recipe, results),
        summary=card_summary(recipe, results),
        model_name=recipe.model.name,
        model_description=MODEL_DESCRIPTIONS.get(recipe.model.name, "miex recognizer"),
        parameters=f"{parameters:,}",
        backbone=f"`{ran.backbone}`" if ran.backbone else "random weights",
        label_space=", ".join(f"{i} {n}" for i, n in enumerate(label_names)),
        recipe_name=recipe.name,
        reproduction=reproduction_note(recipe, results),
        published=published_figure(recipe),
        protocol=results["protocol"]["description"][0].upper()
        + results["protocol"]["description"][1:]
        + f" ({results['protocol']['folds']} folds), {len(recipe.seeds)} seed(s)",
        metric_note="UF1 and UAR come from one confusion matrix of all out-of-fold predictions (TP/FP/FN summed "
        "over folds first), per-dataset rows from the same pooled predictions; mean ± sample std over seeds",
        results_table=results_table(results["last_epoch"], ScoredCorpus.of(results)),
        best_note=best_note,
        training_data=_training_data(recipe, results),
        leakage=SYNTHETIC_LEAKAGE if results.get("evaluation") else LEAKAGE,
        stages=_stages(recipe),
        hyperparameters=_hyperparameters(recipe, world, results["stages"]),
        checkpoint=checkpoint,
        usage=usage,
        recipe_yaml=recipe.to_yaml().rstrip(),
        figures=figures_markdown(figures),
    )
    return f"---\n{card_data(recipe, results).to_yaml()}\n---\n\n{body}"


def _input_spec(recipe: Recipe) -> Any:
    """What the recipe's model reads (:class:`miex.train.models.InputSpec`)."""
    return model_class(recipe.model.name).config_class(**recipe.model.config).input_spec()


def checkpoint_inputs(recipe: Recipe) -> str:
    """What the checkpoint's ``forward`` takes, with this run's sizes (the model's input spec and ``data.image``)."""
    spec = _input_spec(recipe)
    crop = recipe.data.crop_size
    if spec.sequence:
        side = spec.flow_size or crop
        return f"pixel_values (B, 2, {spec.sequence - 1}, {side}, {side}): u, v flow between consecutive frames"
    if spec.flow:
        side, channels = spec.flow_size or crop, "u, v" if spec.flow == "uv" else "u, v, optical strain"
        return (
            f"pixel_values (B, {len(channels.split(', '))}, {side}, {side}): {channels} of the composite flow "
            "image, values 0-255 (docs/reference.md §Flow images)"
        )
    names = ["pixel_values"] if len(spec.frames) == 1 else [f"pixel_values_{frame}" for frame in spec.frames]
    return f"{' and '.join(names)} (B, 3, {crop}, {crop}), ImageNet-normalised"


def write_card(folder: Path, text: str) -> Path:
    """Write ``README.md`` and check that it parses back with its model-index."""
    path = folder / "README.md"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    parsed = ModelCard.load(path)
    if not parsed.data.eval_results:
        raise MiexInputError("model card has no parsable model-index", file=path)  # pragma: no cover
    return path


def push_to_hub(folder: Path, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
    """Upload the model folder (weights, config, card, plots, results) as a model repo; returns its URL."""
    try:
        from miex.data.hub import push_folder
    except ImportError as error:  # the Hub helper ships with `miex push`
        raise MiexInputError(
            f"--push-to-hub needs miex.data.hub.push_folder ({error}); the run's folder {folder} "
            "is complete, upload it later with `huggingface-cli upload`"
        ) from error
    return push_folder(
        folder, repo_id, repo_type="model", private=private, token=token, commit_message=f"miex train: {folder.name}"
    )
