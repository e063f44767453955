"""The synthesis job as Python calls: what ``miex synthesize`` does, from a :class:`~.config.SynthesisConfig`.

    from miex.data.synthesis.api import synthesize, synthesize_dataset

    summary = synthesize(faces="pool/", pool="au_pool.parquet", out="miex")     # a folder, as the command line
    ds = synthesize_dataset(samples_per_identity=6)       # the embedded default as a datasets.Dataset

Both take a config and/or its fields as keywords (an unknown keyword is refused naming the known ones); nothing
given is the embedded default. Their signatures list every field with its declared default (:func:`with_options`),
as ``miex synthesize --help`` lists them. :func:`synthesize` resolves the inputs, loads the generator (a local
folder, a Hub repo or a file), renders with the resumable engine and writes the card; ``miex synthesize`` is this
function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import fields
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miex.core.errors import MiexInputError
from miex.data.synthesis.config import (
    DEFAULT_OUT,
    OutputOptions,
    SynthesisConfig,
    default_of,
    load_configured_generator,
)

if TYPE_CHECKING:
    import datasets

    from miex.data.synthesis.engine import SynthesisSummary


def with_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` whose signature shows, in place of ``**overrides``, every :class:`SynthesisConfig` field as a
    keyword with its declared default (what ``help()`` and editors show; the call itself is unchanged)."""
    signature = inspect.signature(function)
    kept = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    options = [
        inspect.Parameter(
            item.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=default_of(SynthesisConfig, item.name),
            annotation=item.type,
        )
        for item in fields(SynthesisConfig)
    ]
    function.__signature__ = signature.replace(parameters=[*kept, *options])  # type: ignore[attr-defined]
    return function


def resolve_config(config: SynthesisConfig | None = None, **overrides: Any) -> SynthesisConfig:
    """``config`` (default: the embedded default) with ``overrides`` applied, checked as the command line checks."""
    if config is not None and not isinstance(config, SynthesisConfig):
        raise MiexInputError(
            f"expected a SynthesisConfig, got {type(config).__name__} (or pass its fields as keywords)", field="config"
        )
    return (config or SynthesisConfig()).overridden(**overrides)


@with_options
def synthesize(
    config: SynthesisConfig | None = None,
    out: str | PathLike[str] = DEFAULT_OUT,
    *,
    overwrite: bool = False,
    push_to_hub: str | None = None,
    private: bool = False,
    **overrides: Any,
) -> SynthesisSummary:
    """Render MiE-X into the folder ``out`` (parquet shards + card), exactly as ``miex synthesize``; returns the
    summary (its ``report`` lists skipped faces, ``pushed`` the repo URL).

    Resumable: run it again after an interruption. ``overwrite`` replaces a folder holding another run;
    ``push_to_hub="ORG/NAME"`` uploads the finished folder (``private`` for a new repo). Launch the calling script
    with ``torchrun``/``accelerate launch`` to render on several processes."""
    from accelerate import PartialState

    from miex.data.hub import check_repo_id, push_folder
    from miex.data.synthesis.engine import EngineConfig, guard_output_folder
    from miex.data.synthesis.engine import render_shards as render
    from miex.data.synthesis.inputs import resolve_plan

    config = resolve_config(config, **overrides)
    output = OutputOptions(out=out, overwrite=overwrite, push_to_hub=push_to_hub, private=private)
    # cheapest checks first: bad options, a bad repo id and a bad generator are refused before the plan is built
    engine = EngineConfig.from_config(config, overwrite=output.overwrite)
    if output.push_to_hub is not None:
        check_repo_id(output.push_to_hub)
    generator = load_configured_generator(config)
    inputs = [
        config.plan,
        config.faces,
        config.pool,
        *config.mie_clips,
        *config.mie_aus,
        *config.mae_clips,
        *config.mae_aus,
    ]
    guard_output_folder(Path(output.out), output.overwrite, inputs)
    resolved = resolve_plan(config.inputs())
    context = {"inputs": resolved.description, "load_path": output.push_to_hub or output.out}
    summary = render(
        resolved.plan,
        generator,
        output.out,
        faces_dir=resolved.faces_dir,
        config=engine,
        plan_params=resolved.params,
        card_context=context,
    )
    if output.push_to_hub is not None and PartialState().is_main_process:
        summary.pushed = push_folder(output.out, output.push_to_hub, private=output.private)
    return summary


@with_options
def synthesize_dataset(
    config: SynthesisConfig | None = None,
    *,
    cache_dir: str | PathLike[str] | None = None,
    download_mode: str | None = None,
    **overrides: Any,
) -> datasets.Dataset:
    """MiE-X as a ``datasets.Dataset`` (train split), rendered in-process by the builder
    (:class:`~miex.data.builder.MiEX`): the rows of :func:`synthesize`'s folder, byte for byte.

    ``datasets`` caches the result by these options: after changing the *contents* of input files, pass
    ``download_mode="force_redownload"`` to render again."""
    from miex.data.builder import MiEX

    config = resolve_config(config, **overrides)
    defaults = SynthesisConfig()
    changed = {
        item.name: getattr(config, item.name)
        for item in fields(SynthesisConfig)
        if getattr(config, item.name) != getattr(defaults, item.name)
    }
    builder = MiEX(config_name="miex", cache_dir=None if cache_dir is None else str(cache_dir), **changed)
    builder.download_and_prepare(download_mode=download_mode)
    return builder.as_dataset(split="train")


__all__ = ["resolve_config", "synthesize", "synthesize_dataset", "with_options"]
