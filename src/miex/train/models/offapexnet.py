"""OFF-ApexNet (Gan et al., 2019): the horizontal (u) and vertical (v) onset->apex flow each go through their own two
conv layers (5x5, 6 then 16 channels, ReLU, 2x2 max-pool); the flattened streams are concatenated (fused) and
classified by fully connected layers (1024, 1024 in the paper) with dropout."""

from __future__ import annotations

from typing import Any

import torch
from transformers.modeling_outputs import ImageClassifierOutput

from miex.train.models.base import InputSpec, MiexConfig, MiexPreTrainedModel, mlp_head
from miex.train.models.encoders import conv_stack
from miex.train.models.registry import register_model


class OffApexNetConfig(MiexConfig):
    """``pixel_values`` is (B, 2, H, W): channel 0 is u, channel 1 is v."""

    model_type = "miex-offapexnet"
    image_size: int = 28
    conv_channels: tuple[int, ...] | list[int] = (6, 16)
    kernel_size: int = 5
    fc_sizes: tuple[int, ...] | list[int] = (1024, 1024)

    def __post_init__(self, **kwargs: Any) -> None:
        self.conv_channels = list(self.conv_channels)
        self.fc_sizes = list(self.fc_sizes)
        super().__post_init__(**kwargs)

    def input_spec(self) -> InputSpec:
        return InputSpec(flow="uv", flow_size=self.image_size)


@register_model("offapexnet")
class OffApexNetForMicroExpression(MiexPreTrainedModel):
    config_class = OffApexNetConfig

    def __init__(self, config: OffApexNetConfig) -> None:
        super().__init__(config)
        self.u_stream, width = conv_stack(config.conv_channels, 1, kernel=config.kernel_size)
        self.v_stream, _ = conv_stack(config.conv_channels, 1, kernel=config.kernel_size)
        side = config.image_size
        for _ in config.conv_channels:
            side = -(-side // 2)  # ceil-mode 2x2 pooling
        self.fused_width = 2 * width * side * side
        self.build_head()
        self.post_init()

    def build_head(self) -> None:
        self.classifier = mlp_head(
            self.fused_width, self.config.fc_sizes, self.config.num_labels, self.config.classifier_dropout
        )

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any
    ) -> ImageClassifierOutput:
        u, v = pixel_values[:, 0:1], pixel_values[:, 1:2]
        fused = torch.cat([self.u_stream(u).flatten(1), self.v_stream(v).flatten(1)], dim=1)
        return self.classification_output(self.classifier(fused), labels)
