"""STSTNet (Liong et al., FG 2019; docs/reference.md §Recognizers): the composite flow image (u, v, optical strain,
28x28) through three parallel 3x3 convs with 3/5/8 channels (ReLU, BatchNorm), a 3x3/3 max-pool, dropout, a 2x2
average pool and one FC. Padding 2, the pools, the dropout after the max-pool and the 5x5x16 FC input follow the
authors' PyTorch release.

The three streams read the same input and every later operation is per channel, so they are computed as ONE
convolution with 3 + 5 + 8 output channels, one 16-channel BatchNorm and one max-pool: the same function and
gradients as three separate streams. In training that block runs as :class:`.fused_stem.ConvReluNormPool` (the same
values and gradients, computed in cache-sized chunks), since STSTNet trains for hundreds of epochs per LOSO fold."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import ImageClassifierOutput

from miex.train.models.base import InputSpec, MiexConfig, MiexPreTrainedModel
from miex.train.models.fused_stem import ConvReluNormPool, MaskDropout
from miex.train.models.registry import register_model


class STSTNetConfig(MiexConfig):
    model_type = "miex-ststnet"
    image_size: int = 28
    num_channels: int = 3
    branch_channels: tuple[int, ...] | list[int] = (3, 5, 8)

    def __post_init__(self, **kwargs: Any) -> None:
        self.branch_channels = list(self.branch_channels)
        super().__post_init__(**kwargs)

    def input_spec(self) -> InputSpec:
        return InputSpec(flow="uv_strain", flow_size=self.image_size)

    @property
    def pooled_size(self) -> int:
        after_conv = self.image_size + 2  # 3x3 conv, padding 2
        after_max = (after_conv + 2 - 3) // 3 + 1  # 3x3 max-pool, stride 3, padding 1
        return after_max // 2  # 2x2 average pool


@register_model("ststnet")
class STSTNetForMicroExpression(MiexPreTrainedModel):
    config_class = STSTNetConfig

    def __init__(self, config: STSTNetConfig) -> None:
        super().__init__(config)
        width = sum(config.branch_channels)
        self.streams = ConvReluNormPool(config.num_channels, width, padding=2, pool=3, pool_padding=1)
        self.pool = nn.Sequential(MaskDropout(config.classifier_dropout), nn.AvgPool2d(2, stride=2))
        self.build_head()
        self.post_init()

    def build_head(self) -> None:
        width = sum(self.config.branch_channels) * self.config.pooled_size**2
        self.classifier = nn.Linear(width, self.config.num_labels)

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any
    ) -> ImageClassifierOutput:
        features = self.pool(self.streams(pixel_values))
        return self.classification_output(self.classifier(features.flatten(1)), labels)
