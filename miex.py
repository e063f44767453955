"""miex: synthesize MiE-X micro-expression datasets and train recognizers on them, from Python.

The same steps as the ``miex`` command line, in the order data flows (docs/reference.md §Python API)::

    import miex

    clips = miex.read_corpus("casme2", "CASME2/")                 # real clips -> clip table (DataFrame)
    pool, report = miex.build_face_pool("photos/", "pool/")        # aligned identity pool + index.parquet
    aus, report = miex.extract_aus("clips.parquet", "aus.parquet")  # onset/apex AUs of the real clips
    summary = miex.synthesize(out="miex", expert=100)              # MiE-X shards + card (default: embedded faces)
    ds = miex.load("miex")                                         # a datasets.Dataset (folder or Hub repo)
    result = miex.train_recognizer(ds, test, model="branches", epochs=1)
    print(result.scores)                                           # {"uf1": ..., "uar": ...}
    miex.push("miex", "org/miex")

Names resolve on first use, so ``import miex`` stays fast and pulls in torch, mediapipe or datasets only when a
step that needs them runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from miex_dataset import __version__  # one version for the distribution

_EXPORTS: dict[str, str] = {
    # corpora -> clip tables
    "read_corpus": "miex_dataset.steps:read_corpus",
    # faces and AUs
    "build_face_pool": "miex_dataset.faces.pool:build_face_pool",
    "extract_aus": "miex_dataset.steps:extract_aus",
    # AU sources -> plan
    "PoolConfig": "miex_dataset.sources:PoolConfig",
    "build_au_pool": "miex_dataset.steps:build_au_pool",
    "PlanConfig": "miex_dataset.plan:PlanConfig",
    "build_plan": "miex_dataset.steps:build_plan",
    # generators and synthesis
    "load_generator": "miex_dataset.generators:load_generator",
    "SynthesisConfig": "miex_dataset.synthesis.config:SynthesisConfig",
    "OutputOptions": "miex_dataset.synthesis.config:OutputOptions",
    "synthesize": "miex_dataset.synthesis.api:synthesize",
    "synthesize_dataset": "miex_dataset.synthesis.api:synthesize_dataset",
    "load": "miex_dataset.steps:load",
    "magnify_pair": "miex_dataset.magnify:magnify_pair",
    "Magnification": "miex_dataset.magnify:Magnification",
    # recognizers
    "train_recognizer": "miex_train.api:train_recognizer",
    "TrainResult": "miex_train.api:TrainResult",
    "uf1_uar": "miex_train.metrics.scores:uf1_uar",
    # the Hub
    "push": "miex_dataset.hub:push_folder",
}

__all__ = [
    "Magnification",
    "OutputOptions",
    "PlanConfig",
    "PoolConfig",
    "SynthesisConfig",
    "TrainResult",
    "__version__",
    "build_au_pool",
    "build_face_pool",
    "build_plan",
    "extract_aus",
    "load",
    "load_generator",
    "magnify_pair",
    "push",
    "read_corpus",
    "synthesize",
    "synthesize_dataset",
    "train_recognizer",
    "uf1_uar",
]
"""The public API; every name but the version resolves through ``_EXPORTS`` on first use."""

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from miex_dataset.faces.pool import build_face_pool
    from miex_dataset.generators import load_generator
    from miex_dataset.hub import push_folder as push
    from miex_dataset.magnify import Magnification, magnify_pair
    from miex_dataset.plan import PlanConfig
    from miex_dataset.sources import PoolConfig
    from miex_dataset.steps import build_au_pool, build_plan, extract_aus, load, read_corpus
    from miex_dataset.synthesis.api import synthesize, synthesize_dataset
    from miex_dataset.synthesis.config import OutputOptions, SynthesisConfig
    from miex_train.api import TrainResult, train_recognizer
    from miex_train.metrics.scores import uf1_uar


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'miex' has no attribute {name!r} (the API: {', '.join(_EXPORTS)})")
    module, _, attribute = _EXPORTS[name].partition(":")
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
