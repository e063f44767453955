"""MiE-X synthesis: plan -> generator -> parquet shards -> dataset card (-> Hub).

- :mod:`.inputs`: where the plan comes from (plan file, faces + AU pool, or the embedded default);
- :mod:`.faces`: every face of the plan checked once, landmarks from the face pool;
- :mod:`.render`: batched generation on the device, encoding in a thread pool;
- :mod:`.shards`: fixed shards, atomic writes, receipts that make a killed run resumable;
- :mod:`.engine`: the rank-parallel driver (``miex synthesize``, ``accelerate launch builder.py``, ``torchrun``);
- :mod:`.card`: README.md with YAML from the written shards, sample grid, AU plot;
- :mod:`.schema`: the dataset's features and the meaning of each column.
"""

from .engine import DEFAULT_OUT, EngineConfig, SynthesisSummary, synthesize
from .inputs import ResolvedPlan, SynthesisInputs, resolve_plan
from .render import Encoding
from .schema import miex_features

__all__ = [
    "DEFAULT_OUT",
    "Encoding",
    "EngineConfig",
    "ResolvedPlan",
    "SynthesisInputs",
    "SynthesisSummary",
    "miex_features",
    "resolve_plan",
    "synthesize",
]
