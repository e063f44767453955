"""The deterministic synthesis plan and the fold filter that keeps test-subject AUs out of training."""

from .build import (
    PlanConfig,
    PlanResult,
    build_plan,
    describe_samples_per_identity,
    plan_columns,
    plan_sources,
    write_plan,
)
from .faces import load_faces
from .folds import filter_trainable, trainable_mask
from .seeds import stable_int
from .validate import read_plan, validate_plan

__all__ = [
    "PlanConfig",
    "PlanResult",
    "build_plan",
    "describe_samples_per_identity",
    "filter_trainable",
    "load_faces",
    "plan_columns",
    "plan_sources",
    "read_plan",
    "stable_int",
    "trainable_mask",
    "validate_plan",
    "write_plan",
]
