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
``synthesize`` here is the engine's (render a given plan with a given generator); the whole job from a config is
:func:`.api.synthesize`.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "DEFAULT_OUT": ".config",
    "OutputOptions": ".config",
    "SynthesisConfig": ".config",
    "synthesize_dataset": ".api",
    "EngineConfig": ".engine",
    "SynthesisSummary": ".engine",
    "synthesize": ".engine",
    "ResolvedPlan": ".inputs",
    "SynthesisInputs": ".inputs",
    "resolve_plan": ".inputs",
    "Encoding": ".render",
    "miex_features": ".schema",
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_NAMES)
