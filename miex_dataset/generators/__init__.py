"""Face generators behind one interface (:class:`FaceGenerator`): GANimation and the training-free warp.

``load_generator("warp")`` or ``load_generator("ganimation", checkpoint=DIR_OR_PTH)``; modules load lazily so that
importing the registry does not pull in either model.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import MiexInputError
from .base import FaceGenerator, as_au_batch, as_face_batch

GENERATORS: dict[str, str] = {
    "warp": "miex_dataset.generators.warp:WarpGenerator",
    "ganimation": "miex_dataset.generators.ganimation.pipeline:GANimationPipeline",
}
"""Registry: name -> ``module:class`` (resolved on use)."""


def load_generator(name: str, **kwargs: Any) -> FaceGenerator:
    """Build a registered generator; ``ganimation`` needs ``checkpoint=`` (a save_pretrained folder or a .pth)."""
    if name not in GENERATORS:
        raise MiexInputError(f"unknown generator {name!r} (choose from {', '.join(GENERATORS)})", field="generator")
    module, _, attribute = GENERATORS[name].partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    if name == "ganimation":
        checkpoint = kwargs.pop("checkpoint", None)
        if checkpoint is None:
            raise MiexInputError("the ganimation generator needs a checkpoint", field="checkpoint")
        return cls.from_checkpoint(checkpoint, **kwargs)
    return cls(**kwargs)


__all__ = ["GENERATORS", "FaceGenerator", "as_au_batch", "as_face_batch", "load_generator"]
