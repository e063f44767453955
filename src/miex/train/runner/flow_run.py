"""Cross-validation of the flow recognizers (STSTNet, OFF-ApexNet, HTNet, ApexME on flow) on tensors in memory,
folds in parallel processes.

Every clip and MiE-X pair is turned into its composite flow image once (:mod:`miex.train.flow_inputs`, cached on
disk), then every fold trains by :func:`miex.train.runner.tensor_stage.train_on_tensors` on rows of those tensors. The
fold jobs run in ``protocol.workers`` processes (one thread each, forked, so the tensors are shared, not copied) and,
under ``torchrun``, are split between the ranks too. Each job's result depends only on its seed and fold, never on
which process ran it: the same recipe gives the same predictions with 1 or 8 workers.

Stages that several folds of a seed train on identical rows (MiE-X pre-training when no MiE-X sample derives from a
real subject) are trained once and every fold fine-tunes from a copy, as :class:`.cache.StageCache` does on the
Trainer path.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from accelerate import PartialState
from accelerate.utils import gather_object
from transformers import set_seed

from miex.core.processes import worker_pool
from miex.data.corpora.clips import FLOW_IMAGES
from miex.data.faces.flow import FlowParams, default_method
from miex.train.flow_inputs import dataset_flow_images, model_tensor, png_flow_images
from miex.train.models.base import MiexPreTrainedModel
from miex.train.protocols import subject_mask
from miex.train.runner import outputs
from miex.train.runner.cache import stage_keys
from miex.train.runner.checks import Plan, build_model
from miex.train.runner.sources import Corpus, FoldPlan, source_rows
from miex.train.runner.tensor_stage import Validation, predict_tensors, train_on_tensors

logger = logging.getLogger(__name__)

Job = tuple[int, int]
"""(seed, fold index)."""


@dataclass
class FlowTensors:
    """Every source of a recipe as model-ready tensors, rows in the order of the source's dataset."""

    sources: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]


def flow_params(method: str) -> FlowParams:
    return FlowParams(method=default_method() if method == "auto" else method)


def corpus_images(corpus: Corpus, params: FlowParams, workers: int) -> np.ndarray:
    """(N, 28, 28, 3) flow images of a corpus: read from a flow-image table, computed from aligned frames else."""
    if corpus.holds == FLOW_IMAGES:
        paths = corpus.dataset.cast_column("onset", _undecoded())["onset"]
        return png_flow_images([item["path"] for item in paths])
    return dataset_flow_images(corpus.dataset, params, workers=workers, desc=f"flow images ({corpus.name})")


def _undecoded() -> Any:
    import datasets

    return datasets.Image(decode=False)


def build_flow_tensors(plan: Plan, config: Any) -> FlowTensors:
    """The model's input tensor of every source (computed once, through the cache)."""
    spec, data = config.input_spec(), plan.recipe.data
    size = spec.flow_size or data.crop_size
    params, workers = flow_params(data.flow_method), plan.recipe.protocol.workers
    sources = plan.sources
    corpora = {"real": sources.real, **sources.extra}
    images = {name: corpus_images(corpus, params, workers) for name, corpus in corpora.items()}
    labels = {
        name: torch.as_tensor(np.asarray(corpus.dataset["label"], dtype=np.int64)) for name, corpus in corpora.items()
    }
    if sources.miex is not None and any("miex" in stage.train for stage in plan.recipe.stages):
        images["miex"] = dataset_flow_images(sources.miex, params, workers=workers, desc="flow images (MiE-X)")
        labels["miex"] = torch.as_tensor(np.asarray(sources.miex["label"], dtype=np.int64))
    tensors = {name: model_tensor(array, spec, size) for name, array in images.items()}
    return FlowTensors(tensors, labels)


# ------------------------------------------------------------------------------------------------------------------
# one job


_PLAN: Plan | None = None
_TENSORS: FlowTensors | None = None
"""Set in the parent before forking: workers read them without a copy."""


def _rows(plan: Plan, fold: FoldPlan | None, names: tuple[str, ...], tensors: FlowTensors):
    inputs, labels, counts = [], [], {}
    for name in names:
        rows, removed = source_rows(fold, plan.sources, name)
        counts[name] = {"used": len(rows), "removed": removed}
        index = torch.as_tensor(rows, dtype=torch.long)
        inputs.append(tensors.sources[name][index])
        labels.append(tensors.labels[name][index])
    return torch.cat(inputs), torch.cat(labels), counts


def _state(model: MiexPreTrainedModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_stages(
    plan: Plan,
    tensors: FlowTensors,
    fold: FoldPlan | None,
    seed: int,
    *,
    stop: int | None = None,
    start: tuple[int, dict[str, Any]] | None = None,
) -> tuple[MiexPreTrainedModel, dict, dict, Validation | None]:
    """Stages ``[first, stop)`` of one fold (``None``: all subjects) from a fresh model, or from ``start`` =
    (first stage, the prefix's saved entry). Returns the model, counts, curves and the validation tracker."""
    recipe = plan.recipe
    set_seed(seed)
    model = build_model(recipe, plan.model_config, plan.stage_labels[0])
    first, counts, history = 0, {}, {}
    if start is not None:
        first, entry = start
        if model.config.label_names != entry["labels"]:
            model.reset_head(dict(enumerate(entry["labels"])))
        model.load_state_dict(entry["state"])
        counts, history = dict(entry["counts"]), dict(entry["history"])
    stop = len(recipe.stages) if stop is None else stop
    validation = None
    for index in range(first, stop):
        stage, names = recipe.stages[index], plan.stage_labels[index]
        if model.config.label_names != names:
            model.reset_head(dict(enumerate(names)))
        inputs, labels, counts[stage.name] = _rows(plan, fold, stage.train, tensors)
        last = index == len(recipe.stages) - 1
        validation = None
        if last and fold is not None and fold.validation:
            rows = np.flatnonzero(subject_mask(plan.sources.real.subjects, fold.validation))
            validation = Validation(
                tensors.sources["real"][torch.as_tensor(rows)],
                tensors.labels["real"][torch.as_tensor(rows)].numpy(),
                len(names),
                recipe.protocol.absent,
            )
        label = f"seed {seed} fold {fold.name}/{stage.name}" if fold is not None else f"final model/{stage.name}"
        history[stage.name] = train_on_tensors(
            model, inputs, labels, stage.training, seed=seed * 1000 + index, validation=validation, label=label
        )
    return model, counts, history, validation


def _prefix_job(job: tuple[int, int, int, str]) -> tuple[tuple[int, str], dict[str, Any]]:
    """Train the first ``count`` stages of fold ``index`` for ``seed``; the entry every fold sharing ``key`` starts
    from."""
    seed, index, count, key = job
    plan, tensors = _PLAN, _TENSORS
    torch.set_num_threads(1)
    model, counts, history, _ = train_stages(plan, tensors, plan.folds[index], seed, stop=count)
    entry = {"state": _state(model), "labels": model.config.label_names, "counts": counts, "history": history}
    return (seed, key), entry


def _fold_job(job: tuple[int, int, int, dict[str, Any] | None]) -> outputs.FoldResult:
    seed, index, first, entry = job
    plan, tensors = _PLAN, _TENSORS
    torch.set_num_threads(1)
    fold = plan.folds[index]
    start = (first, entry) if entry is not None else None
    model, counts, history, validation = train_stages(plan, tensors, fold, seed, start=start)
    rows = np.flatnonzero(subject_mask(plan.sources.real.subjects, fold.fold.test_subjects))
    test = plan.sources.real.dataset.select(rows.tolist())
    test_inputs = tensors.sources["real"][torch.as_tensor(rows, dtype=torch.long)]
    truth = tensors.labels["real"][torch.as_tensor(rows, dtype=torch.long)].numpy()
    last = predict_tensors(model, test_inputs).argmax(axis=-1)
    best = best_epoch = None
    if validation is not None and validation.state is not None:
        model.load_state_dict(validation.state)
        best, best_epoch = predict_tensors(model, test_inputs).argmax(axis=-1), validation.epoch
    return outputs.FoldResult.of(
        seed, fold, test, truth, last, best=best, best_epoch=best_epoch, counts=counts, history=history
    )


# ------------------------------------------------------------------------------------------------------------------
# all jobs


def shared_prefixes(plan: Plan, seeds: list[int]) -> dict[Job, tuple[int, str]]:
    """For each job, how many leading stages it shares with another fold of its seed (0: none) and the digest of
    those stages' rows (:func:`.cache.stage_keys`). All of them, when every stage trains on the same rows in several
    folds (MiE-X only): those folds then differ only in what they test, and one model predicts each fold's test
    subjects."""
    keys = {index: stage_keys(plan, fold) for index, fold in enumerate(plan.folds)}
    uses = Counter(key for fold_keys in keys.values() for key in fold_keys)
    shared = {}
    for index, fold_keys in keys.items():
        count = max((n + 1 for n, key in enumerate(fold_keys) if uses[key] > 1), default=0)
        for seed in seeds:
            shared[(seed, index)] = (count, fold_keys[count - 1] if count else "")
    return shared


def _map(function: Any, jobs: list[Any], workers: int, desc: str, progress: bool) -> list[Any]:
    """``function`` over ``jobs`` in ``workers`` forked processes (in order); a bar counts finished jobs."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc=desc, unit="fold", disable=not progress or None, mininterval=1.0)
    results: list[Any] = [None] * len(jobs)
    if workers <= 1 or len(jobs) <= 1:
        threads = torch.get_num_threads()
        for number, job in enumerate(jobs):
            results[number] = function(job)
            bar.update()
        torch.set_num_threads(threads)
    else:
        with worker_pool(min(workers, len(jobs)), "fork") as pool:
            futures = {pool.submit(function, job): number for number, job in enumerate(jobs)}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                bar.update()
    bar.close()
    return results


def run_folds(plan: Plan, tensors: FlowTensors, state: PartialState) -> list[outputs.FoldResult]:
    """Every (seed, fold) of the recipe; the jobs are split between the ranks of a distributed run, and between
    ``protocol.workers`` processes within each rank. Results come back in (seed, fold) order on every rank."""
    global _PLAN, _TENSORS
    _PLAN, _TENSORS = plan, tensors
    seeds = list(plan.recipe.seeds)
    workers = plan.recipe.protocol.workers
    shared = shared_prefixes(plan, seeds)
    prefix_jobs: dict[tuple[int, str], tuple[int, int, int, str]] = {}
    for (seed, index), (count, key) in shared.items():
        if count:
            prefix_jobs.setdefault((seed, key), (seed, index, count, key))
    entries: dict[tuple[int, str], dict[str, Any]] = {}
    if prefix_jobs:
        jobs = sorted(prefix_jobs.values())
        with state.split_between_processes(jobs) as mine:
            done = _map(_prefix_job, list(mine), workers, "shared stages", plan.progress)
        entries = dict(gather_object(done) if state.num_processes > 1 else done)
    jobs = []
    for seed in seeds:
        for index in range(len(plan.folds)):
            count, key = shared[(seed, index)]
            jobs.append((seed, index, count, entries[(seed, key)] if count else None))
    with state.split_between_processes(jobs) as mine:
        results = _map(_fold_job, list(mine), workers, f"{len(jobs)} fold(s)", plan.progress)
    if state.num_processes > 1:
        results = gather_object(results)
    order = {(seed, fold.name): n for n, (seed, fold) in enumerate((s, f) for s in seeds for f in plan.folds)}
    return sorted(results, key=lambda r: order[(r.seed, r.fold)])


def train_final(plan: Plan, tensors: FlowTensors) -> tuple[MiexPreTrainedModel, dict, dict]:
    """The published model: every stage on all subjects, seed = the recipe's first."""
    model, counts, history, _ = train_stages(plan, tensors, None, plan.recipe.seeds[0])
    return model, counts, history
