"""GANimation's loss terms and the two weight presets (docs/reference.md §GANimation)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LossWeights:
    """Weights of each term. ``au`` multiplies the element-mean MSE of the AU regression."""

    adversarial: float = 1.0
    gradient_penalty: float = 10.0
    au: float = 160.0
    cycle: float = 10.0
    attention_mean: float = 0.1
    attention_tv: float = 1e-5

    @classmethod
    def preset(cls, name: str, batch_size: int) -> LossWeights:
        """'paper': the official code divides the mean MSE by the batch and multiplies by 4000 (= 160 at batch 25);
        'replicate': the MiE-X authors' re-implementation uses a constant 160."""
        if name == "paper":
            return cls(au=4000.0 / batch_size)
        if name == "replicate":
            return cls(au=160.0)
        raise ValueError(f"unknown preset {name!r} (choose 'paper' or 'replicate')")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: ``(||grad_x D(x)||_2 - 1)^2`` at random interpolates ``x`` of real and fake images."""
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    score, _ = critic(mixed)
    (gradient,) = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((gradient.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def total_variation(mask: torch.Tensor) -> torch.Tensor:
    """Summed (not averaged) absolute neighbour differences, as in the original code: hence the tiny 1e-5 weight."""
    return (mask[..., 1:, :] - mask[..., :-1, :]).abs().sum() + (mask[..., :, 1:] - mask[..., :, :-1]).abs().sum()


def attention_losses(weights: LossWeights, *masks: torch.Tensor) -> torch.Tensor:
    """Mean-attention (keeps the mask from letting every pixel change) plus smoothness, summed over ``masks``."""
    return sum(weights.attention_mean * mask.mean() + weights.attention_tv * total_variation(mask) for mask in masks)
