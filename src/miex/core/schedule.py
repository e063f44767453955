"""The learning-rate schedule of a recognizer stage and of GANimation training: constant, then linear to 0.

It lives in miex.core.schedule because the generator trainer (miex.data) and the recognizer runner (miex.train)
both need it, and the data layer must not import the training layer.

One function for both trainers (docs/reference.md §Recognizers: ``epochs`` at the full rate, then ``decay_epochs`` of
linear decay; §GANimation: the same shape over steps). transformers' ``warmup_stable_decay`` schedule draws the same
line but computes its decay as ``1 - (step - stable) / decay``, which differs from ``(total - step) / decay`` in the
last bit on about one step in five, and it needs its step counts before ``Trainer.train`` has counted the batches;
so the factor is kept here (tests/test_train_api.py compares the two per step).
"""

from __future__ import annotations

import math


def stable_then_linear(step: int, *, stable: int, total: int) -> float:
    """LR factor: 1 for the first ``stable`` steps, then linear to 0 at ``total``."""
    if step < stable or total <= stable:
        return 1.0
    return max(0.0, (total - step) / (total - stable))


def stable_steps(total: int, epochs: int, total_epochs: int) -> int:
    """Steps at the full rate when ``total`` steps cover ``total_epochs`` epochs, the first ``epochs`` of them flat."""
    return math.floor(total * epochs / total_epochs)
