"""The run folder: cleared and started before training (recipe, folds), then results.json, predictions, curves,
plots and the model card after it. Only the main process calls these.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from typing import Any

import torch

from ..protocols import save_folds
from . import outputs
from .card import render_card, write_card
from .checks import WRITTEN, Plan
from .specs import DataSpec, Recipe, StageSpec
from .stages import per_device_batch, world_size

logger = logging.getLogger(__name__)


def start_folder(plan: Plan) -> None:
    """Remove what an earlier run wrote (``--overwrite`` was checked in preflight), then write the recipe as run
    and its folds."""
    recipe, out = plan.recipe, plan.recipe.output.dir
    for name in WRITTEN:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.yaml").write_text(recipe.to_yaml(), encoding="utf-8")
    save_folds([f.fold for f in plan.folds], out / "folds.json", protocol=recipe.protocol.kind,
               seed=recipe.protocol.seed)  # fmt: skip


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


def stage_info(stage: StageSpec) -> dict[str, Any]:
    world = world_size()
    return {"name": stage.name, "train": list(stage.train), **vars(stage.training),
            "effective_batch_size": per_device_batch(stage.training.batch_size, world) * world}  # fmt: skip


def inputs_info(data: DataSpec, *, flow_images: bool = False) -> dict[str, Any]:
    """How frames became model inputs: image sizes, flow method, motion magnification (``None``: off); for flow
    recognizers, the composite flow image (docs/reference.md §Flow images)."""
    info = {"resize": data.resize, "crop_size": data.crop_size, "flow_method": data.flow_method,
            "magnify": data.magnify.describe() if data.magnify is not None else None}  # fmt: skip
    if flow_images:
        info["representation"] = ("composite flow image: u, v, optical strain at 28x28, each channel min-max scaled "
                                  "per image to 0..255, computed once per clip or pair")  # fmt: skip
    return info


def versions() -> dict[str, str]:
    import accelerate
    import datasets
    import transformers

    import miex_train

    return {"miex": miex_train.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "datasets": datasets.__version__, "accelerate": accelerate.__version__}  # fmt: skip


def results_payload(plan: Plan, results: Sequence[outputs.FoldResult]) -> dict[str, Any]:
    """results.json without the final model's entry: what ran and the pooled scores."""
    recipe = plan.recipe
    return {
        "format": outputs.RESULTS_FORMAT,
        "recipe": recipe.name,
        "model": recipe.model.name,
        "label_names": plan.label_names,
        "real_clips": len(plan.sources.real.dataset),
        "protocol": protocol_info(plan),
        "alignment": plan.sources.alignment_info(),
        "inputs": inputs_info(recipe.data, flow_images=plan.flow_tensors is not None),
        "seeds": list(recipe.seeds),
        "stages": [stage_info(stage) for stage in recipe.stages],
        "world_size": world_size(),
        **outputs.summarize(results, recipe.seeds, plan.label_names, recipe.protocol.absent),
    }


def checkpoint_note(recipe: Recipe, payload: dict[str, Any]) -> str:
    """What the card says about the weights in model/: trained on every subject, or absent."""
    if not recipe.output.final_model:
        return "No checkpoint in this folder (output.final_model: false): card and results only."
    counts = payload["final_model"]["train_counts"]
    used = "; ".join(f"{stage}: " + ", ".join(f"{n} {c['used']}" for n, c in v.items()) for stage, v in counts.items())
    return (f"Trained by the same recipe on ALL subjects (seed {recipe.seeds[0]}; samples per stage and source: "
            f"{used}). The scores above estimate this training procedure by cross-validation; they were not measured "
            "on this checkpoint, which has seen every test subject.")  # fmt: skip


def write_outputs(
    plan: Plan, results: list[outputs.FoldResult], payload: dict[str, Any], final_history: dict | None,
    parameters: int, seconds: float,
) -> None:  # fmt: skip
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
    outputs.write_json(out / "run_info.json", {"seconds": round(seconds, 2), "versions": versions(),
                                               "world_size": payload["world_size"]})  # fmt: skip
    last = payload["last_epoch"]["all"]
    from .card import card_title

    title = (f"{card_title(recipe, payload)}\nlast epoch, {len(recipe.seeds)} seed(s) pooled: "
             f"UF1 {100 * last['uf1']['mean']:.1f}  UAR {100 * last['uar']['mean']:.1f}")  # fmt: skip
    plots = out / "plots"
    outputs.plot_confusion(outputs.pooled_confusion(results, len(names)), names, plots / "confusion_matrix.png", title)
    outputs.plot_curves(results, [s.name for s in recipe.stages], plots / "training_curves.png")
    model_dir = out / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in ("confusion_matrix.png", "training_curves.png"):
        shutil.copyfile(plots / name, model_dir / name)
    shutil.copyfile(out / "results.json", model_dir / "results.json")
    text = render_card(recipe, payload, parameters=parameters, world=payload["world_size"],
                       checkpoint=checkpoint_note(recipe, payload))  # fmt: skip
    write_card(model_dir, text)
    shutil.rmtree(out / ".trainer", ignore_errors=True)
    logger.info("results: UF1 %.4f ± %.4f, UAR %.4f ± %.4f (last epoch, %d seed(s)); written to %s",
                last["uf1"]["mean"], last["uf1"]["std"], last["uar"]["mean"], last["uar"]["std"], len(recipe.seeds),
                out)  # fmt: skip
