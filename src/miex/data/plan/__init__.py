"""The deterministic synthesis plan and the fold filter that keeps test-subject AUs out of training."""

from miex.data.plan.build import (
    PlanConfig,
    PlanResult,
    describe_samples_per_identity,
    plan_columns,
    plan_samples,
    plan_sources,
    write_plan,
)
from miex.data.plan.faces import load_faces
from miex.data.plan.folds import filter_trainable, trainable_mask
from miex.data.plan.seeds import stable_int
from miex.data.plan.validate import read_plan, validate_plan

__all__ = [
    "PlanConfig",
    "PlanResult",
    "describe_samples_per_identity",
    "filter_trainable",
    "load_faces",
    "plan_columns",
    "plan_samples",
    "plan_sources",
    "read_plan",
    "stable_int",
    "trainable_mask",
    "validate_plan",
    "write_plan",
]
