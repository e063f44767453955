"""UF1 / UAR: plain functions (:mod:`.scores`) and an ``evaluate`` metric module shipped as package data.

``evaluate.load(miex.train.metrics.UF1_UAR)`` loads the metric offline from its folder (docs/reference.md §Hugging Face
stack: Hub-hosted metrics do not load offline; a local ``<dir>/<dir>.py`` does).
"""

from pathlib import Path

from miex.train.metrics.scores import (
    ABSENT_CHOICES,
    confusion,
    per_dataset,
    per_fold_mean,
    pool_folds,
    scores_from_confusion,
    uf1_uar,
)

UF1_UAR: str = str(Path(__file__).resolve().parent / "uf1_uar")
"""Folder of the ``evaluate`` metric module: pass it to ``evaluate.load``."""

__all__ = [
    "ABSENT_CHOICES",
    "UF1_UAR",
    "confusion",
    "per_dataset",
    "per_fold_mean",
    "pool_folds",
    "scores_from_confusion",
    "uf1_uar",
]
