"""DTSCNN (Peng et al., Front. Psychol. 2017; docs/reference.md §Recognizers): two independent shallow 3-D CNN streams
over an optical-flow sequence at two temporal scales, late fusion of their class scores.

Input ``pixel_values`` is (B, 2, T, H, W), the u/v flow between consecutive frames (T = 9 for the 10-frame MiE-X
variant). Stream ``i`` first resamples the sequence in time to ``temporal_scales[i]`` frames by linear interpolation
(the paper normalises clip lengths with temporal interpolation so that each stream sees a fixed frame count), then
runs conv3d(3x3x3) -> ReLU -> max-pool(2) blocks, global average pooling and its own linear classifier. Fusion is the
mean of the two streams' logits; the loss is taken on the fused logits. The paper's SVM on the concatenated stream
outputs is replaced by this differentiable fusion so the model trains end to end with the Trainer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import ImageClassifierOutput

from miex.core.errors import MiexInputError
from miex.train.models.base import InputSpec, MiexConfig, MiexPreTrainedModel
from miex.train.models.encoders import conv_stack
from miex.train.models.registry import register_model


class DTSCNNConfig(MiexConfig):
    model_type = "miex-dtscnn"
    num_channels: int = 2
    temporal_scales: tuple[int, ...] | list[int] = (8, 16)
    conv_channels: tuple[int, ...] | list[int] = (16, 32, 64)
    kernel_size: int = 3

    def __post_init__(self, **kwargs: Any) -> None:
        self.temporal_scales = list(self.temporal_scales)
        self.conv_channels = list(self.conv_channels)
        if len(self.temporal_scales) != 2 or min(self.temporal_scales) < 1:
            raise MiexInputError(f"temporal_scales needs two positive frame counts, got {self.temporal_scales}")
        super().__post_init__(**kwargs)

    flow_size: int = 64
    sequence_length: int = 10
    """Frames from onset to apex (the 10-frame MiE-X variant, docs/reference.md §AU sources); flow between consecutive
    ones."""

    def input_spec(self) -> InputSpec:
        return InputSpec(flow="uv", flow_size=self.flow_size, sequence=self.sequence_length)


@register_model("dtscnn")
class DTSCNNForMicroExpression(MiexPreTrainedModel):
    config_class = DTSCNNConfig
    head_modules = ("short_classifier", "long_classifier")

    def __init__(self, config: DTSCNNConfig) -> None:
        super().__init__(config)
        self.short_stream, self.width = self._stream()
        self.long_stream, _ = self._stream()
        self.build_head()
        self.post_init()

    def _stream(self) -> tuple[nn.Sequential, int]:
        convs, width = conv_stack(
            self.config.conv_channels, self.config.num_channels, kernel=self.config.kernel_size, dims=3
        )
        return nn.Sequential(convs, nn.AdaptiveAvgPool3d(1), nn.Flatten(1)), width

    def build_head(self) -> None:
        dropout, labels = self.config.classifier_dropout, self.config.num_labels
        self.short_classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.width, labels))
        self.long_classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.width, labels))

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any
    ) -> ImageClassifierOutput:
        if pixel_values.ndim != 5:
            raise MiexInputError(f"DTSCNN takes (batch, 2, time, H, W) flow sequences, got {tuple(pixel_values.shape)}")
        short, long = (resample_time(pixel_values, frames) for frames in self.config.temporal_scales)
        logits = (self.short_classifier(self.short_stream(short)) + self.long_classifier(self.long_stream(long))) / 2
        return self.classification_output(logits, labels)


def resample_time(sequence: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, C, T, H, W) -> (B, C, frames, H, W) by linear interpolation along time only."""
    if sequence.shape[2] == frames:
        return sequence
    return nn.functional.interpolate(sequence, size=(frames, *sequence.shape[3:]), mode="trilinear", align_corners=True)
