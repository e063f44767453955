"""Run a recipe: check everything (:mod:`.checks`), then for each seed and fold train the stages and predict the
test subjects, pool and write the results (:mod:`.report`), train the published model on all subjects and write its
card.

Every process of a distributed run executes the same code; only the main process writes files.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import PartialState
from transformers import set_seed

from miex.core.fileio import OutputLock
from miex.data.synthesis.verify import naming_damaged_shard
from miex.train.data import with_model_inputs
from miex.train.memory import bound_heap, release_free_heap
from miex.train.models.base import MiexPreTrainedModel
from miex.train.runner import flow_run, miex_test, outputs, report
from miex.train.runner.cache import StageCache
from miex.train.runner.card import push_to_hub
from miex.train.runner.checks import WRITTEN, FlowFunction, Plan, build_model, preflight
from miex.train.runner.sources import FoldPlan, real_rows
from miex.train.runner.sources import training_set as stage_training_set
from miex.train.runner.specs import Recipe
from miex.train.runner.stages import predict, train_stage

__all__ = ["WRITTEN", "FlowFunction", "Plan", "inputs", "new_model", "preflight", "run", "run_fold", "train_stages"]

logger = logging.getLogger(__name__)


def new_model(plan: Plan, seed: int) -> MiexPreTrainedModel:
    set_seed(seed)
    return build_model(plan.recipe, plan.model_config, plan.stage_labels[0])


def inputs(plan: Plan, dataset: Any, model: MiexPreTrainedModel, *, train: bool, seed: int = 0) -> Any:
    """``dataset`` with the model's inputs as its on-the-fly transform (the recipe's sizes, flow and magnification)."""
    data = plan.recipe.data
    return with_model_inputs(
        dataset,
        model.config,
        train=train,
        resize=data.resize,
        crop_size=data.crop_size,
        seed=seed,
        flow_fn=plan.flow_fn,
        magnify=data.magnify,
    )


def train_stages(
    plan: Plan, fold: FoldPlan | None, seed: int, workdir: Path, label: str, cache: StageCache | None = None
) -> tuple[MiexPreTrainedModel, Any, dict, dict]:
    """Train every stage in order on one fold (``None``: all subjects); returns model, last outcome, counts, curves."""
    recipe = plan.recipe
    model = new_model(plan, seed)
    counts, history, outcome = {}, {}, None
    start, entry = cache.lookup(fold.name, seed) if cache and fold else (0, None)
    if entry is not None:
        state, names, counts, history = entry
        counts, history = dict(counts), dict(history)
        if model.config.label_names != names:
            model.reset_head(dict(enumerate(names)))
        model.load_state_dict(state)
        logger.info(
            "%s: stages %s trained on the same rows by an earlier fold; starting from its weights",
            label,
            [s.name for s in recipe.stages[:start]],
        )
    for index, stage in enumerate(recipe.stages[start:], start):
        names = plan.stage_labels[index]
        if model.config.label_names != names:
            logger.info(
                "%s: new head for stage %r (%s -> %s); encoders kept",
                label,
                stage.name,
                model.config.label_names,
                names,
            )
            model.reset_head(dict(enumerate(names)))
        train, counts[stage.name] = stage_training_set(fold, plan.sources, stage.train)
        last = index == len(recipe.stages) - 1
        validation = None
        if last and fold is not None and fold.validation:
            validation = inputs(plan, real_rows(plan.sources, fold.validation), model, train=False)
        logger.info("%s stage %r: %d training samples %s", label, stage.name, len(train), counts[stage.name])
        outcome = None  # the previous stage's Trainer is not kept alive while this one trains
        outcome = train_stage(
            model,
            inputs(plan, train, model, train=True, seed=seed * 1000 + index),
            stage.training,
            workdir=workdir,
            seed=seed,
            label=f"{label}/{stage.name}",
            validation=validation,
            num_classes=len(names),
            absent=recipe.protocol.absent,
            progress=plan.progress,
        )
        history[stage.name] = outcome.history
        if cache and fold and not last:
            cache.store(fold.name, seed, index, model, counts, history)
    if cache and fold:
        cache.done(fold.name, seed)
    return model, outcome, counts, history


def run_fold(
    plan: Plan, fold: FoldPlan, seed: int, out: Path, state: PartialState, cache: StageCache | None = None
) -> outputs.FoldResult:
    label = f"seed {seed} fold {fold.name}"
    model, outcome, counts, history = train_stages(plan, fold, seed, out / ".trainer", label, cache)
    test_raw = real_rows(plan.sources, fold.fold.test_subjects)
    test = inputs(plan, test_raw, model, train=False)
    truth = np.asarray(list(test_raw["label"]), dtype=np.int64)
    last = predict(outcome.trainer, test, truth).argmax(axis=-1)
    if plan.recipe.output.save_fold_models and state.is_main_process:
        model.save_pretrained(out / "fold_models" / f"seed-{seed}" / fold.name.replace("/", "_"))
    best = best_epoch = None
    if outcome.best is not None and outcome.best.state is not None:
        model.load_state_dict(outcome.best.state)
        best, best_epoch = predict(outcome.trainer, test, truth).argmax(axis=-1), outcome.best.epoch
    return outputs.FoldResult.of(
        seed, fold, test_raw, truth, last, best=best, best_epoch=best_epoch, counts=counts, history=history
    )


def run(
    recipe: Recipe,
    *,
    overwrite: bool = False,
    check: bool = False,
    push_to_hub_repo: str | None = None,
    private: bool = False,
    progress: bool = True,
) -> dict[str, Any] | None:
    """Run ``recipe`` (or only check it with ``check``); returns the results dict on every process. ``progress``
    shows a step bar per stage and fold on stderr. An image of a MiE-X folder that fails to decode on the way is
    reported with the damaged shard's name (:func:`~miex.data.synthesis.verify.naming_damaged_shard`)."""
    with contextlib.ExitStack() as guards:
        for folder in miex_folders(recipe):
            guards.enter_context(naming_damaged_shard(folder))
        return _run(
            recipe,
            overwrite=overwrite,
            check=check,
            push_to_hub_repo=push_to_hub_repo,
            private=private,
            progress=progress,
        )


def miex_folders(recipe: Recipe) -> list[Path]:
    """The MiE-X folders a recipe reads: ``data.miex`` and a MiE-X folder tested on (``data.real.clips``)."""
    candidates = [recipe.data.real.clips, *([recipe.data.miex.path] if recipe.data.miex else [])]
    return [Path(folder) for folder in candidates if Path(folder).is_dir()]


def _run(
    recipe: Recipe, *, overwrite: bool, check: bool, push_to_hub_repo: str | None, private: bool, progress: bool
) -> dict[str, Any] | None:
    bound_heap()  # 68 folds in one process: freed memory goes back to the OS (docs/reference.md §Training memory)
    state = PartialState(cpu=not torch.cuda.is_available())
    plan = preflight(recipe, overwrite=overwrite, push=push_to_hub_repo is not None)
    plan.progress = progress
    if check:
        if state.is_main_process:
            logger.info(
                "recipe %s is valid: %d fold(s), stages %s, label space %s, %d test clip(s)",
                recipe.name,
                len(plan.folds),
                [s.name for s in recipe.stages],
                plan.label_names,
                len(plan.sources.real.dataset),
            )
        return None
    with contextlib.ExitStack() as held:
        state.wait_for_everyone()  # all processes passed the checks before the folder changes
        if state.is_main_process:  # one run at a time writes the folder, for the whole run
            held.enter_context(OutputLock(recipe.output.dir))
            report.start_folder(plan)
        state.wait_for_everyone()
        return _train_and_write(plan, state, push_to_hub_repo, private)


def _train_and_write(plan: Plan, state: PartialState, push_to_hub_repo: str | None, private: bool) -> dict[str, Any]:
    """Every fold of every seed, the final model, then results, card and (optionally) the Hub push."""
    recipe = plan.recipe
    out = recipe.output.dir
    if state.is_main_process:
        where = (
            f"fold processes: {recipe.protocol.workers} (flow images in memory)"
            if plan.flow_tensors is not None
            else f"DataLoader workers per process: "
            f"{ {stage.name: stage.training.num_workers for stage in recipe.stages} }"
        )
        logger.info(
            "%d seed(s) x %d fold(s) to train%s; %s",
            len(recipe.seeds),
            len(plan.folds),
            " + the final model" if recipe.output.final_model else "",
            where,
        )
    started = time.perf_counter()
    if plan.flow_tensors is not None:  # flow recognizers: tensors in memory, folds in parallel processes
        results = flow_run.run_folds(plan, plan.flow_tensors, state)
    else:
        cache = StageCache(plan)
        results = []
        for seed in recipe.seeds:
            for fold in plan.folds:
                results.append(run_fold(plan, fold, seed, out, state, cache))
                release_free_heap()
    payload = report.results_payload(plan, results)
    miex_test.annotate(plan, payload)  # tested on MiE-X itself: results and card say what that score means
    final_history = None
    model_dir = out / "model"
    if recipe.output.final_model and plan.flow_tensors is not None:
        model, counts, final_history = flow_run.train_final(plan, plan.flow_tensors)
    elif recipe.output.final_model:
        model, _, counts, final_history = train_stages(plan, None, recipe.seeds[0], out / ".trainer", "final model")
    if recipe.output.final_model:
        payload["final_model"] = {"path": "model", "seed": recipe.seeds[0], "train_counts": counts}
        parameters = sum(p.numel() for p in model.parameters())
        if state.is_main_process:
            model.save_pretrained(model_dir)
    else:
        parameters = sum(p.numel() for p in new_model(plan, recipe.seeds[0]).parameters())
    if state.is_main_process:
        report.write_outputs(plan, results, payload, final_history, parameters, time.perf_counter() - started)
        miex_test.explain(payload)
        if push_to_hub_repo:
            url = push_to_hub(model_dir, push_to_hub_repo, private=private)
            logger.info("pushed %s to %s", model_dir, url)
    state.wait_for_everyone()
    return payload
