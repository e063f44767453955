"""Run a recipe: check everything, then for each seed and fold train the stages and predict the test subjects, then
pool, summarise, plot, train the published model on all subjects and write its card.

All checks (recipe keys, model, data, label spaces, folds, MiE-X provenance, output folder) run in
:func:`preflight`, before any training starts. Every process of a distributed run executes the same code; only the
main process writes files.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import PartialState
from transformers import PreTrainedConfig, set_seed

from miex_dataset.errors import MiexInputError

from ..data import with_model_inputs
from ..models import create_config, create_model, model_class
from ..models.base import MiexPreTrainedModel
from ..protocols import Fold, kfold, load_folds, lodo, loso, save_folds, validate_fold
from . import outputs
from .card import push_to_hub, render_card, write_card
from .recipe import Recipe
from .sources import FoldPlan, Sources, carve_validation, check_miex_subjects, load_sources, real_rows, source_rows
from .sources import training_set as stage_training_set
from .stages import per_device_batch, predict, train_stage, world_size

logger = logging.getLogger(__name__)

WRITTEN = ("recipe.yaml", "folds.json", "results.json", "run_info.json", "curves.json", "predictions", "plots",
           "model", "fold_models", ".trainer")  # fmt: skip
"""Everything a run writes in its output folder (``--overwrite`` removes exactly these)."""


class FlowFunction:
    """Onset -> apex optical flow (the face pipeline's TV-L1 or Farneback) for the flow recognizers; the frames it
    receives are the aligned crops (:mod:`miex_train.aligned_clips`) unless the recipe says ``alignment: none``."""

    def __init__(self, method: str) -> None:
        from miex_dataset.faces.flow import FlowParams, default_method

        self.params = FlowParams(method=default_method() if method == "auto" else method)

    def __call__(self, onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from miex_dataset.faces.flow import optical_flow

        def to_uint8(image: np.ndarray) -> np.ndarray:
            return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)

        flow = optical_flow(to_uint8(onset), to_uint8(apex), self.params)
        return flow[..., 0], flow[..., 1]


@dataclass
class Plan:
    """Everything :func:`preflight` established; training only reads it."""

    recipe: Recipe
    sources: Sources
    folds: list[FoldPlan]
    stage_labels: list[list[str]]
    model_config: dict[str, Any]
    flow_fn: FlowFunction | None
    progress: bool = True
    """A step bar per stage and fold on stderr (off: log lines only)."""

    @property
    def label_names(self) -> list[str]:
        return self.stage_labels[-1]


# --------------------------------------------------------------------------------------------------------------
# checks


def model_config_keys(name: str) -> list[str]:
    """Config fields a recipe may set for family ``name`` (the label space comes from the data)."""
    config_class = model_class(name).config_class
    base = {f.name for f in fields(PreTrainedConfig)}
    return sorted({f.name for f in fields(config_class)} - base - {"backbone_init"})


def check_model(recipe: Recipe) -> dict[str, Any]:
    known = model_config_keys(recipe.model.name)  # unknown family: error listing the known ones
    unknown = sorted(set(recipe.model.config) - set(known))
    if unknown:
        raise MiexInputError(f"unknown {recipe.model.name} config key(s) {unknown}; known: {known} (the label space "
                             "comes from the data)", file=recipe.source, field="model.config")  # fmt: skip
    return dict(recipe.model.config)


def stage_label_spaces(recipe: Recipe, sources: Sources) -> list[list[str]]:
    """Each stage's label space (all its sources must agree); the last stage's must be the test corpus's."""
    spaces = []
    for index, stage in enumerate(recipe.stages):
        names = {source: sources.label_names(source) for source in stage.train}
        distinct = {tuple(v) for v in names.values()}
        if len(distinct) > 1:
            raise MiexInputError(
                f"label space mismatch in stage {stage.name!r}: {names}; sources trained together need the same "
                "classes in the same order (set data.<source>.labels, or train them in separate stages)",
                file=recipe.source, field=f"stages[{index}].train",
            )  # fmt: skip
        spaces.append(list(next(iter(distinct))))
    test = sources.real.label_names
    if spaces[-1] != test:
        raise MiexInputError(
            f"label space mismatch: the last stage {recipe.stages[-1].name!r} trains on classes {spaces[-1]} but the "
            f"test corpus has {test}; add a final stage that fine-tunes on `real`, or set data.real.labels: "
            "three_class to test in MiE-X's label space",
            file=recipe.source, field="stages",
        )  # fmt: skip
    return spaces


def make_folds(recipe: Recipe, sources: Sources) -> list[Fold]:
    protocol, table = recipe.protocol, sources.real.subjects
    if protocol.kind == "kfold":
        folds = kfold(table, protocol.k, seed=protocol.seed, stratify=protocol.stratify)
    elif protocol.kind == "loso":
        folds = loso(table)
    elif protocol.kind == "lodo":
        folds = lodo(table)
    else:
        folds = load_folds(protocol.file)
        if not folds:
            raise MiexInputError("fold file has no folds", file=protocol.file, field="folds")
    tested: dict[tuple[str, str], str] = {}
    for fold in folds:
        validate_fold(fold, table)  # no test samples, overlapping subjects: clear errors
        for subject in fold.test_subjects:
            if subject in tested:
                raise MiexInputError(f"subject {subject} is tested in folds {tested[subject]!r} and {fold.name!r}: "
                                     "pooled scores would count its clips twice", field="test_subjects")  # fmt: skip
            tested[subject] = fold.name
    present = {(str(d), str(s)) for d, s in table[["dataset", "subject"]].itertuples(index=False)}
    untested = sorted(present - set(tested))
    if untested:
        logger.warning("%d subject(s) with clips are never tested: %s", len(untested), untested[:5])
    return folds


def prepare_output(recipe: Recipe, *, overwrite: bool) -> None:
    out = recipe.output.dir
    existing = [name for name in WRITTEN if (out / name).exists()]
    if existing and not overwrite:
        raise MiexInputError(f"output folder already holds a run ({', '.join(existing)}); pass --overwrite to replace "
                             "it or --out DIR for a new folder", file=out)  # fmt: skip


def preflight(recipe: Recipe, *, overwrite: bool = False, push: bool = False) -> Plan:
    """Every check that can fail, before any training: raises :class:`MiexInputError` with what to change."""
    config = check_model(recipe)
    sequence = create_config(recipe.model.name, **config).input_spec().sequence  # video recognizers read frames
    sources = load_sources(recipe.data.real, dict(recipe.data.extra), recipe.data.miex, sequence=sequence)
    stage_labels = stage_label_spaces(recipe, sources)
    probe = build_model(recipe, config, stage_labels[0])  # bad config values, missing backbone weights: here
    spec = probe.config.input_spec()
    if spec.flow and recipe.data.flow_method == "tvl1":
        from miex_dataset.faces.flow import tvl1_available

        if not tvl1_available():
            raise MiexInputError("TV-L1 flow needs opencv-contrib (cv2.optflow); install it or set data.flow.method: "
                                 "farneback", file=recipe.source, field="data.flow.method")  # fmt: skip
    folds = make_folds(recipe, sources)
    protocol = recipe.protocol
    plans = [
        carve_validation(fold, sources.real, protocol.validation_fraction, protocol.validation_seed, index)
        for index, fold in enumerate(folds)
    ]
    if any("miex" in stage.train for stage in recipe.stages):
        check_miex_subjects(sources.miex, sources.real, sources.miex_path)
    for plan in plans:
        for stage in recipe.stages:
            used = sum(len(source_rows(plan, sources, name)[0]) for name in stage.train)
            if used == 0:
                raise MiexInputError(f"fold {plan.name!r}, stage {stage.name!r}: no training samples left from "
                                     f"{list(stage.train)}", file=recipe.source, field="stages")  # fmt: skip
    if push and not recipe.output.final_model:
        raise MiexInputError("--push-to-hub needs a model: set output.final_model: true", file=recipe.source)
    if push and importlib.util.find_spec("miex_dataset.hub") is None:
        raise MiexInputError("--push-to-hub needs miex_dataset.hub, which this installation lacks")
    prepare_output(recipe, overwrite=overwrite)
    flow_fn = FlowFunction(recipe.data.flow_method) if spec.flow else None
    return Plan(recipe, sources, plans, stage_labels, config, flow_fn)


# --------------------------------------------------------------------------------------------------------------
# training


def build_model(recipe: Recipe, config: dict[str, Any], label_names: list[str]) -> MiexPreTrainedModel:
    """A fresh model in ``label_names``; a config the family rejects is an input error naming ``model.config``."""
    try:
        return create_model(recipe.model.name, backbone=recipe.model.backbone,
                            id2label=dict(enumerate(label_names)), **config)  # fmt: skip
    except MiexInputError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as error:
        raise MiexInputError(f"cannot build {recipe.model.name} from model.config {config}: {error!r}",
                             file=recipe.source, field="model.config") from error  # fmt: skip


def new_model(plan: Plan, seed: int) -> MiexPreTrainedModel:
    set_seed(seed)
    return build_model(plan.recipe, plan.model_config, plan.stage_labels[0])


def inputs(plan: Plan, dataset: Any, model: MiexPreTrainedModel, *, train: bool, seed: int = 0) -> Any:
    data = plan.recipe.data
    return with_model_inputs(dataset, model.config, train=train, resize=data.resize, crop_size=data.crop_size,
                             seed=seed, flow_fn=plan.flow_fn)  # fmt: skip


def stage_keys(plan: Plan, fold: FoldPlan) -> list[str]:
    """For each stage, a digest of the training rows of that stage and all before it (same digest: same weights)."""
    digest, keys = hashlib.sha256(), []
    for stage in plan.recipe.stages:
        digest.update(stage.name.encode())
        for name in stage.train:
            digest.update(name.encode() + source_rows(fold, plan.sources, name)[0].astype(np.int64).tobytes())
        keys.append(digest.copy().hexdigest())
    return keys


class StageCache:
    """Weights after the first stages, shared by the folds of one seed whose rows for those stages are identical.

    E.g. pre-training on MiE-X for MMEW folds: no MiE-X sample derives from an MMEW subject, so every fold would
    pre-train on the same rows with the same seed; it is trained once and the other folds start from a copy. Only
    prefixes used by more than one fold are kept, and each is dropped after its last use.
    """

    def __init__(self, plan: Plan) -> None:
        self.keys = {fold.name: stage_keys(plan, fold)[:-1] for fold in plan.folds}
        self.remaining = Counter(key for keys in self.keys.values() for key in keys)
        self.items: dict[str, tuple[dict[str, torch.Tensor], list[str], dict, dict]] = {}

    def lookup(self, fold: str, seed: int) -> tuple[int, tuple | None]:
        """The longest cached prefix of ``fold``'s stages: (number of stages, entry) or (0, None)."""
        for count in range(len(self.keys[fold]), 0, -1):
            key = f"{seed}:{self.keys[fold][count - 1]}"
            if key in self.items:
                return count, self.items[key]
        return 0, None

    def store(self, fold: str, seed: int, index: int, model: MiexPreTrainedModel, counts: dict, history: dict) -> None:
        if index < len(self.keys[fold]) and self.remaining[self.keys[fold][index]] > 1:
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            entry = (state, model.config.label_names, dict(counts), dict(history))
            self.items[f"{seed}:{self.keys[fold][index]}"] = entry

    def done(self, fold: str, seed: int) -> None:
        """``fold`` finished: forget prefixes no later fold of this seed needs."""
        for key in self.keys[fold]:
            self.remaining[key] -= 1
            if self.remaining[key] <= 0:
                self.items.pop(f"{seed}:{key}", None)
        if all(v <= 0 for v in self.remaining.values()):  # next seed: counts start again
            self.remaining = Counter(key for keys in self.keys.values() for key in keys)
            self.items.clear()


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
        logger.info("%s: stages %s trained on the same rows by an earlier fold; starting from its weights", label,
                    [s.name for s in recipe.stages[:start]])  # fmt: skip
    for index, stage in enumerate(recipe.stages[start:], start):
        names = plan.stage_labels[index]
        if model.config.label_names != names:
            logger.info("%s: new head for stage %r (%s -> %s); encoders kept", label, stage.name,
                        model.config.label_names, names)  # fmt: skip
            model.reset_head(dict(enumerate(names)))
        train, counts[stage.name] = stage_training_set(fold, plan.sources, stage.train)
        last = index == len(recipe.stages) - 1
        validation = None
        if last and fold is not None and fold.validation:
            validation = inputs(plan, real_rows(plan.sources, fold.validation), model, train=False)
        logger.info("%s stage %r: %d training samples %s", label, stage.name, len(train), counts[stage.name])
        outcome = None  # the previous stage's Trainer is not kept alive while this one trains
        outcome = train_stage(
            model, inputs(plan, train, model, train=True, seed=seed * 1000 + index), stage.training,
            workdir=workdir, seed=seed, label=f"{label}/{stage.name}", validation=validation,
            num_classes=len(names), absent=recipe.protocol.absent, progress=plan.progress,
        )  # fmt: skip
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
    columns = {name: [str(v) for v in test_raw[name]] for name in ("dataset", "subject", "clip")}
    return outputs.FoldResult(
        seed=seed, fold=fold.name, test_subjects=list(fold.fold.test_subjects), datasets=columns["dataset"],
        subjects=columns["subject"], clips=columns["clip"], truth=truth,
        last=last, best=best, best_epoch=best_epoch, counts=counts, history=history,
    )  # fmt: skip


def _protocol_info(plan: Plan) -> dict[str, Any]:
    protocol = plan.recipe.protocol
    return {
        "kind": protocol.kind,
        "description": protocol.describe(),
        "short": protocol.short(),
        "folds": len(plan.folds),
        "k": protocol.k or None,
        "seed": protocol.seed,
        "stratify": protocol.stratify,
        "validation_fraction": protocol.validation_fraction,
        "validation_subjects": {f.name: [list(s) for s in f.validation] for f in plan.folds if f.validation},
    }


def _stage_info(stage: Any) -> dict[str, Any]:
    world = world_size()
    return {"name": stage.name, "train": list(stage.train), **vars(stage.training),
            "effective_batch_size": per_device_batch(stage.training.batch_size, world) * world}  # fmt: skip


def _versions() -> dict[str, str]:
    import accelerate
    import datasets
    import transformers

    import miex_train

    return {"miex": miex_train.__version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "datasets": datasets.__version__, "accelerate": accelerate.__version__}  # fmt: skip


def run(
    recipe: Recipe, *, overwrite: bool = False, check: bool = False, push_to_hub_repo: str | None = None,
    private: bool = False, progress: bool = True,
) -> dict[str, Any] | None:  # fmt: skip
    """Run ``recipe`` (or only check it with ``check``); returns the results dict on every process. ``progress``
    shows a step bar per stage and fold on stderr."""
    state = PartialState(cpu=not torch.cuda.is_available())
    plan = preflight(recipe, overwrite=overwrite, push=push_to_hub_repo is not None)
    plan.progress = progress
    if check:
        if state.is_main_process:
            logger.info("recipe %s is valid: %d fold(s), stages %s, label space %s, %d test clip(s)", recipe.name,
                        len(plan.folds), [s.name for s in recipe.stages], plan.label_names,
                        len(plan.sources.real.dataset))  # fmt: skip
        return None
    out = recipe.output.dir
    state.wait_for_everyone()  # all processes passed the checks before the folder changes
    if state.is_main_process:
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
    state.wait_for_everyone()
    if state.is_main_process:
        logger.info("%d seed(s) x %d fold(s) to train%s; DataLoader workers per process: %s", len(recipe.seeds),
                    len(plan.folds), " + the final model" if recipe.output.final_model else "",
                    {stage.name: stage.training.num_workers for stage in recipe.stages})  # fmt: skip
    started = time.perf_counter()
    cache = StageCache(plan)
    results = [run_fold(plan, fold, seed, out, state, cache) for seed in recipe.seeds for fold in plan.folds]
    summary = outputs.summarize(results, recipe.seeds, plan.label_names, recipe.protocol.absent)
    payload: dict[str, Any] = {
        "format": outputs.RESULTS_FORMAT,
        "recipe": recipe.name,
        "model": recipe.model.name,
        "label_names": plan.label_names,
        "protocol": _protocol_info(plan),
        "alignment": plan.sources.alignment_info(),
        "seeds": list(recipe.seeds),
        "stages": [_stage_info(stage) for stage in recipe.stages],
        "world_size": world_size(),
        **summary,
    }
    final_history = None
    model_dir = out / "model"
    if recipe.output.final_model:
        model, _, counts, final_history = train_stages(plan, None, recipe.seeds[0], out / ".trainer", "final model")
        payload["final_model"] = {"path": "model", "seed": recipe.seeds[0], "train_counts": counts}
        parameters = sum(p.numel() for p in model.parameters())
        if state.is_main_process:
            model.save_pretrained(model_dir)
    else:
        parameters = sum(p.numel() for p in new_model(plan, recipe.seeds[0]).parameters())
    if state.is_main_process:
        write_outputs(plan, results, payload, final_history, parameters, time.perf_counter() - started)
        if push_to_hub_repo:
            url = push_to_hub(model_dir, push_to_hub_repo, private=private)
            logger.info("pushed %s to %s", model_dir, url)
    state.wait_for_everyone()
    return payload


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
    outputs.write_json(out / "run_info.json", {"seconds": round(seconds, 2), "versions": _versions(),
                                               "world_size": payload["world_size"]})  # fmt: skip
    last = payload["last_epoch"]["all"]
    title = (f"{recipe.name}: last epoch, {len(recipe.seeds)} seed(s) pooled\n"
             f"UF1 {100 * last['uf1']['mean']:.1f}  UAR {100 * last['uar']['mean']:.1f}")  # fmt: skip
    plots = out / "plots"
    outputs.plot_confusion(outputs.pooled_confusion(results, len(names)), names, plots / "confusion_matrix.png", title)
    outputs.plot_curves(results, [s.name for s in recipe.stages], plots / "training_curves.png")
    model_dir = out / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in ("confusion_matrix.png", "training_curves.png"):
        shutil.copyfile(plots / name, model_dir / name)
    shutil.copyfile(out / "results.json", model_dir / "results.json")
    if recipe.output.final_model:
        counts = payload["final_model"]["train_counts"]
        used = "; ".join(
            f"{stage}: " + ", ".join(f"{n} {c['used']}" for n, c in v.items()) for stage, v in counts.items()
        )
        checkpoint = (f"Trained by the same recipe on ALL subjects (seed {recipe.seeds[0]}; samples per stage and "
                      f"source: {used}). The scores above estimate this training procedure by cross-validation; "
                      "they were not measured on this checkpoint, which has seen every test subject.")  # fmt: skip
    else:
        checkpoint = "No checkpoint in this folder (output.final_model: false): card and results only."
    text = render_card(recipe, payload, parameters=parameters, world=payload["world_size"], checkpoint=checkpoint)
    write_card(model_dir, text)
    shutil.rmtree(out / ".trainer", ignore_errors=True)
    logger.info("results: UF1 %.4f ± %.4f, UAR %.4f ± %.4f (last epoch, %d seed(s)); written to %s",
                last["uf1"]["mean"], last["uf1"]["std"], last["uar"]["mean"], last["uar"]["std"], len(recipe.seeds),
                out)  # fmt: skip
