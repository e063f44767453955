"""Every check of a run, before any training: recipe against model, data, label spaces, folds, MiE-X provenance,
output folder. :func:`preflight` raises :class:`MiexInputError` with what to change, or returns the :class:`Plan`
that training only reads.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from transformers import PreTrainedConfig

from miex.core.errors import MiexInputError
from miex.core.fileio import RUN_KIND, guard_output_folder
from miex.core.pixels import round_to_uint8
from miex.train.models import create_config, create_model, model_class
from miex.train.models.base import MiexPreTrainedModel
from miex.train.protocols import Fold, kfold, load_folds, lodo, loso, validate_fold
from miex.train.runner.sources import (
    FoldPlan,
    Sources,
    carve_validation,
    check_miex_subjects,
    load_sources,
    source_rows,
)
from miex.train.runner.specs import Recipe

logger = logging.getLogger(__name__)

WRITTEN = (
    "recipe.yaml",
    "folds.json",
    "results.json",
    "run_info.json",
    "curves.json",
    "predictions",
    "plots",
    "model",
    "fold_models",
    ".trainer",
)
"""Everything a run writes in its output folder (``--overwrite`` removes exactly these)."""


class FlowFunction:
    """Onset -> apex optical flow (the face pipeline's TV-L1 or Farneback) for the flow recognizers; the frames it
    receives are the aligned crops (:mod:`miex.train.aligned_clips`) unless the recipe says ``alignment: none``."""

    def __init__(self, method: str) -> None:
        from miex.data.faces.flow import FlowParams, default_method

        self.params = FlowParams(method=default_method() if method == "auto" else method)

    def __call__(self, onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from miex.data.faces.flow import optical_flow

        onset, apex = (round_to_uint8(np.asarray(image) * 255.0) for image in (onset, apex))  # [0, 1] -> 0..255
        flow = optical_flow(onset, apex, self.params)
        return flow[..., 0], flow[..., 1]


def check_flow_method(method: str, *, file: Any = None, field: str = "data.flow.method") -> None:
    """TV-L1 needs opencv-contrib; say so before training rather than at the first batch."""
    if method != "tvl1":
        return
    from miex.data.faces.flow import tvl1_available

    if not tvl1_available():
        raise MiexInputError(
            "TV-L1 flow needs opencv-contrib (cv2.optflow); install it or set data.flow.method: farneback",
            file=file,
            field=field,
        )


@dataclass
class Plan:
    """Everything :func:`preflight` established; training only reads it."""

    recipe: Recipe
    sources: Sources
    folds: list[FoldPlan]
    stage_labels: list[list[str]]
    model_config: dict[str, Any]
    flow_fn: FlowFunction | None
    flow_tensors: Any = None
    """Flow recognizers: every source as model-ready tensors (:class:`.flow_run.FlowTensors`); folds train on those."""
    folds_total: int = 0
    """Folds the protocol defines; ``len(folds)`` of them run (``protocol.max_folds``)."""
    progress: bool = True
    """A step bar per stage and fold on stderr (off: log lines only)."""

    @property
    def label_names(self) -> list[str]:
        return self.stage_labels[-1]


def model_config_keys(name: str) -> list[str]:
    """Config fields a recipe may set for family ``name`` (the label space comes from the data)."""
    config_class = model_class(name).config_class
    base = {f.name for f in fields(PreTrainedConfig)}
    return sorted({f.name for f in fields(config_class)} - base - {"backbone_init"})


def check_model(recipe: Recipe) -> dict[str, Any]:
    known = model_config_keys(recipe.model.name)  # unknown family: error listing the known ones
    unknown = sorted(set(recipe.model.config) - set(known))
    if unknown:
        raise MiexInputError(
            f"unknown {recipe.model.name} config key(s) {unknown}; known: {known} (the label space "
            "comes from the data)",
            file=recipe.source,
            field="model.config",
        )
    return dict(recipe.model.config)


def build_model(recipe: Recipe, config: dict[str, Any], label_names: list[str]) -> MiexPreTrainedModel:
    """A fresh model in ``label_names``; a config the family rejects is an input error naming ``model.config``."""
    return new_recognizer(recipe.model.name, recipe.model.backbone, config, label_names, file=recipe.source)


def new_recognizer(
    name: str, backbone: str | None, config: dict[str, Any], label_names: list[str], *, file: Any = None
) -> MiexPreTrainedModel:
    """A fresh recognizer of family ``name``; bad config values are an input error naming ``model.config``."""
    try:
        return create_model(name, backbone=backbone, id2label=dict(enumerate(label_names)), **config)
    except MiexInputError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as error:
        raise MiexInputError(
            f"cannot build {name} from model.config {config}: {error!r}", file=file, field="model.config"
        ) from error


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
                file=recipe.source,
                field=f"stages[{index}].train",
            )
        spaces.append(list(next(iter(distinct))))
    test = sources.real.label_names
    if spaces[-1] != test:
        raise MiexInputError(
            f"label space mismatch: the last stage {recipe.stages[-1].name!r} trains on classes {spaces[-1]} but the "
            f"test corpus has {test}; add a final stage that fine-tunes on `real`, or set data.real.labels: "
            "three_class to test in MiE-X's label space",
            file=recipe.source,
            field="stages",
        )
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
                raise MiexInputError(
                    f"subject {subject} is tested in folds {tested[subject]!r} and {fold.name!r}: "
                    "pooled scores would count its clips twice",
                    field="test_subjects",
                )
            tested[subject] = fold.name
    present = {(str(d), str(s)) for d, s in table[["dataset", "subject"]].itertuples(index=False)}
    untested = sorted(present - set(tested))
    if untested:
        logger.warning("%d subject(s) with clips are never tested: %s", len(untested), untested[:5])
    return folds


RUN_TREES = ("predictions", "plots", "model", "fold_models", ".trainer")
"""The folders of :data:`WRITTEN`: never entered through a link, nor holding a link that a rewrite would follow."""
RUN_COMMAND = "miex train"


def run_inputs(recipe: Recipe) -> list[Path]:
    """Every file or folder a run reads: clip tables (or a MiE-X folder tested on), MiE-X, a fold file, a local
    backbone. The recipe file itself is not among them: it is read before anything is written, and ``recipe.yaml``
    in a run folder is the run's own record."""
    data = recipe.data
    inputs = [data.real.clips, *(spec.clips for spec in data.extra.values())]
    if data.miex is not None:
        inputs.append(data.miex.path)
    if recipe.protocol.file is not None:
        inputs.append(recipe.protocol.file)
    if recipe.model.backbone and Path(recipe.model.backbone).exists():
        inputs.append(Path(recipe.model.backbone))
    return inputs


def _inside_written(out: Path, inputs: list[Path]) -> None:
    """An input inside what ``--overwrite`` removes (``out/model/clips.parquet``) would be deleted by the run."""
    written = [(out / name).resolve() for name in WRITTEN]
    for given in inputs:
        source = Path(given).resolve()
        for target in written:
            if source == target or source.is_relative_to(target):
                raise MiexInputError(
                    f"the input {given} lies in {target.name}/ of the output folder, which the run "
                    "replaces; move it elsewhere or choose another --out",
                    file=out,
                )


def prepare_output(recipe: Recipe, *, overwrite: bool) -> None:
    """The output folder contract (docs/reference.md §File contract): a new, empty or earlier ``miex train`` run
    folder; a folder of anything else only with ``--overwrite``; never an input, never through a link; an earlier
    run is replaced only with ``--overwrite``."""
    out = recipe.output.dir
    inputs = run_inputs(recipe)
    guard_output_folder(
        out,
        overwrite,
        kind=RUN_KIND,
        command=RUN_COMMAND,
        writes=WRITTEN,
        trees=RUN_TREES,
        inputs=inputs,
        replaced="the earlier run's files (" + ", ".join(WRITTEN) + ")",
    )
    _inside_written(out, inputs)
    existing = [name for name in WRITTEN if (out / name).exists()]
    if existing and not overwrite:
        raise MiexInputError(
            f"output folder already holds a run ({', '.join(existing)}); pass --overwrite to replace "
            "it or --out DIR for a new folder",
            file=out,
        )


def preflight(recipe: Recipe, *, overwrite: bool = False, push: bool = False) -> Plan:
    """Every check that can fail, before any training: raises :class:`MiexInputError` with what to change."""
    prepare_output(recipe, overwrite=overwrite)  # first: refusing the output folder costs nothing
    config = check_model(recipe)
    sequence = create_config(recipe.model.name, **config).input_spec().sequence  # video recognizers read frames
    sources = load_sources(recipe.data.real, dict(recipe.data.extra), recipe.data.miex, sequence=sequence)
    stage_labels = stage_label_spaces(recipe, sources)
    probe = build_model(recipe, config, stage_labels[0])  # bad config values, missing backbone weights: here
    spec = probe.config.input_spec()
    if spec.flow:
        check_flow_method(recipe.data.flow_method, file=recipe.source)
    check_flow_image_tables(recipe, sources, spec)
    folds = make_folds(recipe, sources)
    total = len(folds)
    if recipe.protocol.max_folds is not None and recipe.protocol.max_folds < total:
        logger.warning(
            "protocol.max_folds: running %d of %d folds (a smoke run: scores cover only those folds' test subjects)",
            recipe.protocol.max_folds,
            total,
        )
        folds = folds[: recipe.protocol.max_folds]
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
                raise MiexInputError(
                    f"fold {plan.name!r}, stage {stage.name!r}: no training samples left from {list(stage.train)}",
                    file=recipe.source,
                    field="stages",
                )
    if push and not recipe.output.final_model:
        raise MiexInputError("--push-to-hub needs a model: set output.final_model: true", file=recipe.source)
    if push and importlib.util.find_spec("miex.data.hub") is None:
        raise MiexInputError("--push-to-hub needs miex.data.hub, which this installation lacks")
    flow_fn = FlowFunction(recipe.data.flow_method) if spec.sequence else None
    plan = Plan(recipe, sources, plans, stage_labels, config, flow_fn, folds_total=total)
    if spec.flow and not spec.sequence:
        from miex.train.runner.flow_run import build_flow_tensors

        if recipe.data.magnify is not None:
            raise MiexInputError(
                "data.magnify is not applied to flow images (the flow of a magnified pair is not a "
                "micro-expression's flow); remove it for this flow recognizer",
                file=recipe.source,
                field="data.magnify",
            )
        plan.flow_tensors = build_flow_tensors(plan, probe.config)
    return plan


def check_flow_image_tables(recipe: Recipe, sources: Sources, spec: Any) -> None:
    """A flow-image clip table feeds flow recognizers only (it has no frames for the others)."""
    from miex.data.corpora.clips import FLOW_IMAGES

    if spec.flow and not spec.sequence:
        return
    for corpus in (sources.real, *sources.extra.values()):
        if corpus.holds == FLOW_IMAGES:
            where = "data.real.clips" if corpus.name == "real" else f"data.extra.{corpus.name}.clips"
            raise MiexInputError(
                f"this clip table holds flow images, which {recipe.model.name} cannot read (it needs "
                "video frames); train a flow recognizer (ststnet, offapexnet, htnet, apexme with "
                "input_kind: flow) on it",
                file=recipe.source,
                field=where,
            )
