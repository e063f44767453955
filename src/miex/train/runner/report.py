"""The run folder: cleared and started before training (recipe, folds), then results.json, predictions, curves,
plots and the model card after it. Only the main process calls these.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from typing import Any

import torch

from miex.core.fileio import RUN_KIND, mark_output, refuse_links
from miex.data.corpora.clips import FLOW_IMAGES
from miex.train.models import create_config, model_class
from miex.train.models.base import InputSpec
from miex.train.protocols import save_folds
from miex.train.runner import facts, outputs
from miex.train.runner.card import card_title, render_card, write_card
from miex.train.runner.checks import RUN_COMMAND, RUN_TREES, WRITTEN, Plan
from miex.train.runner.specs import DataSpec, Recipe, StageSpec
from miex.train.runner.stages import per_device_batch, world_size

logger = logging.getLogger(__name__)


def start_folder(plan: Plan) -> None:
    """Claim the output folder (the caller holds its lock; the folder was guarded in preflight): check again that
    nothing to be replaced is a link, remove what an earlier run wrote, mark the folder as a ``miex train`` run, then
    write the recipe as run and its folds."""
    recipe, out = plan.recipe, plan.recipe.output.dir
    refuse_links(out, WRITTEN, trees=RUN_TREES)  # a link planted since preflight: never delete through it
    for name in WRITTEN:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    mark_output(out, RUN_KIND, RUN_COMMAND)
    (out / "recipe.yaml").write_text(recipe.to_yaml(), encoding="utf-8")
    save_folds(
        [f.fold for f in plan.folds], out / "folds.json", protocol=recipe.protocol.kind, seed=recipe.protocol.seed
    )


def protocol_info(plan: Plan) -> dict[str, Any]:
    protocol = plan.recipe.protocol
    return {
        "kind": protocol.kind,
        "description": protocol.describe(),
        "short": protocol.short(),
        "folds": len(plan.folds),
        "folds_defined": plan.folds_total or len(plan.folds),
        "k": protocol.k or None,
        "seed": protocol.seed,
        "stratify": protocol.stratify,
        "validation_fraction": protocol.validation_fraction,
        "validation_subjects": {f.name: [list(s) for s in f.validation] for f in plan.folds if f.validation},
    }


TENSOR_PATH_UNUSED = ("num_workers", "eval_batch_size", "precision", "activation_checkpointing")
"""Training settings the in-memory loop of the flow recognizers (:mod:`.tensor_stage`) never reads: no DataLoader,
fixed evaluation batches, fp32, no ResNet activations to recompute."""


def stage_info(stage: StageSpec, *, tensors: bool = False, resnet: bool = True) -> dict[str, Any]:
    """One stage's settings as they applied: ``tensors`` (the flow recognizers' in-memory loop) drops the settings
    that loop does not read, ``resnet`` False (no ResNet encoder) drops ``activation_checkpointing``."""
    settings = dict(vars(stage.training))
    unused = TENSOR_PATH_UNUSED if tensors else () if resnet else ("activation_checkpointing",)
    for name in unused:
        settings.pop(name)
    world = world_size()
    batch = stage.training.batch_size if tensors else per_device_batch(stage.training.batch_size, world) * world
    return {"name": stage.name, "train": list(stage.train), **settings, "effective_batch_size": batch}


def inputs_info(
    data: DataSpec, spec: InputSpec, *, flow_images: bool = False, flow_computed: bool = True
) -> dict[str, Any]:
    """How frames became the model's inputs, listing only what applied to this model: RGB frame models record
    ``resize`` and ``crop_size``; flow models the side of their flow input (``crop_size`` when the model has no size of
    its own) and ``flow_method``, the method that ran (none when every source held ready flow images:
    ``flow_computed`` False); ``magnify`` only when magnification was on. For flow recognizers on tensors
    (``flow_images``), the composite flow image (docs/reference.md §Flow images)."""
    from miex.data.faces.flow import default_method

    info: dict[str, Any] = {}
    if spec.frames:
        info |= {"resize": data.resize, "crop_size": data.crop_size}
    if spec.flow:
        info["flow_input_size"] = spec.flow_size or data.crop_size
        if not spec.flow_size:
            info["crop_size"] = data.crop_size
        if flow_computed:
            info["flow_method"] = default_method() if data.flow_method == "auto" else data.flow_method
    if data.magnify is not None:
        info["magnify"] = data.magnify.describe()
    if flow_images:
        info["representation"] = (
            "composite flow image: u, v, optical strain at 28x28, each channel min-max scaled "
            "per image to 0..255, computed once per clip or pair"
        )
    return info


def _computes_flow(plan: Plan) -> bool:
    """Whether any flow was computed: a source of frames (not a flow-image table), or MiE-X trained on."""
    corpora = [plan.sources.real, *plan.sources.extra.values()]
    uses_miex = any("miex" in stage.train for stage in plan.recipe.stages) and plan.sources.miex is not None
    return uses_miex or any(corpus.holds != FLOW_IMAGES for corpus in corpora)


def versions() -> dict[str, str]:
    import accelerate
    import datasets
    import transformers

    from miex.core import __version__

    return {
        "miex": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "accelerate": accelerate.__version__,
    }


def results_payload(plan: Plan, results: Sequence[outputs.FoldResult]) -> dict[str, Any]:
    """results.json without the final model's entry: what ran (with :func:`.facts.run_facts`: the clips and subjects
    tested, initial weights, MiE-X size and sources, each stage's epochs and training-set size) and the pooled
    scores."""
    recipe = plan.recipe
    ran = facts.run_facts(plan, results)
    config = create_config(recipe.model.name, **plan.model_config)
    spec, tensors = config.input_spec(), plan.flow_tensors is not None
    resnet = model_class(recipe.model.name).has_resnet(config)
    inputs = inputs_info(recipe.data, spec, flow_images=tensors, flow_computed=_computes_flow(plan))
    return {
        "format": outputs.RESULTS_FORMAT,
        "recipe": recipe.name,
        "model": recipe.model.name,
        "label_names": plan.label_names,
        "real_clips": len(plan.sources.real.dataset),
        **ran,
        "protocol": protocol_info(plan),
        "alignment": plan.sources.alignment_info(),
        "inputs": inputs,
        **({"miex_subset": plan.sources.miex_subset} if plan.sources.miex_subset is not None else {}),
        "seeds": list(recipe.seeds),
        "stages": [
            {**stage_info(s, tensors=tensors, resnet=resnet), **facts.stage_facts(s, results, ran["miex"])}
            for s in recipe.stages
        ],
        "world_size": world_size(),
        **outputs.summarize(results, recipe.seeds, plan.label_names, recipe.protocol.absent),
    }


def checkpoint_note(recipe: Recipe, payload: dict[str, Any]) -> str:
    """What the card says about the weights in model/: trained on every subject, or absent."""
    if not recipe.output.final_model:
        return "No checkpoint in this folder (output.final_model: false): card and results only."
    counts = payload["final_model"]["train_counts"]
    used = "; ".join(f"{stage}: " + ", ".join(f"{n} {c['used']}" for n, c in v.items()) for stage, v in counts.items())
    return (
        f"Trained by the same recipe on ALL subjects (seed {recipe.seeds[0]}; samples per stage and source: "
        f"{used}). The scores above estimate this training procedure by cross-validation; they were not measured "
        "on this checkpoint, which has seen every test subject."
    )


def write_outputs(
    plan: Plan,
    results: list[outputs.FoldResult],
    payload: dict[str, Any],
    final_history: dict | None,
    parameters: int,
    seconds: float,
) -> None:
    recipe, out = plan.recipe, plan.recipe.output.dir
    names = plan.label_names
    for seed in recipe.seeds:
        mine = [r for r in results if r.seed == seed]
        (out / "predictions").mkdir(parents=True, exist_ok=True)
        (out / "predictions" / f"seed-{seed}.megc.txt").write_text(outputs.megc_log(mine), encoding="utf-8")
        (out / "predictions" / f"seed-{seed}.csv").write_text(outputs.predictions_csv(mine, names), encoding="utf-8")
    outputs.write_json(out / "results.json", payload)
    curves = {f"seed-{r.seed}/{r.fold}": r.history for r in results}
    if final_history is not None:
        curves["final_model"] = final_history
    outputs.write_json(out / "curves.json", curves)
    outputs.write_json(
        out / "run_info.json",
        {"seconds": round(seconds, 2), "versions": versions(), "world_size": payload["world_size"]},
    )
    last = payload["last_epoch"]["all"]
    title = (
        f"{card_title(recipe, payload)}\nlast epoch, {len(recipe.seeds)} seed(s) pooled: "
        f"UF1 {100 * last['uf1']['mean']:.1f}  UAR {100 * last['uar']['mean']:.1f}"
    )
    plots = out / "plots"
    outputs.plot_confusion(outputs.pooled_confusion(results, len(names)), names, plots / "confusion_matrix.png", title)
    outputs.plot_curves(results, [s.name for s in recipe.stages], plots / "training_curves.png")
    model_dir = out / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in ("confusion_matrix.png", "training_curves.png"):
        shutil.copyfile(plots / name, model_dir / name)
    shutil.copyfile(out / "results.json", model_dir / "results.json")
    text = render_card(
        recipe, payload, parameters=parameters, world=payload["world_size"], checkpoint=checkpoint_note(recipe, payload)
    )
    write_card(model_dir, text)
    shutil.rmtree(out / ".trainer", ignore_errors=True)
    logger.info(
        "results: UF1 %.4f ± %.4f, UAR %.4f ± %.4f (last epoch, %d seed(s)); written to %s",
        last["uf1"]["mean"],
        last["uf1"]["std"],
        last["uar"]["mean"],
        last["uar"]["std"],
        len(recipe.seeds),
        out,
    )
