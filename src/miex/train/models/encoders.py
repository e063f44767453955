"""Image encoders: transformers' ResNet (no torchvision here, docs/reference.md §Face pipeline) and a small
hand-written VGG-16.

Encoder shapes live in the model config as plain dicts, so a scaled-down test model (``hidden_sizes`` [8, 16, 16,
16]) runs the same code as the paper's ResNet-18.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from transformers import ResNetConfig, ResNetModel

from miex.core.errors import MiexInputError

RESNET18: dict[str, Any] = {
    "num_channels": 3,
    "embedding_size": 64,
    "hidden_sizes": [64, 128, 256, 512],
    "depths": [2, 2, 2, 2],
    "layer_type": "basic",
}
"""ResNet-18 in transformers' terms (``microsoft/resnet-18``)."""

RESNET_KEYS: tuple[str, ...] = (*RESNET18, "hidden_act", "downsample_in_first_stage", "downsample_in_bottleneck")

VGG16: dict[str, Any] = {
    "num_channels": 3,
    "layers": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "pool_size": 7,
    "fc_sizes": [4096, 4096],
    "dropout": 0.5,
}
"""VGG-16 (configuration D of Simonyan & Zisserman) as used by ApexME (docs/reference.md §Recognizers); ``"M"`` is a
2x2 max-pool."""


def resnet_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """ResNet-18 defaults updated with ``overrides``; unknown keys are an error (a typo would silently be ignored)."""
    unknown = set(overrides or {}) - set(RESNET_KEYS)
    if unknown:
        raise MiexInputError(
            f"unknown ResNet encoder keys {sorted(unknown)}; known: {list(RESNET_KEYS)}", field="encoder"
        )
    return {**RESNET18, **(overrides or {})}


def vgg_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    unknown = set(overrides or {}) - set(VGG16)
    if unknown:
        raise MiexInputError(f"unknown VGG encoder keys {sorted(unknown)}; known: {list(VGG16)}", field="encoder")
    return {**VGG16, **(overrides or {})}


def build_resnet(encoder: Mapping[str, Any]) -> ResNetModel:
    return ResNetModel(ResNetConfig(**encoder))


def resnet_width(encoder: Mapping[str, Any]) -> int:
    """Pooled feature size: the last stage's width (512 for ResNet-18)."""
    return int(encoder["hidden_sizes"][-1]) * (4 if encoder.get("layer_type") == "bottleneck" else 1)


def pooled(resnet: ResNetModel, pixel_values: torch.Tensor, *, checkpointed: bool = False) -> torch.Tensor:
    """(B, C, H, W) -> (B, width) globally average-pooled features.

    ``checkpointed`` (training only): keep only the input of the stem and of each of the four stages, and recompute
    the rest during the backward pass. Gradients are exactly those of the plain pass; the saved activations of a
    Branches model at batch 32 on 224 px drop from about 2.5 GB to a few hundred MB, for about a third more compute.
    Batch-norm running statistics are updated once per step, as without it (the recomputation leaves them alone)."""
    if not (checkpointed and torch.is_grad_enabled()):
        return resnet(pixel_values=pixel_values).pooler_output.flatten(1)
    from torch.utils.checkpoint import checkpoint

    hidden = pixel_values
    for block in (resnet.embedder, *resnet.encoder.stages):
        hidden = checkpoint(block, hidden, use_reentrant=False, context_fn=lambda block=block: _once(block))
    return resnet.pooler(hidden).flatten(1)


def _once(block: nn.Module) -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """Checkpoint contexts: the forward pass as usual; the recomputation with batch-norm momentum 0, so running
    statistics are not moved a second time by the same batch."""
    return contextlib.nullcontext(), _still_running_stats(block)


@contextlib.contextmanager
def _still_running_stats(block: nn.Module) -> Iterator[None]:
    norms = [m for m in block.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is not None]
    saved = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
    for norm in norms:
        norm.momentum = 0.0
    try:
        yield
    finally:
        for norm, (momentum, tracked) in zip(norms, saved, strict=True):
            norm.momentum = momentum
            norm.num_batches_tracked.copy_(tracked)


def load_pretrained_resnet(name_or_path: str) -> tuple[ResNetModel, dict[str, Any]]:
    """A transformers ResNet checkpoint (local folder or cached Hub id, e.g. ``microsoft/resnet-18``).

    ``ResNetForImageClassification`` checkpoints load too (their ``resnet.`` prefix is the base model's).
    """
    try:
        model = ResNetModel.from_pretrained(name_or_path)
    except OSError as error:
        raise MiexInputError(
            f"cannot load ImageNet ResNet weights from {name_or_path!r} ({error}); give a local folder written by "
            "save_pretrained or a Hub id already in the cache, or use backbone='random'",
            field="backbone",
        ) from error
    encoder = {key: getattr(model.config, key) for key in RESNET_KEYS}
    encoder["hidden_sizes"] = list(encoder["hidden_sizes"])
    encoder["depths"] = list(encoder["depths"])
    return model, encoder


class VGG(nn.Module):
    """VGG feature extractor: conv/ReLU stack with max-pools, adaptive pool, then the fully connected layers."""

    def __init__(self, encoder: Mapping[str, Any]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = int(encoder["num_channels"])
        for item in encoder["layers"]:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                channels = int(item)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(int(encoder["pool_size"]))
        fc: list[nn.Module] = []
        width = channels * int(encoder["pool_size"]) ** 2
        for size in encoder["fc_sizes"]:
            fc += [nn.Linear(width, int(size)), nn.ReLU(inplace=True), nn.Dropout(float(encoder["dropout"]))]
            width = int(size)
        self.fc = nn.Sequential(*fc)
        self.width = width

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(pixel_values)).flatten(1))


def conv_stack(
    channels: Sequence[int], in_channels: int, *, kernel: int, dims: int = 2, pool: int = 2
) -> tuple[nn.Sequential, int]:
    """Shallow conv -> ReLU -> max-pool blocks (OFF-ApexNet, DTSCNN); returns the stack and its output channels."""
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    max_pool = nn.MaxPool2d if dims == 2 else nn.MaxPool3d
    layers: list[nn.Module] = []
    for width in channels:
        layers += [
            conv(in_channels, int(width), kernel, padding=kernel // 2),
            nn.ReLU(inplace=True),
            max_pool(pool, ceil_mode=True),
        ]
        in_channels = int(width)
    return nn.Sequential(*layers), in_channels
