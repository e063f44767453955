"""Branches (docs/reference.md §Recognizers, the authors' recognizer): ResNet-18 on the onset frame and another on the
apex frame, concatenated 512 + 512 features -> MLP 1024-128-32-C with ReLU and dropout 0.5."""

from __future__ import annotations

from typing import Any

import torch
from transformers.modeling_outputs import ImageClassifierOutput

from miex.train.models.base import InputSpec, MiexConfig, MiexPreTrainedModel, mlp_head
from miex.train.models.encoders import build_resnet, pooled, resnet_config, resnet_width
from miex.train.models.registry import register_model


class BranchesConfig(MiexConfig):
    """``encoder``: ResNet shape (ResNet-18 unless overridden); ``head_hidden``: the MLP's hidden sizes."""

    model_type = "miex-branches"
    encoder: dict[str, Any] | None = None
    head_hidden: tuple[int, ...] | list[int] = (128, 32)

    def __post_init__(self, **kwargs: Any) -> None:
        self.encoder = resnet_config(self.encoder)
        self.head_hidden = list(self.head_hidden)
        super().__post_init__(**kwargs)

    def input_spec(self) -> InputSpec:
        return InputSpec(frames=("onset", "apex"))


@register_model("branches")
class BranchesForMicroExpression(MiexPreTrainedModel):
    config_class = BranchesConfig
    main_input_name = "pixel_values_apex"
    resnet_modules = ("onset_encoder", "apex_encoder")

    def __init__(self, config: BranchesConfig) -> None:
        super().__init__(config)
        self.onset_encoder = build_resnet(config.encoder)
        self.apex_encoder = build_resnet(config.encoder)
        self.build_head()
        self.post_init()

    def build_head(self) -> None:
        width = 2 * resnet_width(self.config.encoder)
        self.classifier = mlp_head(
            width, self.config.head_hidden, self.config.num_labels, self.config.classifier_dropout
        )

    def forward(
        self,
        pixel_values_onset: torch.Tensor,
        pixel_values_apex: torch.Tensor,
        labels: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> ImageClassifierOutput:
        onset = pooled(self.onset_encoder, pixel_values_onset, checkpointed=self.checkpointed)
        apex = pooled(self.apex_encoder, pixel_values_apex, checkpointed=self.checkpointed)
        features = torch.cat([onset, apex], dim=1)
        return self.classification_output(self.classifier(features), labels)
