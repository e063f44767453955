"""ApexME (Li, Huang & Zhao, ICIP 2018; docs/reference.md §Recognizers): one CNN on one image, the apex frame or the
onset->apex flow image (the MiE-X authors ran a ResNet-18 on the flow image). ``encoder_type`` picks ResNet (default) or
VGG-16."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import ImageClassifierOutput

from miex.core.errors import MiexInputError
from miex.train.models.base import InputSpec, MiexConfig, MiexPreTrainedModel
from miex.train.models.encoders import VGG, build_resnet, pooled, resnet_config, resnet_width, vgg_config
from miex.train.models.registry import register_model

INPUT_KINDS = ("apex", "flow")
ENCODER_TYPES = ("resnet", "vgg16")


class ApexMEConfig(MiexConfig):
    """``input_kind`` tells the data pipeline what ``pixel_values`` holds (``apex`` RGB frame or ``flow`` image)."""

    model_type = "miex-apexme"
    encoder_type: str = "resnet"
    encoder: dict[str, Any] | None = None
    input_kind: str = "apex"

    def __post_init__(self, **kwargs: Any) -> None:
        if self.encoder_type not in ENCODER_TYPES:
            raise MiexInputError(f"encoder_type must be one of {ENCODER_TYPES}, got {self.encoder_type!r}")
        if self.input_kind not in INPUT_KINDS:
            raise MiexInputError(f"input_kind must be one of {INPUT_KINDS}, got {self.input_kind!r}")
        self.encoder = (resnet_config if self.encoder_type == "resnet" else vgg_config)(self.encoder)
        super().__post_init__(**kwargs)

    def input_spec(self) -> InputSpec:
        return InputSpec(frames=("apex",)) if self.input_kind == "apex" else InputSpec(flow="uv_strain")


@register_model("apexme")
class ApexMEForMicroExpression(MiexPreTrainedModel):
    config_class = ApexMEConfig
    resnet_modules = ("encoder",)

    @classmethod
    def has_resnet(cls, config: MiexConfig) -> bool:
        return config.encoder_type == "resnet"

    def __init__(self, config: ApexMEConfig) -> None:
        super().__init__(config)
        if config.encoder_type == "resnet":
            self.encoder = build_resnet(config.encoder)
            self.feature_width = resnet_width(config.encoder)
        else:
            self.encoder = VGG(config.encoder)
            self.feature_width = self.encoder.width
        self.build_head()
        self.post_init()

    def build_head(self) -> None:
        self.classifier = nn.Sequential(
            nn.Dropout(self.config.classifier_dropout), nn.Linear(self.feature_width, self.config.num_labels)
        )

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any
    ) -> ImageClassifierOutput:
        features = (
            pooled(self.encoder, pixel_values, checkpointed=self.checkpointed)
            if self.config.encoder_type == "resnet"
            else self.encoder(pixel_values)
        )
        return self.classification_output(self.classifier(features), labels)
