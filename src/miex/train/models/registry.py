"""Name -> (config class, model class) registry, timm-style, plus the transformers Auto registration.

``register_model`` also registers the pair with ``AutoConfig`` and ``AutoModelForImageClassification``, so
``AutoModelForImageClassification.from_pretrained(folder)`` rebuilds any miex recognizer once
``miex.train.models`` is imported (transformers 5.23: ``AutoConfig.register`` + ``<Auto>.register``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, TypeVar

from transformers import AutoConfig, AutoModelForImageClassification

from miex.core.errors import MiexInputError
from miex.train.models.base import MiexConfig, MiexPreTrainedModel

_REGISTRY: dict[str, type[MiexPreTrainedModel]] = {}
Model = TypeVar("Model", bound=type[MiexPreTrainedModel])


def register_model(name: str) -> Callable[[Model], Model]:
    """Class decorator: expose a model family under ``name`` and in the Auto classes."""

    def decorate(model_class: Model) -> Model:
        config_class = model_class.config_class
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModelForImageClassification.register(config_class, model_class, exist_ok=True)
        _REGISTRY[name] = model_class
        return model_class

    return decorate


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_class(name: str) -> type[MiexPreTrainedModel]:
    """The model class registered as ``name``; an unknown name is an error listing the known ones."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise MiexInputError(f"unknown model {name!r}{hint}; known models: {', '.join(list_models())}", field="model")
    return _REGISTRY[name]


def config_class(name: str) -> type[MiexConfig]:
    return model_class(name).config_class


def create_config(name: str, **kwargs: Any) -> MiexConfig:
    return config_class(name)(**kwargs)


def create_model(name: str, *, backbone: str | None = None, **config_kwargs: Any) -> MiexPreTrainedModel:
    """A fresh model of family ``name``; ``backbone`` (local folder or cached Hub id of a transformers ResNet, e.g.
    ``microsoft/resnet-18``) initialises its ResNet encoders, else they are random (recorded as ``backbone_init``)."""
    cls = model_class(name)
    if backbone is None:
        return cls(cls.config_class(**config_kwargs))
    return cls.from_backbone(backbone, **config_kwargs)
