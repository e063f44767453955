"""STSTNet (Liong et al., FG 2019; docs/reference.md §Recognizers): u, v and optical strain stacked as a 3-channel
28x28 input; three
parallel 3x3 convs with 3/5/8 channels (ReLU, BatchNorm), 3x3/3 max-pool, 2x2 average pool, dropout, one FC.
Padding 2, pools and the 5x5x16 FC input follow the authors' PyTorch release."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import ImageClassifierOutput

from .base import InputSpec, MiexConfig, MiexPreTrainedModel
from .registry import register_model


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
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(config.num_channels, width, 3, padding=2), nn.ReLU(inplace=True), nn.BatchNorm2d(width)
            )
            for width in config.branch_channels
        )
        self.pool = nn.Sequential(nn.MaxPool2d(3, stride=3, padding=1), nn.AvgPool2d(2, stride=2))
        self.build_head()
        self.post_init()

    def build_head(self) -> None:
        width = sum(self.config.branch_channels) * self.config.pooled_size**2
        self.classifier = nn.Sequential(
            nn.Dropout(self.config.classifier_dropout), nn.Linear(width, self.config.num_labels)
        )

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any
    ) -> ImageClassifierOutput:
        features = torch.cat([self.pool(branch(pixel_values)) for branch in self.branches], dim=1)
        return self.classification_output(self.classifier(features.flatten(1)), labels)
