"""Shared config/model base for every miex recognizer: label space, head, loss, weight init.

Each family (one module per family) subclasses :class:`MiexConfig` and :class:`MiexPreTrainedModel`, so the Trainer,
``save_pretrained`` and the Auto classes see ordinary transformers models (docs/reference.md §Hugging Face stack: a
plain ``nn.Module`` saves weights only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import ImageClassifierOutput

from miex.core.errors import MiexInputError
from miex.data.aus.schema import LABEL_NAMES
from miex.train.models.encoders import load_pretrained_resnet

RANDOM_INIT = "random"
"""``backbone_init`` value of an encoder that started from random weights (no ImageNet checkpoint given)."""


@dataclass(frozen=True)
class InputSpec:
    """What a family reads from a sample: RGB frames by column (``frames``), or a flow channel layout (``flow``, see
    :func:`miex.train.flow.flow_channels`) resized to ``flow_size`` (0: the pipeline's crop size), of the onset/apex
    pair or, with ``sequence``, of every consecutive pair of a frame sequence."""

    frames: tuple[str, ...] = ()
    flow: str = ""
    flow_size: int = 0
    sequence: int = 0
    """> 0: a frame sequence (``frames`` column, onset to apex) of this length, read as flow between consecutive
    frames, (flow channels, sequence - 1, H, W) — the video recognizers (DTSCNN)."""


class MiexConfig(PreTrainedConfig):
    """Common fields. Without ``id2label``/``num_labels`` the label space is MiE-X's 3 classes (LABEL_NAMES).

    ``backbone_init`` records where the encoder weights came from (``"random"`` or the checkpoint's path/Hub id);
    it is provenance for the model card, never re-read when the model is loaded.
    """

    backbone_init: str = RANDOM_INIT
    classifier_dropout: float = 0.5

    def __post_init__(self, **kwargs: Any) -> None:
        if self.id2label is None and kwargs.get("num_labels") is None:
            self.id2label = dict(enumerate(LABEL_NAMES))
        super().__post_init__(**kwargs)
        if self.label2id is None or len(self.label2id) != len(self.id2label):
            self.label2id = {name: index for index, name in self.id2label.items()}

    @property
    def label_names(self) -> list[str]:
        return [self.id2label[i] for i in range(self.num_labels)]

    def input_spec(self) -> InputSpec:
        """How :mod:`miex.train.data` builds this family's inputs; families without a pipeline say so."""
        raise MiexInputError(f"no data pipeline for {self.model_type!r}: build its inputs yourself", field="model")


def mlp_head(in_features: int, hidden: tuple[int, ...] | list[int], num_labels: int, dropout: float) -> nn.Sequential:
    """``in -> hidden... -> num_labels`` with ReLU and dropout between layers (the Branches MLP, docs/reference.md
    §Recognizers)."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        width = size
    layers.append(nn.Linear(width, num_labels))
    return nn.Sequential(*layers)


class MiexPreTrainedModel(PreTrainedModel):
    """Base model: subclasses build encoders plus the modules named in ``head_modules`` (built by ``build_head``).

    Keeping the head separate is what lets :func:`miex.train.models.load_for_finetuning` swap label spaces
    while keeping every encoder weight.
    """

    config: MiexConfig
    base_model_prefix = "miex"
    main_input_name = "pixel_values"
    head_modules: ClassVar[tuple[str, ...]] = ("classifier",)
    accepts_loss_kwargs = False
    """``forward`` takes ``**kwargs`` but returns a per-batch MEAN loss that ignores ``num_items_in_batch``; without
    this flag the Trainer would treat the loss as a token sum and multiply it by the number of processes (and skip
    the division by gradient-accumulation steps), scaling gradients and defeating gradient clipping."""
    resnet_modules: ClassVar[tuple[str, ...]] = ()
    """Attributes holding a transformers ``ResNetModel`` that ImageNet weights can initialise."""
    activation_checkpointing: bool = False
    """Recompute ResNet activations in the backward pass instead of keeping them (exact; set per training stage by
    ``training.activation_checkpointing``, see :func:`miex.train.models.encoders.pooled`)."""

    @classmethod
    def has_resnet(cls, config: MiexConfig) -> bool:
        """Whether models of this ``config`` hold ResNet encoders (ApexME with VGG-16 does not)."""
        return bool(cls.resnet_modules)

    @classmethod
    def from_backbone(cls, name_or_path: str, **config_kwargs: Any) -> MiexPreTrainedModel:
        """A new model whose ResNet encoders start from the checkpoint ``name_or_path`` (head random)."""
        if not cls.has_resnet(cls.config_class(**config_kwargs)):
            raise MiexInputError(
                f"this {cls.__name__} configuration has no ResNet encoder to initialise", field="backbone"
            )
        resnet, encoder = load_pretrained_resnet(name_or_path)
        model = cls(cls.config_class(**{**config_kwargs, "encoder": encoder, "backbone_init": str(name_or_path)}))
        for name in cls.resnet_modules:
            getattr(model, name).load_state_dict(resnet.state_dict())
        return model

    def build_head(self) -> None:  # pragma: no cover - every family overrides it
        raise NotImplementedError

    def reset_head(self, id2label: dict[int, str]) -> None:
        """New label space: rebuild the head modules with fresh weights; encoders are untouched."""
        self.config.id2label = dict(id2label)
        self.config.label2id = {name: index for index, name in self.config.id2label.items()}
        self.build_head()
        for name in self.head_modules:
            head = getattr(self, name).to(device=self.device, dtype=self.dtype)
            head.apply(self._init_weights)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Kaiming for convs, PyTorch's default for linears, identity BatchNorm (same rule as transformers' ResNet)."""
        if isinstance(module, nn.Conv2d | nn.Conv3d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight.shape[1]) if module.weight.shape[1] > 0 else 0
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm3d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
        else:
            super()._init_weights(module)

    @property
    def checkpointed(self) -> bool:
        """Whether this forward pass recomputes encoder activations (training with the option on)."""
        return self.activation_checkpointing and self.training

    def classification_output(self, logits: torch.Tensor, labels: torch.Tensor | None) -> ImageClassifierOutput:
        """Logits (+ cross-entropy when labels are given); labels outside the label space are an error, not NaN."""
        loss = None
        if labels is not None:
            check_labels(labels, self.config)
            loss = nn.functional.cross_entropy(logits, labels.long())
        return ImageClassifierOutput(loss=loss, logits=logits)


def check_labels(labels: torch.Tensor, config: MiexConfig) -> None:
    """A label outside ``[0, num_labels)`` means the data and the model disagree on the label space."""
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= config.num_labels):
        raise MiexInputError(
            f"label space mismatch: labels range {int(labels.min())}..{int(labels.max())} but the model has "
            f"{config.num_labels} classes {config.label_names}; use miex.train.models.load_for_finetuning(path, "
            "num_labels=...) to put a fresh head on a checkpoint, and drop unlabelled (-1) clips",
            field="labels",
        )
