"""One training stage of a flow recognizer on tensors held in memory: no per-sample decode, no per-step framework.

A flow model's whole training set is a few thousand 28 x 28 images (a few MB), so a stage is a tight loop over
seeded permutations of one tensor. It optimises exactly like :func:`miex.train.runner.stages.train_stage` (the
Trainer path of the image recognizers; docs/reference.md §Recognizers): Adam (or AdamW) on every parameter with the
stage's weight decay, gradient clipping at ``max_grad_norm`` (0: off), ``epochs`` at the full learning rate then
``decay_epochs`` of linear decay to 0 (:func:`miex.core.schedule.stable_then_linear`), the last partial batch
kept. Data order comes from a generator seeded by ``seed`` alone, so a fold trains to the same weights in any
process. A final batch of one sample is joined to the one before (BatchNorm cannot normalise a single sample).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from miex.core.schedule import stable_steps, stable_then_linear
from miex.train.metrics import uf1_uar
from miex.train.runner.specs import TrainingSpec
from miex.train.runner.stages import check_loss, optimizer_choice


def batch_bounds(count: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each batch of one epoch; a trailing batch of one sample joins the previous batch."""
    bounds = [(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], count)]
    return bounds


@dataclass
class Validation:
    """A validation split (carved from training subjects): scored after every epoch, the best epoch's weights kept
    (ties: the earlier epoch), as :class:`miex.train.runner.stages.BestOnValidation` does on the Trainer path."""

    inputs: torch.Tensor
    labels: np.ndarray
    num_classes: int
    absent: str = "exclude"
    best: float | None = None
    epoch: float | None = None
    state: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def score(self, model: torch.nn.Module, epoch: int) -> dict[str, float]:
        predictions = predict_tensors(model, self.inputs).argmax(axis=-1)
        scores = uf1_uar(predictions, self.labels, self.num_classes, absent=self.absent)
        if self.best is None or scores["uf1"] > self.best:
            self.best, self.epoch = float(scores["uf1"]), float(epoch)
            self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return {"eval_uf1": float(scores["uf1"]), "eval_uar": float(scores["uar"])}


def train_on_tensors(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    spec: TrainingSpec,
    *,
    seed: int,
    validation: Validation | None = None,
    on_epoch: Callable[[dict[str, Any], int], None] | None = None,
    label: str = "training",
) -> list[dict[str, Any]]:
    """Train ``model`` in place for the stage's epochs; returns one log entry per epoch (``epoch``, ``loss``,
    ``learning_rate``, ``grad_norm``; with ``validation`` also ``eval_uf1``, ``eval_uar``), the shape of the
    Trainer's ``log_history``. ``on_epoch(entry, total_epochs)`` is called with each epoch's entry (progress). A NaN
    or infinite epoch loss stops the stage (:func:`~.stages.check_loss`; ``label`` names it)."""
    count = len(labels)
    if count == 0:
        raise ValueError("no training samples")
    bounds = batch_bounds(count, spec.batch_size)
    total_epochs = spec.total_epochs
    total_steps = len(bounds) * total_epochs
    stable = stable_steps(total_steps, spec.epochs, total_epochs)
    optimizer_cls, optimizer_options = optimizer_choice(model, spec)  # the Trainer path's Adam / AdamW, one group
    optimizer = optimizer_cls(**optimizer_options)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: stable_then_linear(step, stable=stable, total=total_steps)
    )
    order = torch.Generator().manual_seed(seed)
    labels = labels.long()
    parameters = [p for p in model.parameters() if p.requires_grad]
    history: list[dict[str, Any]] = []
    model.train()
    for epoch in range(1, total_epochs + 1):
        permutation = torch.randperm(count, generator=order)
        losses = torch.zeros(())
        norms = []
        rate = optimizer.param_groups[0]["lr"]
        for start, stop in bounds:
            rows = permutation[start:stop]
            loss = model(pixel_values=inputs[rows], labels=labels[rows]).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if spec.max_grad_norm > 0:
                norms.append(torch.nn.utils.clip_grad_norm_(parameters, spec.max_grad_norm))
            optimizer.step()
            schedule.step()
            losses += loss.detach() * (stop - start)
        entry = {"epoch": float(epoch), "loss": float(losses) / count, "learning_rate": rate}
        check_loss(entry["loss"], epoch, spec, label)
        if norms:
            entry["grad_norm"] = float(torch.stack(norms).mean())
        if validation is not None:
            entry |= validation.score(model, epoch)
            model.train()
        history.append(entry)
        if on_epoch is not None:
            on_epoch(entry, total_epochs)
    model.eval()
    return history


@torch.no_grad()
def predict_tensors(model: torch.nn.Module, inputs: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Logits (N, classes) of ``inputs`` in evaluation mode, in order."""
    model.eval()
    if len(inputs) == 0:
        return np.zeros((0, model.config.num_labels), dtype=np.float32)
    parts = [
        model(pixel_values=inputs[start : start + batch_size]).logits for start in range(0, len(inputs), batch_size)
    ]
    return torch.cat(parts).float().numpy()
