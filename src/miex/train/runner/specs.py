"""The sections of a recipe, declared once: each dataclass field is a YAML key with its type, default and
constraints (:func:`~.schema.setting`); :mod:`.schema` derives the accepted keys, the checks and the messages from
these declarations, and ``__post_init__`` checks what spans several fields. Hyperparameter defaults are the paper's
(docs/reference.md §Recognizers).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from miex.core.errors import MiexInputError
from miex.data.magnify import Magnification
from miex.data.sources.triplet import SOURCES
from miex.train.aligned_clips import ALIGNMENT_METHODS, MISSING_FACE_CHOICES, AlignmentSettings
from miex.train.metrics import ABSENT_CHOICES
from miex.train.protocols.heldout import HeldOut
from miex.train.runner.schema import Reader, Rule, did_you_mean, setting

ProtocolKind = Literal["kfold", "loso", "lodo", "file"]
Optimizer = Literal["adam", "adamw"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
Switch = Literal["auto", "on", "off"]
FrameChoice = Literal["annotated", "early"]
FlowMethod = Literal["auto", "tvl1", "farneback"]

PROTOCOLS: tuple[str, ...] = get_args(ProtocolKind)
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
PRECISIONS: tuple[str, ...] = get_args(Precision)
FRAME_CHOICES: tuple[str, ...] = get_args(FrameChoice)
FLOW_METHODS: tuple[str, ...] = get_args(FlowMethod)
THREE_CLASS = "three_class"
RESERVED_SOURCES: tuple[str, ...] = ("real", "miex")
MAX_EPOCHS = 10_000
"""Most epochs a stage may run at full rate, and most it may decay over: the paper's stages run 10 + 10; a value
beyond this (``epochs: 1e22``) is a typo that would otherwise only show as a run that never ends."""
MAX_BATCH = 65_536
"""Largest (global) batch: beyond it a batch is the whole training set many times over, or a typo."""
MAX_IMAGE_SIDE = 4_096
"""Largest ``image.resize`` / ``image.crop_size``: MiE-X frames are 128 px, real crops a few hundred."""

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or a job scheduler's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _local_processes() -> int:
    """Processes of this run on this machine (torchrun / accelerate set ``LOCAL_WORLD_SIZE``)."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))


def default_num_workers(limit: int = 4) -> int:
    """DataLoader workers per process when the recipe sets none: at most ``limit``, leaving one of this process's
    cores to the training loop (4 workers on a 2-core machine only oversubscribe it, and torch warns per loader)."""
    return max(0, min(limit, available_cores() // _local_processes() - 1))


def default_fold_workers() -> int:
    """Fold processes of a flow recognizer's cross-validation: this process's share of the machine's cores."""
    return max(1, available_cores() // _local_processes())


def capped_at_cores(value: int, key: str) -> int:
    """``value`` worker processes, at most the cores this process may use: each worker holds a copy of the data
    pipeline (hundreds of MB), so 10000 of them exhaust the memory in seconds and none runs any faster. Says so."""
    cores = available_cores()
    if value <= cores:
        return value
    logger.warning(
        "%s: %d asked for, but this process may use %d core(s); using %d (more workers than cores only cost memory)",
        key,
        value,
        cores,
        cores,
    )
    return cores


def check_maximum(section: Any, limits: Mapping[str, int]) -> None:
    """Refuse a size above its limit (:data:`MAX_EPOCHS`, ...), naming the key (``image.resize``: the field is the
    key's last part) and the limit."""
    for key, limit in limits.items():
        value = getattr(section, key.rpartition(".")[2])
        if value > limit:
            raise MiexInputError(f"must be <= {limit}, got {value}", field=key)


def frozen(cls: type) -> type:
    """Sections are frozen keyword-only dataclasses (declaration order = the order keys are listed in messages)."""
    return dataclass(frozen=True, kw_only=True)(cls)


@frozen
class TrainingSpec:
    """One stage's optimisation (docs/reference.md §Recognizers defaults: Adam 1e-4, wd 5e-4, clip 1.0, batch 64, 10 +
    10 epochs).

    ``epochs`` run at the full learning rate, then ``decay_epochs`` decay it linearly to 0; ``batch_size`` is the
    GLOBAL batch, split over the processes of a distributed run. ``num_workers`` (DataLoader workers per process)
    defaults to what this machine's cores allow (:func:`default_num_workers`) and is lowered to the cores when set
    higher (:func:`capped_at_cores`); results.json records the value used. Sizes have maxima (:data:`MAX_EPOCHS`,
    :data:`MAX_BATCH`) and rates must be finite, also for a spec built in code (``train_recognizer``).
    """

    epochs: int = setting(10, minimum=0)
    decay_epochs: int = setting(10, minimum=0)
    learning_rate: float = setting(1e-4, minimum=0.0)
    weight_decay: float = setting(5e-4, minimum=0.0)
    optimizer: Optimizer = "adam"
    max_grad_norm: float = setting(1.0, minimum=0.0)
    batch_size: int = setting(64, minimum=1)
    eval_batch_size: int = setting(64, minimum=1)
    precision: Precision = "auto"
    num_workers: int = setting(default_factory=default_num_workers, minimum=0)
    activation_checkpointing: Switch = "auto"
    """``on``: recompute ResNet activations in the backward pass (exact gradients, ~1/3 more compute, a fraction of
    the memory); ``auto``: on when training on the CPU, where memory binds (a Branches step at batch 32 keeps ~2.5 GB
    of activations otherwise), off on a GPU; ``off``."""

    def __post_init__(self) -> None:
        limits = {
            "epochs": MAX_EPOCHS,
            "decay_epochs": MAX_EPOCHS,
            "batch_size": MAX_BATCH,
            "eval_batch_size": MAX_BATCH,
        }
        check_maximum(self, limits)
        if self.total_epochs < 1:
            raise MiexInputError("epochs + decay_epochs must be at least 1")
        for name in ("learning_rate", "weight_decay", "max_grad_norm"):  # also when built in code, not read
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise MiexInputError(
                    f"must be a finite number >= 0, got {value} (a NaN or infinite {name} turns "
                    "every weight into NaN, and the scores into noise)",
                    field=name,
                )
        object.__setattr__(self, "num_workers", capped_at_cores(self.num_workers, "training.num_workers"))

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.decay_epochs


@frozen
class StageSpec:
    """A stage: its name, the sources it trains on and its optimisation (keys beside ``name`` and ``train``,
    defaulting to the recipe's ``training``)."""

    name: str
    train: tuple[str, ...]
    training: TrainingSpec = setting(flatten=True)


def _backbone(reader: Reader, value: Any, where: str, got: dict[str, Any]) -> str | None:
    """A Hub id or folder of ImageNet weights; ``random`` (or absent): random initialisation."""
    name = None if value is None else reader.string(value, where)
    return None if name == "random" else name


@frozen
class ModelSpec:
    name: str = setting(missing="missing model name (e.g. branches, apexme, ststnet, offapexnet, htnet)")
    backbone: str | None = setting(None, parse=_backbone)
    config: Mapping[str, Any] = setting(default_factory=dict, what="model config fields")


def _labels(reader: Reader, value: Any, where: str, got: dict[str, Any]) -> tuple[str, ...] | None:
    if value is None or value == THREE_CLASS:
        return None
    labels = reader.names(value, where, Rule())
    if len(labels) < 2:
        reader.fail(f"labels: {THREE_CLASS!r} or a list of at least 2 emotion names", where)
    return labels


def _interval(reader: Reader, value: Any, where: str, got: dict[str, Any]) -> tuple[float, float]:
    if value is None:
        return (0.25, 0.5)
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not 0.0 <= value[0] <= value[1] <= 1.0
    ):
        reader.fail(f"expected [a, b] with 0 <= a <= b <= 1, got {value!r}", where)
    return (float(value[0]), float(value[1]))


@frozen
class RealSpec:
    """A clip table (``miex corpus ...``) used as a data source.

    ``labels``: ``None`` = the table's 3-class ``label``; a list of (canonical) emotion names = that native label
    space (MMEW's 6 classes, SAMM's 5: Table 2), other emotions left out. ``frames: early`` replaces the annotated apex
    by frame ``floor(N p)``, ``p ~ U(early_interval)`` (seeded): early frames of macro-expressions
    (docs/reference.md §AU sources). ``alignment`` (default: onset-similarity, 128 px, like MiE-X) says how clips are
    cropped and aligned before the recognizer sees them (:mod:`miex.train.aligned_clips`); ``on_missing_face`` what a
    clip whose onset has no face does: ``stop`` (default) the run before training, naming every such clip, or ``skip``
    it (listed in results.json).

    ``clips`` may also be a MiE-X folder (``miex synthesize``): its samples become the corpus, for a data-free run
    (:mod:`miex.train.runner.miex_test`); ``held_out`` says what the protocol's "subjects" are then: each
    ``identity``, or each ``au_draw`` (the one-face embedded default; :mod:`miex.train.protocols.heldout`).
    """

    clips: Path
    name: str = ""
    datasets: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = setting(None, parse=_labels)
    frames: FrameChoice = "annotated"
    early_interval: tuple[float, float] = setting((0.25, 0.5), parse=_interval)
    seed: int = 0
    alignment: AlignmentSettings = setting(
        default_factory=AlignmentSettings,
        shorthand="method",  # alignment: METHOD or {method: METHOD, size: 128, cache: DIR}
        fields={"method": Rule(choices=ALIGNMENT_METHODS), "size": Rule(minimum=32)},
    )
    on_missing_face: str = setting("stop", choices=MISSING_FACE_CHOICES)
    held_out: HeldOut = "identity"


@frozen
class MiexSpec:
    """A MiE-X folder (``miex: DIR`` or ``miex: {path: DIR, split: train, sources: [mie, mae], identities: 700}``).

    ``sources`` keeps only the samples whose ``source`` column is one of these AU sources (``mie``, ``mae``,
    ``expert``; absent: all), the paper's AU-combination study. ``identities`` keeps the samples of N identities: the
    identities ranked first by the SHA-256 digest of their name (:func:`miex.train.runner.miex_subset.identity_order`;
    a seeded-random-like choice that depends on nothing but the names, so 700 are among the 1,000 and a rerun picks
    the same ones); a MiE-X with fewer identities is an error. Both apply before the fold filter; results.json
    records what was kept (``miex_subset``).
    """

    path: Path
    split: str = "train"
    sources: tuple[str, ...] | None = setting(None, what="AU sources (mie, mae, expert)")
    identities: int | None = setting(None, minimum=1)

    def __post_init__(self) -> None:
        unknown = [s for s in self.sources or () if s not in SOURCES]
        if unknown:
            raise MiexInputError(
                f"unknown AU source(s) {unknown}{did_you_mean(unknown[0], list(SOURCES))}; choose "
                f"from {', '.join(SOURCES)}",
                field="sources",
            )


@frozen
class DataSpec:
    """What is trained and tested on, and how frames become model inputs.

    ``magnify`` (absent: off) applies linear Eulerian motion magnification (:class:`miex.data.magnify.Magnification`,
    docs/reference.md §Motion magnification) to every recognizer input, training and test alike.
    """

    real: RealSpec = setting(
        missing="missing the real corpus to test on: data.real.clips (a clip table from `miex corpus`)"
    )
    miex: MiexSpec | None = setting(None, shorthand="path")
    extra: Mapping[str, RealSpec] = setting(default_factory=dict, what="source name -> clip table settings")
    resize: int = setting(256, key="image.resize", minimum=1)
    crop_size: int = setting(224, key="image.crop_size", minimum=1)
    flow_method: FlowMethod = setting("auto", key="flow.method")
    magnify: Magnification | None = None

    def __post_init__(self) -> None:
        check_maximum(self, {"image.resize": MAX_IMAGE_SIDE, "image.crop_size": MAX_IMAGE_SIDE})
        for name in self.extra:
            simple = isinstance(name, str) and name.replace("_", "").replace("-", "").isalnum()
            if not simple or name in RESERVED_SOURCES:
                raise MiexInputError(
                    f"extra source names must be simple words other than {RESERVED_SOURCES}, got {name!r}",
                    field=f"extra.{name}",
                )
        if self.crop_size > self.resize:
            raise MiexInputError(
                f"crop_size {self.crop_size} is larger than resize {self.resize}", field="image.crop_size"
            )

    def sources(self) -> list[str]:
        return ["real", *(["miex"] if self.miex else []), *self.extra]


@frozen
class ProtocolSpec:
    """``kfold`` (subject-wise, seeded), ``loso``, ``lodo`` or ``file`` (a fold file from ``save_folds``).

    ``validation_fraction`` > 0 carves that share of each fold's TRAINING subjects out as a validation split (never
    trained on, MiE-X samples derived from them excluded too); it only labels a "best epoch on validation" figure.
    ``max_folds`` runs only the first folds (a smoke run; results and card say how many of how many ran).
    ``workers``: processes that train the folds of a flow recognizer in parallel (default: the cores).
    """

    kind: ProtocolKind = setting(missing=f"missing protocol kind (one of {', '.join(PROTOCOLS)})")
    k: int | None = setting(None, minimum=0)
    seed: int = 0
    stratify: bool = False
    file: Path | None = None
    validation_fraction: float = setting(0.0, key="validation.fraction", minimum=0.0, maximum=0.9)
    validation_seed: int = setting(0, key="validation.seed")
    absent: str = setting("exclude", choices=ABSENT_CHOICES)
    max_folds: int | None = setting(None, minimum=1)
    workers: int = setting(default_factory=default_fold_workers, minimum=1)

    def __post_init__(self) -> None:
        if self.kind == "kfold" and (self.k or 0) < 2:
            raise MiexInputError("k-fold needs k >= 2 (the paper: 3 on CompMiE, 5 on MMEW and SAMM)", field="k")
        if self.kind != "kfold" and self.k is not None:
            raise MiexInputError(f"k applies to kind: kfold only (this protocol is {self.kind})", field="k")
        if self.kind == "file" and self.file is None:
            raise MiexInputError("missing path", field="file")
        object.__setattr__(self, "workers", capped_at_cores(self.workers, "protocol.workers"))

    def short(self) -> str:
        return {"kfold": f"{self.k}-fold", "loso": "LOSO", "lodo": "leave-one-dataset-out", "file": "fold-file"}[
            self.kind
        ]

    def describe(self) -> str:
        text = {
            "kfold": f"subject-independent {self.k}-fold cross-validation (subjects shuffled with seed {self.seed}"
            + (", class-stratified)" if self.stratify else ")"),
            "loso": "leave-one-subject-out",
            "lodo": "leave-one-dataset-out",
            "file": f"folds from {self.file}",
        }[self.kind]
        if self.validation_fraction:
            text += f"; validation split: {self.validation_fraction:g} of each fold's training subjects"
        return text


@frozen
class OutputSpec:
    """``output: DIR`` or a mapping; ``dir`` defaults to ``runs/<recipe name>``."""

    dir: Path
    final_model: bool = True
    save_fold_models: bool = False


MIEX_SOURCES: tuple[str, ...] = SOURCES
"""MiE-X's AU sources (docs/reference.md §AU sources), as its ``source`` column names them."""
INITIALISATIONS: tuple[str, ...] = ("imagenet", "random")
INPUTS: tuple[str, ...] = ("frames", "flow-images")


@frozen
class PublishedCount:
    """The clips and subjects of one dataset that the published figure was tested on; either may be unpublished."""

    clips: int | None = setting(None, minimum=1)
    subjects: int | None = setting(None, minimum=1)


def _miex_sources(reader: Reader, value: Any, where: str, got: dict[str, Any]) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = reader.names(value, where, Rule(what="MiE-X sources"))
    unknown = [name for name in names if name not in MIEX_SOURCES]
    if unknown:
        reader.fail(f"unknown MiE-X source(s) {unknown}; MiE-X's sources are {', '.join(MIEX_SOURCES)}", where)
    return names


@frozen
class PublishedMiex:
    """The MiE-X the published figure trained on: samples, identities, AU sources (absent: unpublished)."""

    samples: int | None = setting(None, minimum=1)
    identities: int | None = setting(None, minimum=1)
    sources: tuple[str, ...] | None = setting(None, parse=_miex_sources)


def _published_stages(
    reader: Reader, value: Any, where: str, got: dict[str, Any]
) -> tuple[tuple[str, ...], ...] | None:
    """The sources of each published training stage, in order (``[[miex], [real]]``: pre-train, then fine-tune)."""
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        reader.fail("expected a list with the sources of each stage, e.g. [[miex], [real]]", where)
    return tuple(reader.names(item, f"{where}[{index}]", Rule(what="sources")) for index, item in enumerate(value))


@frozen
class ReproducesSpec:
    """What a recipe reproduces, as it was published: shown by ``miex train --list-recipes``, and compared by the
    model card with what a run actually did (docs/reference.md §Recipes and cards).

    ``scores`` is the published figure and ``method`` who produced it (default: the recipe's model family and its
    paper). The other keys are the published setup; each one that is given must match the run for the card to say
    the run reproduces the figure, and one that was not published is left out (never guessed): ``tested`` clips and
    subjects per dataset, ``classes``, ``input`` (the corpus's ``frames`` or the shared ``flow-images``),
    ``stages`` (the sources of each training stage in order), ``epochs`` (of the last stage, whose model is tested)
    and ``pretrain_epochs`` (of each earlier stage), ``initialisation`` (``imagenet`` or ``random`` encoders before
    the first stage), ``runs`` (seeds averaged), ``miex`` (samples, identities, sources), ``magnified`` (motion-
    magnified inputs) and ``validation`` (a validation split carved from the training subjects).
    """

    paper: str = setting(missing="missing the paper's table or section (e.g. Table 1)")
    row: str = setting(missing="missing the row or setting reproduced")
    datasets: tuple[str, ...] = setting(missing="missing the datasets the paper tested on")
    protocol: str = setting(missing="missing the paper's protocol (e.g. 3-fold, LOSO)")
    scores: str = ""
    method: str = ""
    tested: Mapping[str, PublishedCount] = setting(default_factory=dict, what="dataset -> {clips, subjects}")
    classes: int | None = setting(None, minimum=2)
    input: str | None = setting(None, choices=INPUTS)
    stages: tuple[tuple[str, ...], ...] | None = setting(None, parse=_published_stages)
    epochs: int | None = setting(None, minimum=1)
    pretrain_epochs: int | None = setting(None, minimum=1)
    initialisation: str | None = setting(None, choices=INITIALISATIONS)
    runs: int | None = setting(None, minimum=1)
    miex: PublishedMiex | None = None
    magnified: bool = False
    validation: bool = False

    def __post_init__(self) -> None:
        unknown = [name for name in self.tested if name not in self.datasets]
        if unknown:
            raise MiexInputError(
                f"datasets {unknown} are not among the tested datasets {list(self.datasets)}", field="tested"
            )

    def describe(self) -> str:
        scores = f"; paper: {self.scores}" if self.scores else ""
        return f"{self.paper}: {self.row} ({', '.join(self.datasets)}; {self.protocol}){scores}"


def _stages(reader: Reader, value: Any, where: str, got: dict[str, Any]) -> tuple[StageSpec, ...]:
    """The stages in order (default: one stage ``train`` on ``real``); each trains on sources the data defines."""
    if value is None:
        value = [{"name": "train", "train": ["real"]}]
    if not isinstance(value, list) or not value:
        reader.fail("expected a non-empty list of stages (each: name, train: [sources])", where)
    sources = got["data"].sources()
    stages = []
    for index, item in enumerate(value):
        here = f"{where}[{index}]"
        defaults = {"name": f"stage{index}", "training": got["training"]}
        missing = {"train": f"missing the sources this stage trains on (some of {sources})"}
        stage = reader.read(StageSpec, item, here, defaults=defaults, missing=missing)
        for source in stage.train:
            if source not in sources:
                hint = did_you_mean(source, sources)
                reader.fail(
                    f"unknown data source {source!r}{hint}; this recipe defines {sources} (add it under data: "
                    "miex or data.extra)",
                    f"{here}.train",
                )
        stages.append(stage)
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        reader.fail(f"stage names repeat: {names}", where)
    return tuple(stages)


def _output(reader: Reader, value: Any, where: str, got: dict[str, Any]) -> OutputSpec:
    return reader.read(
        OutputSpec, value, where, defaults={"dir": Path("runs") / got["name"]}, rule=Rule(shorthand="dir")
    )


@frozen
class Recipe:
    """One experiment: what trains (model, data, stages), how it is evaluated (protocol, seeds), where it writes."""

    name: str = setting(missing="missing recipe name")
    description: str = ""
    reproduces: ReproducesSpec | None = None
    model: ModelSpec
    data: DataSpec = setting(missing="missing data section (data.real.clips at least)")
    protocol: ProtocolSpec = setting(missing=f"missing protocol section (protocol.kind: one of {', '.join(PROTOCOLS)})")
    training: TrainingSpec = field(default_factory=TrainingSpec)
    """Every stage's defaults (a stage's own keys override them)."""
    stages: tuple[StageSpec, ...] = setting(parse=_stages)
    seeds: tuple[int, ...] = setting((0,), what="integer seeds")
    output: OutputSpec = setting(parse=_output)
    source: Path | None = setting(None, hidden=True)
    raw: Mapping[str, Any] = setting(default_factory=dict, hidden=True, repr=False)

    def with_output(self, directory: str | PathLike[str]) -> Recipe:
        return replace(self, output=replace(self.output, dir=Path(directory)))

    def to_yaml(self) -> str:
        return yaml.safe_dump(dict(self.raw), sort_keys=False, allow_unicode=True)
