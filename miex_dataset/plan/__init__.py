"""The deterministic synthesis plan and the fold filter that keeps test-subject AUs out of training."""

from .build import PlanConfig, PlanResult, build_plan, plan_columns, write_plan
from .faces import load_faces
from .folds import filter_trainable, trainable_mask
from .seeds import stable_int

__all__ = [
    "PlanConfig",
    "PlanResult",
    "build_plan",
    "filter_trainable",
    "load_faces",
    "plan_columns",
    "stable_int",
    "trainable_mask",
    "write_plan",
]
