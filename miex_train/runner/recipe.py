"""Recipe files (YAML): what one experiment trains and how it is evaluated, validated strictly before anything runs.

A recipe names the model, the data (the real corpus to test on, MiE-X, extra real sets such as CK+ early frames or a
corpus used for pre-training), the protocol, the training stages (e.g. pre-train on MiE-X -> fine-tune on real) and
the seeds. Every section and key is checked: an unknown key is an error that lists the known ones (a typo would
otherwise silently fall back to a default). Relative paths are taken from the current directory, after expanding
``~`` and ``$VARIABLES``: the shipped recipes (this package's ``recipes/``, addressed by name) read the files the
README's whole flow writes (``clips.parquet``, ``miex``), so they run in that folder without ``--set``.
Hyperparameter defaults are the paper's (docs/reference.md §Recognizers)::

    name: table1-branches-miex-finetune
    reproduces: {paper: Table 1, row: ..., datasets: [casme2, samm, smic], protocol: 3-fold, scores: ...}
    model: {name: branches, backbone: microsoft/resnet-18}
    data:
      real: {clips: clips.parquet}
      miex: miex
    protocol: {kind: kfold, k: 3, seed: 0}
    stages:
      - {name: pretrain, train: [miex]}
      - {name: finetune, train: [real]}
    seeds: [0, 1, 2]
"""

from __future__ import annotations

import copy
import difflib
import importlib.resources
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from miex_dataset.errors import MiexInputError

from ..aligned_clips import ALIGNMENT_METHODS, MISSING_FACE_CHOICES, AlignmentSettings

PROTOCOLS: tuple[str, ...] = ("kfold", "loso", "lodo", "file")
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
FRAME_CHOICES: tuple[str, ...] = ("annotated", "early")
FLOW_METHODS: tuple[str, ...] = ("auto", "tvl1", "farneback")
ABSENT_CHOICES: tuple[str, ...] = ("exclude", "zero")
THREE_CLASS = "three_class"
RESERVED_SOURCES: tuple[str, ...] = ("real", "miex")


def default_num_workers(limit: int = 4) -> int:
    """DataLoader workers per process when the recipe sets none: at most ``limit``, leaving one of this process's
    cores to the training loop (4 workers on a 2-core machine only oversubscribe it, and torch warns per loader)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))  # torchrun: processes on this machine
    return max(0, min(limit, cores // processes - 1))


@dataclass(frozen=True)
class TrainingSpec:
    """One stage's optimisation (docs/reference.md §Recognizers defaults: Adam 1e-4, wd 5e-4, clip 1.0, batch 64, 10 +
    10 epochs).

    ``epochs`` run at the full learning rate, then ``decay_epochs`` decay it linearly to 0; ``batch_size`` is the
    GLOBAL batch, split over the processes of a distributed run. ``num_workers`` (DataLoader workers per process)
    defaults to what this machine's cores allow (:func:`default_num_workers`); results.json records the value used.
    """

    epochs: int = 10
    decay_epochs: int = 10
    learning_rate: float = 1e-4
    weight_decay: float = 5e-4
    optimizer: str = "adam"
    max_grad_norm: float = 1.0
    batch_size: int = 64
    eval_batch_size: int = 64
    precision: str = "auto"
    num_workers: int = field(default_factory=default_num_workers)
    activation_checkpointing: str = "auto"
    """``on``: recompute ResNet activations in the backward pass (exact gradients, ~1/3 more compute, a fraction of
    the memory); ``auto``: on when training on the CPU, where memory binds (a Branches step at batch 32 keeps ~2.5 GB
    of activations otherwise), off on a GPU; ``off``."""

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.decay_epochs


@dataclass(frozen=True)
class StageSpec:
    name: str
    train: tuple[str, ...]
    training: TrainingSpec


@dataclass(frozen=True)
class ModelSpec:
    name: str
    backbone: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RealSpec:
    """A clip table (``miex corpus ...``) used as a data source.

    ``labels``: ``None`` = the table's 3-class ``label``; a list of (canonical) emotion names = that native label
    space (MMEW's 6 classes, SAMM's 5: Table 2), other emotions left out. ``frames: early`` replaces the annotated apex
    by frame ``floor(N p)``, ``p ~ U(early_interval)`` (seeded): early frames of macro-expressions (docs/reference.md
    §AU sources). ``alignment`` (default: onset-similarity, 128 px, like MiE-X) says how clips are cropped and aligned
    before the recognizer sees them (:mod:`miex_train.aligned_clips`); ``on_missing_face`` what a clip whose onset
    has no face does: ``stop`` (default) the run before training, naming every such clip, or ``skip`` it (listed in
    results.json).
    """

    clips: Path
    name: str = ""
    datasets: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    frames: str = "annotated"
    early_interval: tuple[float, float] = (0.25, 0.5)
    seed: int = 0
    alignment: AlignmentSettings = field(default_factory=AlignmentSettings)
    on_missing_face: str = "stop"


@dataclass(frozen=True)
class MiexSpec:
    path: Path
    split: str = "train"


@dataclass(frozen=True)
class DataSpec:
    real: RealSpec
    miex: MiexSpec | None = None
    extra: Mapping[str, RealSpec] = field(default_factory=dict)
    resize: int = 256
    crop_size: int = 224
    flow_method: str = "auto"

    def sources(self) -> list[str]:
        return ["real", *(["miex"] if self.miex else []), *self.extra]


@dataclass(frozen=True)
class ProtocolSpec:
    """``kfold`` (subject-wise, seeded), ``loso``, ``lodo`` or ``file`` (a fold file from ``save_folds``).

    ``validation_fraction`` > 0 carves that share of each fold's TRAINING subjects out as a validation split (never
    trained on, MiE-X samples derived from them excluded too); it only labels a "best epoch on validation" figure.
    """

    kind: str
    k: int = 0
    seed: int = 0
    stratify: bool = False
    file: Path | None = None
    validation_fraction: float = 0.0
    validation_seed: int = 0
    absent: str = "exclude"

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


@dataclass(frozen=True)
class OutputSpec:
    dir: Path
    final_model: bool = True
    save_fold_models: bool = False


@dataclass(frozen=True)
class ReproducesSpec:
    """What a recipe reproduces, as the paper reports it: shown by ``miex train --list-recipes``, and compared by the
    model card with what a run actually used (other datasets or protocol: the paper's figure does not apply)."""

    paper: str
    row: str
    datasets: tuple[str, ...]
    protocol: str
    scores: str = ""

    def describe(self) -> str:
        scores = f"; paper: {self.scores}" if self.scores else ""
        return f"{self.paper}: {self.row} ({', '.join(self.datasets)}; {self.protocol}){scores}"


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    model: ModelSpec
    data: DataSpec
    protocol: ProtocolSpec
    stages: tuple[StageSpec, ...]
    seeds: tuple[int, ...]
    output: OutputSpec
    reproduces: ReproducesSpec | None = None
    source: Path | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def with_output(self, directory: str | PathLike[str]) -> Recipe:
        return replace(self, output=replace(self.output, dir=Path(directory)))

    def to_yaml(self) -> str:
        return yaml.safe_dump(dict(self.raw), sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------------------------------------------
# reading


class _Reader:
    """Typed, strict access to one mapping of the recipe; every error names the recipe file and the key path."""

    def __init__(self, value: Any, where: str, file: Path | None, known: Sequence[str]) -> None:
        self.file = file
        self.where = where
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            self.fail(f"expected a mapping with keys {list(known)}, got {type(value).__name__}", where)
        self.value = dict(value)
        unknown = [key for key in self.value if key not in known]
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.fail(f"unknown key {key!r}{hint}; known keys here: {', '.join(known)}", self.path(str(key)))

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, reason: str, where: str | None = None) -> None:
        raise MiexInputError(reason, file=self.file, field=where if where is not None else self.where)

    def has(self, key: str) -> bool:
        return self.value.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = self.value.get(key)
        return default if value is None else value

    def required(self, key: str, what: str) -> Any:
        if not self.has(key):
            self.fail(f"missing {what}", self.path(key))
        return self.value[key]

    def string(self, key: str, default: str | None = None, *, choices: Sequence[str] = ()) -> str | None:
        value = self.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(f"expected a non-empty string, got {value!r}", self.path(key))
        if choices and value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.fail(f"{value!r} is not one of {', '.join(choices)}{hint}", self.path(key))
        return value

    def integer(self, key: str, default: int, *, minimum: int | None = None) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"expected an integer, got {value!r}", self.path(key))
        if minimum is not None and value < minimum:
            self.fail(f"must be >= {minimum}, got {value}", self.path(key))
        return int(value)

    def number(self, key: str, default: float, *, minimum: float = 0.0, maximum: float | None = None) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"expected a number, got {value!r}", self.path(key))
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and <= {maximum}" if maximum is not None else ""
            self.fail(f"must be >= {minimum}{upper}, got {value}", self.path(key))
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"expected true or false, got {value!r}", self.path(key))
        return value

    def strings(self, key: str) -> tuple[str, ...] | None:
        value = self.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            self.fail(f"expected a non-empty list of names, got {value!r}", self.path(key))
        if len(set(value)) != len(value):
            self.fail(f"names repeat in {value}", self.path(key))
        return tuple(value)

    def path_value(self, key: str, *, required: bool = True) -> Path | None:
        value = self.value.get(key)
        if value is None:
            if required:
                self.fail("missing path", self.path(key))
            return None
        if not isinstance(value, str | PathLike) or not str(value).strip():
            self.fail(f"expected a path, got {value!r}", self.path(key))
        return Path(os.path.expanduser(os.path.expandvars(str(value))))

    def child(self, key: str, known: Sequence[str]) -> _Reader:
        return _Reader(self.value.get(key), self.path(key), self.file, known)


TRAINING_KEYS: tuple[str, ...] = tuple(f.name for f in fields(TrainingSpec))
TOP_KEYS = ("name", "description", "reproduces", "model", "data", "protocol", "training", "stages", "seeds",
            "output")
REPRODUCES_KEYS = ("paper", "row", "datasets", "protocol", "scores")
MODEL_KEYS = ("name", "backbone", "config")
DATA_KEYS = ("real", "miex", "extra", "image", "flow")
REAL_KEYS = ("clips", "name", "datasets", "labels", "frames", "early_interval", "seed", "alignment", "on_missing_face")
ALIGNMENT_KEYS = ("method", "size", "cache")
MIEX_KEYS = ("path", "split")
PROTOCOL_KEYS = ("kind", "k", "seed", "stratify", "file", "validation", "absent")
STAGE_KEYS = ("name", "train", *TRAINING_KEYS)
OUTPUT_KEYS = ("dir", "final_model", "save_fold_models")


def _training(reader: _Reader, base: TrainingSpec) -> TrainingSpec:
    values = {
        "epochs": reader.integer("epochs", base.epochs, minimum=0),
        "decay_epochs": reader.integer("decay_epochs", base.decay_epochs, minimum=0),
        "learning_rate": reader.number("learning_rate", base.learning_rate),
        "weight_decay": reader.number("weight_decay", base.weight_decay),
        "optimizer": reader.string("optimizer", base.optimizer, choices=OPTIMIZERS),
        "max_grad_norm": reader.number("max_grad_norm", base.max_grad_norm),
        "batch_size": reader.integer("batch_size", base.batch_size, minimum=1),
        "eval_batch_size": reader.integer("eval_batch_size", base.eval_batch_size, minimum=1),
        "precision": reader.string("precision", base.precision, choices=PRECISIONS),
        "num_workers": reader.integer("num_workers", base.num_workers, minimum=0),
        "activation_checkpointing": reader.string(
            "activation_checkpointing", base.activation_checkpointing, choices=("auto", "on", "off")
        ),
    }
    spec = TrainingSpec(**values)
    if spec.total_epochs < 1:
        reader.fail("epochs + decay_epochs must be at least 1")
    return spec


def _real(reader: _Reader) -> RealSpec:
    labels_value = reader.get("labels", THREE_CLASS)
    if labels_value == THREE_CLASS:
        labels = None
    else:
        labels = reader.strings("labels")
        if labels is None or len(labels) < 2:
            reader.fail(f"labels: {THREE_CLASS!r} or a list of at least 2 emotion names", reader.path("labels"))
    interval = reader.get("early_interval", [0.25, 0.5])
    if (
        not isinstance(interval, list | tuple)
        or len(interval) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in interval)
        or not 0.0 <= interval[0] <= interval[1] <= 1.0
    ):
        reader.fail(f"expected [a, b] with 0 <= a <= b <= 1, got {interval!r}", reader.path("early_interval"))
    return RealSpec(
        clips=reader.path_value("clips"),
        name=reader.string("name", "") if reader.has("name") else "",
        datasets=reader.strings("datasets"),
        labels=labels,
        frames=reader.string("frames", "annotated", choices=FRAME_CHOICES),
        early_interval=(float(interval[0]), float(interval[1])),
        seed=reader.integer("seed", 0),
        alignment=_alignment(reader),
        on_missing_face=reader.string("on_missing_face", "stop", choices=MISSING_FACE_CHOICES),
    )


def _alignment(reader: _Reader) -> AlignmentSettings:
    """``alignment: METHOD`` or ``alignment: {method: METHOD, size: 128, cache: DIR}`` (methods: ALIGNMENT_METHODS)."""
    if isinstance(reader.get("alignment"), str):
        return AlignmentSettings(method=reader.string("alignment", choices=ALIGNMENT_METHODS))
    sub = reader.child("alignment", ALIGNMENT_KEYS)
    return AlignmentSettings(
        method=sub.string("method", "onset-similarity", choices=ALIGNMENT_METHODS),
        size=sub.integer("size", AlignmentSettings.size, minimum=32),
        cache=sub.path_value("cache", required=False),
    )


def _data(reader: _Reader) -> DataSpec:
    real = _real(reader.child("real", REAL_KEYS)) if reader.has("real") else None
    if real is None:
        reader.fail("missing the real corpus to test on: data.real.clips (a clip table from `miex corpus`)",
                    "data.real")
    miex = None
    if reader.has("miex"):
        value = reader.get("miex")
        sub = reader.child("miex", MIEX_KEYS) if isinstance(value, Mapping) else None
        if sub is None:
            miex = MiexSpec(path=reader.path_value("miex"))
        else:
            miex = MiexSpec(path=sub.path_value("path"), split=sub.string("split", "train"))
    extra_reader = reader.get("extra", {})
    if not isinstance(extra_reader, Mapping):
        reader.fail("expected a mapping of source name -> clip table settings", "data.extra")
    extra: dict[str, RealSpec] = {}
    for name in extra_reader:
        simple = isinstance(name, str) and name.replace("_", "").replace("-", "").isalnum()
        if not simple or name in RESERVED_SOURCES:
            reader.fail(f"extra source names must be simple words other than {RESERVED_SOURCES}, got {name!r}",
                        f"data.extra.{name}")  # fmt: skip
        extra[name] = _real(_Reader(extra_reader[name], f"data.extra.{name}", reader.file, REAL_KEYS))
    image = reader.child("image", ("resize", "crop_size"))
    flow = reader.child("flow", ("method",))
    spec = DataSpec(
        real=real,
        miex=miex,
        extra=extra,
        resize=image.integer("resize", 256, minimum=1),
        crop_size=image.integer("crop_size", 224, minimum=1),
        flow_method=flow.string("method", "auto", choices=FLOW_METHODS),
    )
    if spec.crop_size > spec.resize:
        image.fail(f"crop_size {spec.crop_size} is larger than resize {spec.resize}", "data.image.crop_size")
    return spec


def _protocol(reader: _Reader) -> ProtocolSpec:
    kind = reader.string("kind", None, choices=PROTOCOLS)
    if kind is None:
        reader.fail(f"missing protocol kind (one of {', '.join(PROTOCOLS)})", "protocol.kind")
    k = reader.integer("k", 0, minimum=0)
    if kind == "kfold" and k < 2:
        reader.fail("k-fold needs k >= 2 (the paper: 3 on CompMiE, 5 on MMEW and SAMM)", "protocol.k")
    if kind != "kfold" and reader.has("k"):
        reader.fail(f"k applies to kind: kfold only (this protocol is {kind})", "protocol.k")
    file = reader.path_value("file", required=kind == "file")
    validation = reader.child("validation", ("fraction", "seed"))
    return ProtocolSpec(
        kind=kind,
        k=k,
        seed=reader.integer("seed", 0),
        stratify=reader.boolean("stratify", False),
        file=file,
        validation_fraction=validation.number("fraction", 0.0, maximum=0.9),
        validation_seed=validation.integer("seed", 0),
        absent=reader.string("absent", "exclude", choices=ABSENT_CHOICES),
    )


def _reproduces(reader: _Reader) -> ReproducesSpec:
    needed = {"paper": "the paper's table or section (e.g. Table 1)", "row": "the row or setting reproduced",
              "datasets": "the datasets the paper tested on", "protocol": "the paper's protocol (e.g. 3-fold, LOSO)"}
    for key, what in needed.items():
        reader.required(key, what)
    return ReproducesSpec(
        paper=reader.string("paper"),
        row=reader.string("row"),
        datasets=reader.strings("datasets"),
        protocol=reader.string("protocol"),
        scores=reader.string("scores", "") if reader.has("scores") else "",
    )


def _stages(value: Any, file: Path | None, base: TrainingSpec, sources: list[str]) -> tuple[StageSpec, ...]:
    if value is None:
        value = [{"name": "train", "train": ["real"]}]
    if not isinstance(value, list) or not value:
        raise MiexInputError("expected a non-empty list of stages (each: name, train: [sources])", file=file,
                             field="stages")  # fmt: skip
    stages = []
    for index, item in enumerate(value):
        reader = _Reader(item, f"stages[{index}]", file, STAGE_KEYS)
        name = reader.string("name", f"stage{index}")
        train = reader.strings("train")
        if train is None:
            reader.fail(f"missing the sources this stage trains on (some of {sources})", reader.path("train"))
        for source in train:
            if source not in sources:
                close = difflib.get_close_matches(source, sources, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                reader.fail(f"unknown data source {source!r}{hint}; this recipe defines {sources} "
                            "(add it under data: miex or data.extra)", reader.path("train"))  # fmt: skip
        stages.append(StageSpec(name=name, train=train, training=_training(reader, base)))
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise MiexInputError(f"stage names repeat: {names}", file=file, field="stages")
    return tuple(stages)


def parse_recipe(raw: Mapping[str, Any], *, file: str | PathLike[str] | None = None) -> Recipe:
    """A validated :class:`Recipe` from a mapping (the parsed YAML); errors name the file and the key path."""
    file = Path(file) if file is not None else None
    top = _Reader(raw, "", file, TOP_KEYS)
    name = top.string("name", file.stem if file else None)
    if name is None:
        top.fail("missing recipe name", "name")
    model_reader = top.child("model", MODEL_KEYS)
    model_name = model_reader.string("name", None)
    if model_name is None:
        top.fail("missing model name (e.g. branches, apexme, ststnet, offapexnet)", "model.name")
    config = model_reader.get("config", {})
    if not isinstance(config, Mapping):
        model_reader.fail("expected a mapping of model config fields", "model.config")
    backbone = model_reader.string("backbone", None)
    model = ModelSpec(name=model_name, backbone=None if backbone == "random" else backbone, config=dict(config))
    if not top.has("data"):
        top.fail("missing data section (data.real.clips at least)", "data")
    data = _data(top.child("data", DATA_KEYS))
    if not top.has("protocol"):
        top.fail(f"missing protocol section (protocol.kind: one of {', '.join(PROTOCOLS)})", "protocol")
    protocol = _protocol(top.child("protocol", PROTOCOL_KEYS))
    base = _training(top.child("training", TRAINING_KEYS), TrainingSpec())
    stages = _stages(top.get("stages"), file, base, data.sources())
    seeds_value = top.get("seeds", [0])
    if isinstance(seeds_value, int) and not isinstance(seeds_value, bool):
        seeds_value = [seeds_value]
    if (
        not isinstance(seeds_value, list)
        or not seeds_value
        or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds_value)
        or len(set(seeds_value)) != len(seeds_value)
    ):
        top.fail(f"expected a non-empty list of distinct integer seeds, got {seeds_value!r}", "seeds")
    output_value = top.get("output", {})
    output_reader = (
        _Reader({"dir": output_value}, "output", file, OUTPUT_KEYS)
        if isinstance(output_value, str)
        else top.child("output", OUTPUT_KEYS)
    )
    output = OutputSpec(
        dir=output_reader.path_value("dir", required=False) or Path("runs") / name,
        final_model=output_reader.boolean("final_model", True),
        save_fold_models=output_reader.boolean("save_fold_models", False),
    )
    return Recipe(
        name=name,
        description=top.string("description", "") if top.has("description") else "",
        model=model,
        data=data,
        protocol=protocol,
        stages=stages,
        seeds=tuple(int(s) for s in seeds_value),
        output=output,
        reproduces=_reproduces(top.child("reproduces", REPRODUCES_KEYS)) if top.has("reproduces") else None,
        source=file,
        raw=copy.deepcopy(dict(raw)),
    )


def apply_overrides(raw: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``KEY.PATH=VALUE`` settings (VALUE parsed as YAML; list items by index: ``stages.1.epochs=2``)."""
    result = copy.deepcopy(dict(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise MiexInputError(f"--set expects KEY.PATH=VALUE, got {item!r}", field="--set")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise MiexInputError(f"--set {key}: value is not YAML ({yaml_problem(error)})", field="--set") from error
        parts = key.strip().split(".")
        node: Any = result
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise MiexInputError(f"--set {key}: {part!r} is not an index of a {len(node)}-item list",
                                         field="--set")  # fmt: skip
                index = int(part)
                if last:
                    node[index] = value
                else:
                    node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if not isinstance(node.get(part), dict | list):
                        node[part] = {}
                    node = node[part]
            else:
                raise MiexInputError(f"--set {key}: {'.'.join(parts[:depth])} is not a mapping", field="--set")
    return result


def yaml_problem(error: yaml.YAMLError) -> str:
    """One line for a YAML syntax error: where (line, column; 1-based) and what, without PyYAML's source excerpt."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


RECIPES_PACKAGE = "miex_train.recipes"
LIST_HINT = "`miex train --list-recipes` lists the shipped recipes"


def shipped_recipes() -> dict[str, Path]:
    """Name (file stem) -> file of every recipe installed with the package (package data, so pip users have them)."""
    folder = Path(str(importlib.resources.files(RECIPES_PACKAGE)))
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))}


def find_recipe(reference: str | PathLike[str]) -> Path:
    """The recipe file ``--recipe`` means: an existing path, else a shipped recipe's name (``table1_branches_compmie``
    or its ``name:`` spelling with dashes). Anything else is an error with the closest shipped names."""
    path = Path(reference)
    if path.is_dir():
        raise MiexInputError(f"--recipe names a folder; give a recipe file or a recipe name ({LIST_HINT})", file=path)
    if path.is_file():
        return path
    shipped = shipped_recipes()
    key = path.name.removesuffix(".yaml").removesuffix(".yml").replace("-", "_")
    is_name = len(path.parts) == 1 and path.suffix not in (".yaml", ".yml")
    if is_name and key in shipped:
        return shipped[key]
    if key in shipped:
        raise MiexInputError(f"recipe file not found; the shipped recipe of that name runs with --recipe {key}",
                             file=path)  # fmt: skip
    close = difflib.get_close_matches(key, list(shipped), n=3, cutoff=0.5)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    what = f"no shipped recipe named {key!r}" if is_name else "recipe file not found"
    raise MiexInputError(f"{what}{hint}; {LIST_HINT}, or give the path of a recipe file", file=path)


def recipe_list() -> list[str]:
    """One line per shipped recipe: its name and what it reproduces (paper table and row, datasets, protocol)."""
    recipes = {name: load_recipe(path) for name, path in shipped_recipes().items()}
    width = max(map(len, recipes), default=0)
    return [f"{name:<{width}}  {recipe.reproduces.describe() if recipe.reproduces else recipe.description}"
            for name, recipe in recipes.items()]  # fmt: skip


def load_recipe(reference: str | PathLike[str], overrides: Sequence[str] = ()) -> Recipe:
    """Read and validate a recipe (a file, or a shipped recipe's name: :func:`find_recipe`) after applying ``--set``
    overrides."""
    path = find_recipe(reference)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise MiexInputError(f"not a UTF-8 text file (byte {error.start}); save the recipe as UTF-8 YAML",
                             file=path) from error  # fmt: skip
    except yaml.YAMLError as error:
        raise MiexInputError(f"not valid YAML: {yaml_problem(error)}", file=path) from error
    if not isinstance(raw, Mapping):
        raise MiexInputError("a recipe is a YAML mapping (name, model, data, protocol, stages, seeds), got "
                             f"{type(raw).__name__}", file=path)  # fmt: skip
    return parse_recipe(apply_overrides(raw, overrides), file=path)
