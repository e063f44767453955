"""One synthesis configuration for every way in: ``miex synthesize``, ``miex.synthesize(...)`` and the builder.

:class:`SynthesisConfig` declares each option once: its type, its default (taken from the piece that uses it,
:class:`~miex.data.sources.PoolConfig` or :class:`~miex.data.plan.PlanConfig`, where there is one) and, in
the field's metadata, its help text, argument group and argparse type. From it:

- the command line is generated (:func:`add_arguments`; ``miex au-pool`` and ``miex plan`` take their groups);
- the builder's :class:`~miex.data.builder.MiEXConfig` subclasses it, so builder parameters are its fields;
- :func:`miex.data.synthesis.api.synthesize` takes it, or its fields as keywords, which its signature lists.

Values are checked and normalised the same way whichever surface they come from (a CLI string, a Python number or
``Path``), so equal settings give equal configs. Where the job's *folder* goes (``--out``, ``--overwrite``,
``--push-to-hub``, ``--private``) is :class:`OutputOptions`: the builder writes into the ``datasets`` cache instead.

This module imports neither torch nor a generator, so ``miex synthesize --help`` stays fast.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Self

from miex.core.errors import MiexInputError
from miex.core.fileio import overwrite_help
from miex.data.generators import GENERATORS
from miex.data.generators.devices import parse_device
from miex.data.generators.nuisance import NUISANCE_PRESETS
from miex.data.plan.build import PlanConfig
from miex.data.sources import SOURCES, PoolConfig

if TYPE_CHECKING:
    from miex.data.generators.base import FaceGenerator
    from miex.data.synthesis.inputs import SynthesisInputs

DEFAULT_OUT = "miex"
"""Default output folder: ``./miex``, so ``load_dataset("miex")`` finds it."""

GROUPS: dict[str, str] = {
    "what": "what to synthesize (nothing given: the embedded default)",
    "sources": "AU sources (instead of --pool)",
    "plan": "plan knobs",
    "rendering": "rendering",
    "output": "output",
}
"""Argument groups of ``miex synthesize``, in help order (the key is each field's ``group`` metadata)."""

PRETRAINED_OPTION: dict[str, str] = {"warp": "warp_model", "ganimation": "checkpoint"}
"""Per generator: the option naming its pretrained files (a save_pretrained folder, a Hub repo id or a file)."""
LOAD_OPTIONS: dict[str, tuple[str, ...]] = {"warp": (), "ganimation": ("device", "compile")}
"""Per generator: the options its ``from_pretrained`` takes besides those files and ``revision``."""
GENERATOR_ONLY: dict[str, str] = {"compile": "ganimation", "no_appearance": "warp"}
"""Options only one generator reads; giving one to another generator is refused rather than silently ignored."""


# -- argparse types: shared by every command, so a value means the same thing everywhere --------------------------


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum`` (``0`` or ``-1`` must not silently mean "the default")."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from error
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def number_between(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number in [``low``, ``high``]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from error
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"must lie between {low:g} and {high:g}, got {text}")
        return value

    return parse


SEED = whole_number(0)


def source_list(text: str) -> tuple[str, ...]:
    """An argparse type: ``mie,expert`` -> ``("mie", "expert")``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


# -- field declarations ---------------------------------------------------------------------------------------------


def default_of(piece: type, name: str) -> Any:
    """The default of ``piece.name`` (a dataclass field), so an option's default is declared once, where it is used."""
    declared = next(item for item in fields(piece) if item.name == name)
    return declared.default if declared.default is not MISSING else declared.default_factory()  # type: ignore[misc]


def flag(name: str) -> str:
    """The command-line flag of an option: ``samples_per_identity`` -> ``--samples-per-identity``."""
    return "--" + name.replace("_", "-")


def option(
    default: Any = None,
    *,
    help: str,
    group: str,
    like: tuple[type, str] | None = None,
    path: bool = False,
    **argparse_options: Any,
) -> Any:
    """A config field with its CLI description: ``help`` (``%(default)s`` allowed), ``group`` (a key of
    :data:`GROUPS`), ``like=(Piece, "name")`` to take the default from that piece, ``path`` for file options
    (``Path`` values become ``str``), and argparse keywords (``type``, ``choices``, ``nargs``, ``metavar``,
    ``action="append"``). Booleans become ``--flag`` (default False) or ``--flag/--no-flag`` (default True)."""
    if like is not None:
        default = default_of(*like)
    metadata = {"help": help, "group": group, "path": path, "argparse": argparse_options}
    return field(default=default, metadata=metadata)


class Options:
    """A dataclass of :func:`option` fields: checked and normalised when made, and read from a parsed command line."""

    def __post_init__(self) -> None:
        normalise(self)

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> Self:
        """The options of a parsed command line (options a command does not have keep their defaults)."""
        return cls(**{item.name: getattr(args, item.name) for item in fields(cls) if hasattr(args, item.name)})


@dataclass
class SynthesisConfig(Options):
    """Everything that decides a MiE-X dataset and how it is rendered; one field per ``miex synthesize`` option.

    Nothing given: the embedded default (the scikit-image astronaut, expert-rule AUs, the warp). Mutable because
    ``datasets`` sets builder parameters by attribute; :meth:`checked` gives a validated, normalised copy."""

    # what to synthesize
    plan: str | None = option(
        help="a plan from `miex plan` (give --faces too, for the crops' landmarks)", group="what", path=True
    )
    faces: str | None = option(
        help="face pool from `miex faces` (index.parquet with landmarks)", group="what", path=True
    )
    pool: str | None = option(
        help="AU pool from `miex au-pool` (or build one here with the source options)", group="what", path=True
    )
    seed: int = option(
        like=(PlanConfig, "seed"),
        type=SEED,
        group="what",
        help="seed of every draw: mae and expert triplets, identities, triplets, cells (default: %(default)s)",
    )
    # AU sources
    mie_clips: tuple[str, ...] = option(
        (),
        group="sources",
        path=True,
        action="append",
        metavar="CLIPS",
        help="clip table of a real MiE corpus (repeatable; pair each with --mie-aus)",
    )
    mie_aus: tuple[str, ...] = option(
        (), group="sources", path=True, action="append", metavar="AUS", help="AU table for --mie-clips"
    )
    mae_clips: tuple[str, ...] = option(
        (),
        group="sources",
        path=True,
        action="append",
        metavar="CLIPS",
        help="clip table of macro sequences (CK+, MMEW macro, Oulu; repeatable; pair each with --mae-aus)",
    )
    mae_aus: tuple[str, ...] = option(
        (), group="sources", path=True, action="append", metavar="AUS", help="AU table (all frames)"
    )
    mae_interval: tuple[float, float] = option(
        like=(PoolConfig, "mae_interval"),
        group="sources",
        nargs=2,
        type=number_between(0, 1),
        metavar=("A", "B"),
        help="apex = floor(N*p), p ~ U(A, B) (default: %(default)s)",
    )
    mae_draws: int = option(
        like=(PoolConfig, "mae_draws"),
        group="sources",
        type=whole_number(1),
        help="triplets drawn per macro clip (default: %(default)s)",
    )
    expert: int = option(
        like=(PoolConfig, "expert"),
        group="sources",
        type=whole_number(0),
        metavar="N",
        help="expert draws per class (default: %(default)s)",
    )
    expert_intensity: tuple[float, float] = option(
        like=(PoolConfig, "expert_intensity"),
        group="sources",
        nargs=2,
        type=number_between(0, 5),
        metavar=("C", "D"),
        help="active AU intensity ~ U(C, D) on 0-5 (default: %(default)s; macro control 1.5 4.0)",
    )
    expert_table: str | None = option(
        like=(PoolConfig, "expert_table"),
        group="sources",
        path=True,
        help="JSON {emotion: {AU: probability}} replacing the built-in table",
    )
    expert_empty: str = option(
        like=(PoolConfig, "empty_draw"),
        group="sources",
        choices=("redraw", "keep"),
        help="an expert draw with no active AU (Fear can) is redrawn or kept (default: %(default)s)",
    )
    video: bool = option(
        like=(PoolConfig, "video"),
        group="sources",
        help="the 10-frame variant: 10 AU vectors per triplet (frames_au), 10 frames per sample",
    )
    # plan knobs
    identities: int | None = option(
        like=(PlanConfig, "identities"),
        group="plan",
        type=whole_number(1),
        help="seeded subset of N identities (default: all)",
    )
    triplets: int | None = option(
        like=(PlanConfig, "triplets"),
        group="plan",
        type=whole_number(1),
        help="N distinct pool triplets shared by all identities",
    )
    samples_per_identity: int | None = option(
        like=(PlanConfig, "samples_per_identity"),
        group="plan",
        type=whole_number(1),
        help="default: one per source x class the plan covers (e.g. 6 for a mie + expert pool)",
    )
    sources: tuple[str, ...] | None = option(
        like=(PlanConfig, "sources"),
        group="plan",
        type=source_list,
        metavar="SOURCES",
        help=f"comma list of {','.join(SOURCES)} (default: every source the AU pool holds)",
    )
    balanced: bool = option(
        like=(PlanConfig, "balanced"),
        group="plan",
        help="cycle every identity through all source x class cells (default) or draw cells in "
        "pool proportions (--no-balanced)",
    )
    allow_missing: bool = option(
        like=(PlanConfig, "allow_missing"),
        group="plan",
        help="warn instead of failing when a requested source x class has no triplet",
    )
    frontal_only: bool = option(
        like=(PlanConfig, "frontal_only"), group="plan", help="keep crops within --max-yaw/--max-pitch"
    )
    max_yaw: float = option(
        like=(PlanConfig, "max_yaw"), group="plan", type=number_between(0, 180), help="degrees (default: %(default)s)"
    )
    max_pitch: float = option(
        like=(PlanConfig, "max_pitch"), group="plan", type=number_between(0, 180), help="degrees (default: %(default)s)"
    )
    # rendering
    generator: str = option(
        "warp",
        group="rendering",
        choices=tuple(GENERATORS),
        help="face generator (default: %(default)s, needs no weights)",
    )
    checkpoint: str | None = option(
        group="rendering",
        path=True,
        help="GANimation weights: a save_pretrained folder, a Hub model repo ORG/NAME, or an original .pth",
    )
    warp_model: str | None = option(
        group="rendering",
        path=True,
        help="the warp's motion model: a save_pretrained folder, a Hub model repo "
        "ORG/NAME, or a JSON file (default: the built-in one)",
    )
    revision: str | None = option(
        group="rendering",
        help="branch, tag or commit of a Hub repo given as --checkpoint or --warp-model "
        "(default: main); the commit it resolves to is recorded with the run",
    )
    size: int = option(128, group="rendering", type=int, help="face size fed to the generator (default: %(default)s)")
    batch_size: int = option(32, group="rendering", type=int, help="samples per generator call (default: %(default)s)")
    device: str | None = option(
        group="rendering", type=parse_device, help="torch device (default: this rank's GPU if any, else cpu)"
    )
    compile: bool = option(False, group="rendering", help="torch.compile the GANimation generator")
    no_appearance: bool = option(
        False,
        group="rendering",
        help="warp: motion only, no wrinkle, furrow or fold shading (as `miex eval-generator "
        "--no-appearance`; docs/reference.md §Warp generator)",
    )
    nuisance: str = option(
        "off",
        group="rendering",
        choices=tuple(NUISANCE_PRESETS),
        help="recording nuisance between onset and apex, seeded per sample: head motion, light "
        "change, blur and sensor noise (default: %(default)s; real: calibrated on the MEGC2019 "
        "flow release, docs/reference.md §Nuisance between onset and apex)",
    )
    # output (what the rows look like; where the folder goes is OutputOptions)
    shard_size: int = option(1000, group="output", type=int, help="samples per parquet shard (default: %(default)s)")
    image_format: str = option(
        "png", group="output", choices=("png", "jpeg"), help="png (lossless, default: micro-movements survive) or jpeg"
    )
    jpeg_quality: int = option(95, group="output", type=int, help="with --image-format jpeg (default: %(default)s)")
    encode_workers: int | None = option(
        group="output",
        type=int,
        help="threads encoding frames (default: the cores left beside the generator, at most 4)",
    )
    strict: bool = option(False, group="output", help="an unusable face is an error, not a reported skip")

    # -- derived pieces (each validates itself, naming the command-line flag) --------------------------------------
    def checked(self) -> SynthesisConfig:
        """A validated, normalised plain copy (a builder config included: ``datasets`` sets its fields directly)."""
        return SynthesisConfig(**{item.name: getattr(self, item.name) for item in fields(SynthesisConfig)})

    def overridden(self, **overrides: Any) -> SynthesisConfig:
        """A copy with some options replaced; an unknown option is refused naming the known ones."""
        known = {item.name for item in fields(SynthesisConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise MiexInputError(
                f"unknown synthesis option(s) {', '.join(unknown)} (choose from {', '.join(sorted(known))})",
                field=unknown[0],
            )
        return replace(self.checked(), **overrides)

    @property
    def has_sources(self) -> bool:
        """Whether AU sources are given, so the pool is built here rather than read from ``pool``."""
        return bool(self.mie_clips or self.mae_clips or self.expert)

    def pool_config(self) -> PoolConfig:
        return PoolConfig(
            mie=_pairs(self.mie_clips, self.mie_aus, "mie"),
            mae=_pairs(self.mae_clips, self.mae_aus, "mae"),
            mae_interval=tuple(self.mae_interval),
            mae_draws=self.mae_draws,
            expert=self.expert,
            expert_intensity=tuple(self.expert_intensity),
            expert_table=self.expert_table,
            empty_draw=self.expert_empty,
            video=self.video,
            seed=self.seed,
        )

    def plan_config(self) -> PlanConfig:
        return PlanConfig(
            seed=self.seed,
            sources=self.sources,
            identities=self.identities,
            triplets=self.triplets,
            samples_per_identity=self.samples_per_identity,
            balanced=self.balanced,
            allow_missing=self.allow_missing,
            frontal_only=self.frontal_only,
            max_yaw=self.max_yaw,
            max_pitch=self.max_pitch,
        )

    def inputs(self) -> SynthesisInputs:
        """Where the plan comes from (a plan file, faces + AU pool or sources, or the embedded default)."""
        from miex.data.synthesis.inputs import SynthesisInputs

        return SynthesisInputs(
            plan=self.plan,
            faces=self.faces,
            pool=self.pool,
            pool_config=self.pool_config() if self.has_sources else None,
            plan_config=self.plan_config(),
            sources_given=self.sources is not None,
            video=self.video,
        )

    def generator_arguments(self) -> tuple[str | None, dict[str, Any]]:
        """``(pretrained, options)`` for ``load_generator(self.generator, pretrained, **options)``."""
        options = {name: getattr(self, name) for name in LOAD_OPTIONS[self.generator]}
        if self.no_appearance:
            options["appearance"] = False
        if self.revision is not None:
            options["revision"] = self.revision
        return getattr(self, PRETRAINED_OPTION[self.generator]), options


def load_configured_generator(config: SynthesisConfig) -> FaceGenerator:
    """The generator ``config`` names, from its folder, Hub repo (at ``revision``) or file (imports torch)."""
    from miex.data.generators import load_generator

    pretrained, options = config.generator_arguments()
    return load_generator(config.generator, pretrained, **options)


@dataclass
class OutputOptions(Options):
    """Where ``miex synthesize`` (and :func:`miex.data.synthesis.api.synthesize`) put the dataset folder."""

    out: str = option(
        DEFAULT_OUT, group="output", path=True, help="output folder (default: ./miex, so load_dataset('miex') works)"
    )
    overwrite: bool = option(
        False, group="output", help=overwrite_help("its README.md, plan.parquet, images/ and data/")
    )
    push_to_hub: str | None = option(
        group="output", metavar="ORG/NAME", help="upload the finished folder as a dataset repo"
    )
    private: bool = option(False, group="output", help="with --push-to-hub: create a private repo")


# -- command line ---------------------------------------------------------------------------------------------------


def add_arguments(
    parser: argparse.ArgumentParser,
    *configs: type,
    groups: Collection[str] | None = None,
    names: Collection[str] = (),
    titled: bool = True,
) -> None:
    """Add one argument per field of ``configs`` (dest = field name), in :data:`GROUPS` order.

    ``groups``/``names`` select fields (by group, or by name; both None/empty: every field); ``titled`` puts them in
    titled argument groups (``miex synthesize``) rather than straight on ``parser`` (``miex au-pool``, ``plan``)."""
    chosen = [
        (config, item)
        for config in configs
        for item in fields(config)
        if (groups is None and not names)
        or (groups is not None and item.metadata["group"] in groups)
        or item.name in names
    ]
    containers: dict[str, Any] = {}
    for group in GROUPS:
        for config, item in ((config, item) for config, item in chosen if item.metadata["group"] == group):
            if group not in containers:
                containers[group] = parser.add_argument_group(GROUPS[group]) if titled else parser
            _add(containers[group], item, default_of(config, item.name))


def _add(container: Any, item: Field[Any], default: Any) -> None:
    options = dict(item.metadata["argparse"])
    if isinstance(default, bool):
        options["action"] = argparse.BooleanOptionalAction if default else "store_true"
    if options.get("action") == "append":
        default = list(default)  # argparse appends to (a copy of) the default
    container.add_argument(flag(item.name), dest=item.name, default=default, help=item.metadata["help"], **options)


def option_names(*configs: type) -> set[str]:
    """Field names of ``configs``: what a command line generated from them accepts (as ``dest``)."""
    return {item.name for config in configs for item in fields(config)}


# -- normalisation and checks: the same for a CLI string, a Python value or a builder attribute ---------------------


def normalise(config: Any) -> None:
    """Check every field against its CLI description and store it in the CLI's types (tuples, str paths, ints)."""
    for item in fields(config):
        if "argparse" in item.metadata:  # an option (a builder config also has BuilderConfig's fields)
            default = default_of(type(config), item.name)
            setattr(config, item.name, _normalised(item, default, getattr(config, item.name)))
    if isinstance(config, SynthesisConfig):
        _check_combinations(config)


def _normalised(item: Field[Any], default: Any, value: Any) -> Any:
    meta, where = item.metadata, flag(item.name)
    options = meta["argparse"]
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise MiexInputError(f"{where} is a switch: give True or False, got {value!r}", field=item.name)
        return value
    if value is None:
        return None
    if options.get("action") == "append":
        items = [value] if isinstance(value, str | os.PathLike) else list(value)
        return tuple(os.fspath(entry) for entry in items)
    if item.name == "sources":
        names = source_list(value) if isinstance(value, str) else tuple(str(entry).strip() for entry in value)
        return names
    if "nargs" in options:
        values = list(value) if isinstance(value, Iterable) and not isinstance(value, str) else [value]
        if len(values) != options["nargs"]:
            raise MiexInputError(f"{where} takes {options['nargs']} values, got {value!r}", field=item.name)
        return tuple(_parsed(options.get("type"), entry, where, item.name) for entry in values)
    if meta["path"]:
        if not isinstance(value, str | os.PathLike):
            raise MiexInputError(f"{where} expects a path, got {value!r}", field=item.name)
        return os.fspath(value)
    if "choices" in options and value not in options["choices"]:
        raise MiexInputError(f"{where} must be one of {', '.join(options['choices'])}, got {value!r}", field=item.name)
    return _parsed(options.get("type"), value, where, item.name)


def _parsed(parse: Callable[[str], Any] | None, value: Any, where: str, name: str) -> Any:
    """``value`` read as the command line reads it (so ``3``, ``np.int64(3)`` and ``"3"`` are one value)."""
    if parse is None:
        if not isinstance(value, str):
            raise MiexInputError(f"{where} expects text, got {value!r}", field=name)
        return value
    if isinstance(value, bool):
        raise MiexInputError(f"{where} expects a number, got {value!r}", field=name)
    try:
        return parse(str(value))
    except (argparse.ArgumentTypeError, ValueError) as error:
        typed = isinstance(error, argparse.ArgumentTypeError)
        reason = str(error) if typed else f"expected a whole number, got {value!r}"
        raise MiexInputError(f"{where}: {reason}", field=name) from error


def _pairs(clips: tuple[str, ...], aus: tuple[str, ...], kind: str) -> list[tuple[str, str]]:
    if len(clips) != len(aus):
        raise MiexInputError(
            f"give one --{kind}-aus per --{kind}-clips ({len(clips)} vs {len(aus)}), in the same order",
            field=f"{kind}_aus",
        )
    return list(zip(clips, aus, strict=True))


def _check_combinations(config: SynthesisConfig) -> None:
    """Options that only make sense together, refused before any input is read (each piece checks its own ranges,
    such as pairs of clip and AU tables or A <= B, naming the flag)."""
    config.pool_config()
    config.plan_config()
    own = PRETRAINED_OPTION[config.generator]
    for generator, name in PRETRAINED_OPTION.items():
        if generator != config.generator and getattr(config, name) is not None:
            raise MiexInputError(
                f"{flag(name)} names the {generator} generator's files, but --generator is "
                f"{config.generator}: give --generator {generator}, or {flag(own)} instead",
                field=name,
            )
    for name, generator in GENERATOR_ONLY.items():
        if getattr(config, name) and config.generator != generator:
            raise MiexInputError(f"{flag(name)} applies to --generator {generator} only", field=name)
    if config.revision is not None and getattr(config, own) is None:
        raise MiexInputError(
            f"--revision picks a commit of the Hub repo given as {flag(own)}: give that too", field="revision"
        )


__all__ = [
    "DEFAULT_OUT",
    "GROUPS",
    "SEED",
    "Options",
    "OutputOptions",
    "SynthesisConfig",
    "add_arguments",
    "default_of",
    "flag",
    "number_between",
    "option_names",
    "source_list",
    "whole_number",
]
