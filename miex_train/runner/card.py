"""The model card of a run: ``cards/model_card.md`` filled from the results, with a generated YAML header.

The header comes from ``huggingface_hub.ModelCardData(eval_results=[EvalResult(...)])`` (docs/reference.md §Hugging
Face stack: the Trainer's
``create_model_card`` does not put custom metrics into ``model-index``), one ``EvalResult`` per metric (UF1, UAR,
accuracy; last epoch, mean over seeds) for the whole test corpus and each of its datasets. So the numbers in the
card are the numbers in ``results.json``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from miex_dataset.cards import render_template
from miex_dataset.errors import MiexInputError

from .recipe import Recipe, TrainingSpec

CARD_TEMPLATE = "model_card.md"
METRICS: tuple[tuple[str, str], ...] = (("uf1", "UF1"), ("uar", "UAR"), ("accuracy", "Accuracy"))
MODEL_DESCRIPTIONS = {
    "branches": "two ResNet encoders on the onset and apex frames, MLP head (Liu et al., FG 2019)",
    "apexme": "one CNN on the apex frame or the onset-apex flow image (Li, Huang & Zhao, ICIP 2018)",
    "ststnet": "shallow triple-stream net on optical flow u, v and strain (Liong et al., FG 2019)",
    "offapexnet": "two-stream CNN on onset-apex optical flow (Gan et al., 2019)",
    "dtscnn": "dual temporal scale 3-D CNN on flow sequences (Peng et al., 2017)",
}


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "data"


def corpus_name(recipe: Recipe, datasets: Sequence[str]) -> str:
    return recipe.data.real.name or " + ".join(datasets)


def eval_results(recipe: Recipe, results: Mapping[str, Any]) -> list[EvalResult]:
    """One EvalResult per (test corpus or dataset part) x metric, last-epoch means over seeds."""
    last = results["last_epoch"]
    parts = [p for p in last if p not in ("note", "all")]
    name = corpus_name(recipe, parts)
    split = f"{results['protocol']['short']} out-of-fold"
    seeds = len(results["seeds"])
    entries = []
    for part in ["all", *parts]:
        if part == "all":
            dataset_type, dataset_name = slug(name), name
        else:
            dataset_type, dataset_name = part, f"{part} ({name})" if len(parts) > 1 else part
        if part != "all" and len(parts) == 1 and slug(part) == slug(name):
            continue
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
    parts = [p for p in results["last_epoch"] if p not in ("note", "all")]
    backbone = recipe.model.backbone
    return ModelCardData(
        model_name=recipe.name,
        library_name="transformers",
        pipeline_tag="image-classification",
        license="other",
        tags=["micro-expression", "miex", "facial-expression-recognition", f"miex-{recipe.model.name}"],
        datasets=[slug(corpus_name(recipe, parts)), *(["miex"] if recipe.data.miex else [])],
        metrics=[key for key, _ in METRICS],
        base_model=backbone if backbone and "/" in backbone and not Path(backbone).exists() else None,
        eval_results=eval_results(recipe, results),
    )


def _pm(entry: Mapping[str, Any]) -> str:
    return f"{100 * entry['mean']:.1f} ± {100 * entry['std']:.1f}"


def results_table(summary: Mapping[str, Any]) -> str:
    lines = ["| test data | samples | UF1 (%) | UAR (%) | accuracy (%) |", "|---|---:|---:|---:|---:|"]
    for part, entry in summary.items():
        if part == "note":
            continue
        lines.append(f"| {part} | {entry['num_samples']} | {_pm(entry['uf1'])} | {_pm(entry['uar'])} | "
                     f"{_pm(entry['accuracy'])} |")  # fmt: skip
    return "\n".join(lines)


def _hyperparameters(recipe: Recipe, world: int) -> str:
    keys = [name for name in TrainingSpec.__dataclass_fields__ if name != "num_workers"]
    lines = ["| stage | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for stage in recipe.stages:
        values = [str(getattr(stage.training, key)) for key in keys]
        lines.append(f"| {stage.name} | " + " | ".join(values) + " |")
    data = recipe.data
    lines += [
        "",
        f"Inputs: shorter side resized to {data.resize}, training augmentation random rotation ±10°, colour jitter "
        f"0.2 and a random {data.crop_size} crop; evaluation resize + centre crop. `batch_size` is the global batch "
        f"({world} process{'es' if world > 1 else ''}). Learning rate constant for `epochs`, then linear decay to 0 "
        "over `decay_epochs`. Seeds: " + ", ".join(map(str, recipe.seeds)) + ".",
    ]
    return "\n".join(lines)


def _stages(recipe: Recipe) -> str:
    lines = []
    for index, stage in enumerate(recipe.stages, 1):
        lines.append(f"{index}. **{stage.name}**: trains on {', '.join(f'`{s}`' for s in stage.train)} for "
                     f"{stage.training.total_epochs} epoch(s)")  # fmt: skip
    if len(recipe.stages) > 1:
        lines.append("\nEach stage continues from the previous stage's weights; where the label space changes, the "
                     "classification head is re-initialised and the encoders kept.")  # fmt: skip
    return "\n".join(lines)


def _training_data(recipe: Recipe, results: Mapping[str, Any]) -> str:
    data = recipe.data
    real = data.real
    labels = "3-class (negative, positive, surprise)" if real.labels is None else f"native classes {list(real.labels)}"
    lines = [f"- `real`: clip table `{real.clips.name}`" + (f" ({real.name})" if real.name else "")
             + (f", datasets {list(real.datasets)}" if real.datasets else "") + f", {labels}"]  # fmt: skip
    if data.miex:
        lines.append(f"- `miex`: MiE-X from `{data.miex.path.name}` (split `{data.miex.split}`)")
    for name, spec in data.extra.items():
        frames = (f", early frames: apex at floor(N·p), p ~ U{spec.early_interval}" if spec.frames == "early" else "")
        lines.append(f"- `{name}`: clip table `{spec.clips.name}`{frames}")
    return "\n".join(lines)


LEAKAGE = (
    "In every fold, real clips of the test subjects are never trained on, in any stage; extra real sets drop those "
    "subjects' clips, and MiE-X samples whose AUs were measured on a test subject's clip are removed (the fold filter "
    "of `miex_train.protocols`). The per-fold counts of removed samples are in `results.json`."
)


def render_card(
    recipe: Recipe,
    results: Mapping[str, Any],
    *,
    parameters: int,
    world: int,
    checkpoint: str,
) -> str:
    """The full card text (YAML header + filled template)."""
    label_names = results["label_names"]
    best = results.get("best_on_validation")
    best_note = (
        "Best epoch chosen on a validation split carved from the training subjects (never on test data), for "
        "reference:\n\n" + results_table({k: v for k, v in best.items() if k != "note"})
        if best
        else "No validation split was configured, so no \"best epoch\" figure is given (choosing it on test data "
        "would inflate the score)."
    )
    usage = (
        "from transformers import AutoModelForImageClassification\n"
        "import miex_train.models  # registers the miex recognizers with the Auto classes\n\n"
        "model = AutoModelForImageClassification.from_pretrained(\"PATH_OR_REPO\")\n"
        f"# inputs: {checkpoint_inputs(recipe.model.name)}; see miex_train.data.model_inputs"
    )
    body = render_template(
        CARD_TEMPLATE,
        title=recipe.name,
        summary=recipe.description or f"A `{recipe.model.name}` micro-expression recognizer trained by recipe "
        f"`{recipe.name}`.",
        model_name=recipe.model.name,
        model_description=MODEL_DESCRIPTIONS.get(recipe.model.name, "miex recognizer"),
        parameters=f"{parameters:,}",
        backbone=f"`{recipe.model.backbone}`" if recipe.model.backbone else "random weights",
        label_space=", ".join(f"{i} {n}" for i, n in enumerate(label_names)),
        recipe_name=recipe.name,
        protocol=results["protocol"]["description"][0].upper() + results["protocol"]["description"][1:]
        + f" ({results['protocol']['folds']} folds), {len(recipe.seeds)} seed(s)",
        metric_note="UF1 and UAR come from one confusion matrix of all out-of-fold predictions (TP/FP/FN summed "
        "over folds first), per-dataset rows from the same pooled predictions; mean ± sample std over seeds",
        results_table=results_table({k: v for k, v in results["last_epoch"].items() if k != "note"}),
        best_note=best_note,
        training_data=_training_data(recipe, results),
        leakage=LEAKAGE,
        stages=_stages(recipe),
        hyperparameters=_hyperparameters(recipe, world),
        checkpoint=checkpoint,
        usage=usage,
        recipe_yaml=recipe.to_yaml().rstrip(),
    )
    return f"---\n{card_data(recipe, results).to_yaml()}\n---\n\n{body}"


def checkpoint_inputs(model: str) -> str:
    return {
        "branches": "pixel_values_onset and pixel_values_apex (B, 3, 224, 224), ImageNet-normalised",
        "apexme": "pixel_values (B, 3, 224, 224): the apex frame or the flow image",
        "ststnet": "pixel_values (B, 3, 28, 28): u, v, optical strain",
        "offapexnet": "pixel_values (B, 2, 28, 28): u, v",
    }.get(model, "see the model's forward()")


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
        from miex_dataset.hub import push_folder
    except ImportError as error:  # the Hub helper ships with `miex push`
        raise MiexInputError(f"--push-to-hub needs miex_dataset.hub.push_folder ({error}); the run's folder {folder} "
                             "is complete, upload it later with `huggingface-cli upload`") from error  # fmt: skip
    return push_folder(folder, repo_id, repo_type="model", private=private, token=token,
                       commit_message=f"miex train: {folder.name}")  # fmt: skip
