"""Weights after the first stages, shared by the folds of one seed that train those stages on identical rows.

E.g. pre-training on MiE-X for MMEW folds: no MiE-X sample derives from an MMEW subject, so every fold would pre-train
on the same rows with the same seed; it is trained once and the other folds start from a copy.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import torch

from miex.train.models.base import MiexPreTrainedModel
from miex.train.runner.checks import Plan
from miex.train.runner.sources import FoldPlan, source_rows

Entry = tuple[dict[str, torch.Tensor], list[str], dict, dict]
"""CPU weights, label names, training counts and curves after a prefix of stages."""


def stage_keys(plan: Plan, fold: FoldPlan) -> list[str]:
    """For each stage, a digest of the training rows of that stage and all before it (same digest: same weights)."""
    digest, keys = hashlib.sha256(), []
    for stage in plan.recipe.stages:
        digest.update(stage.name.encode())
        for name in stage.train:
            digest.update(name.encode() + source_rows(fold, plan.sources, name)[0].astype(np.int64).tobytes())
        keys.append(digest.copy().hexdigest())
    return keys


class StageCache:
    """Only prefixes used by more than one fold are kept, and each is dropped after its last use."""

    def __init__(self, plan: Plan) -> None:
        self.keys = {fold.name: stage_keys(plan, fold)[:-1] for fold in plan.folds}
        self.remaining = Counter(key for keys in self.keys.values() for key in keys)
        self.items: dict[str, Entry] = {}

    def lookup(self, fold: str, seed: int) -> tuple[int, Entry | None]:
        """The longest cached prefix of ``fold``'s stages: (number of stages, entry) or (0, None)."""
        for count in range(len(self.keys[fold]), 0, -1):
            key = f"{seed}:{self.keys[fold][count - 1]}"
            if key in self.items:
                return count, self.items[key]
        return 0, None

    def store(self, fold: str, seed: int, index: int, model: MiexPreTrainedModel, counts: dict, history: dict) -> None:
        if index < len(self.keys[fold]) and self.remaining[self.keys[fold][index]] > 1:
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            entry = (state, model.config.label_names, dict(counts), dict(history))
            self.items[f"{seed}:{self.keys[fold][index]}"] = entry

    def done(self, fold: str, seed: int) -> None:
        """``fold`` finished: forget prefixes no later fold of this seed needs."""
        for key in self.keys[fold]:
            self.remaining[key] -= 1
            if self.remaining[key] <= 0:
                self.items.pop(f"{seed}:{key}", None)
        if all(v <= 0 for v in self.remaining.values()):  # next seed: counts start again
            self.remaining = Counter(key for keys in self.keys.values() for key in keys)
            self.items.clear()
