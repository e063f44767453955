"""MiE-X synthesis: plan -> generator -> parquet shards -> dataset card (-> Hub).

- :mod:`.config`: the one configuration of a job (:class:`SynthesisConfig`), from which the CLI is generated;
- :mod:`.api`: ``synthesize(config)`` (a folder, as ``miex synthesize``) and ``synthesize_dataset(config)``;
- :mod:`.inputs`: where the plan comes from (plan file, faces + AU pool, or the embedded default);
- :mod:`.faces`: every face of the plan checked once, landmarks from the face pool;
- :mod:`.render`: batched generation on the device, encoding in a thread pool;
- :mod:`.shards`: fixed shards, atomic writes, receipts that make a killed run resumable;
- :mod:`.engine`: the rank-parallel driver that renders a plan (``miex synthesize``, ``accelerate launch builder.py``);
- :mod:`.card`: README.md with YAML from the written shards, sample grid, AU plot;
- :mod:`.schema`: the dataset's features and the meaning of each column.

Names load on first use, so reading the configuration (``miex synthesize --help``) does not import torch.
``render_shards`` is the engine's (render a given plan with a given generator); the whole job from a config is
:func:`.api.synthesize`.
"""

from __future__ import annotations

from miex.core import lazy

__getattr__, __dir__ = lazy.attach(
    __name__,
    {
        "DEFAULT_OUT": ".config:DEFAULT_OUT",
        "OutputOptions": ".config:OutputOptions",
        "SynthesisConfig": ".config:SynthesisConfig",
        "synthesize_dataset": ".api:synthesize_dataset",
        "EngineConfig": ".engine:EngineConfig",
        "SynthesisSummary": ".engine:SynthesisSummary",
        "render_shards": ".engine:render_shards",
        "ResolvedPlan": ".inputs:ResolvedPlan",
        "SynthesisInputs": ".inputs:SynthesisInputs",
        "resolve_plan": ".inputs:resolve_plan",
        "Encoding": ".render:Encoding",
        "miex_features": ".schema:miex_features",
    },
)
__all__ = [
    "DEFAULT_OUT",
    "Encoding",
    "EngineConfig",
    "OutputOptions",
    "ResolvedPlan",
    "SynthesisConfig",
    "SynthesisInputs",
    "SynthesisSummary",
    "miex_features",
    "render_shards",
    "resolve_plan",
    "synthesize_dataset",
]
