"""What :func:`miex.train.api.train_recognizer` returns, in a module of its own: ``import miex; help(miex)`` documents
it without loading torch (the annotations are strings, so the model and array types are never imported here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    import numpy as np

    from miex.train.models.base import MiexPreTrainedModel

__all__ = ["TrainResult"]


@dataclass
class TrainResult:
    """What :func:`train_recognizer` trained and measured.

    ``predictions`` (class ids) and ``logits`` follow the rows of ``eval``; ``scores`` is
    :func:`miex.train.metrics.uf1_uar` of those predictions (``uf1``, ``uar``, per-class F1 and recall, confusion
    matrix); all three are ``None`` without ``eval``. ``history`` is the Trainer's log (loss and learning rate per
    epoch)."""

    model: MiexPreTrainedModel
    label_names: list[str]
    predictions: np.ndarray | None = None
    logits: np.ndarray | None = None
    scores: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
