"""Face generators behind one interface (:class:`FaceGenerator`): GANimation and the training-free warp.

Every generator loads like a diffusers pipeline: ``load_generator(name, pretrained)`` is
``GeneratorClass.from_pretrained(pretrained)``, where ``pretrained`` is a ``save_pretrained`` folder, a Hub model repo
``ORG/NAME`` (pinned with ``revision=``) or a file in the generator's own format (GANimation: an original ``.pth``;
warp: a motion-model JSON), and None means the generator's built-in default (the warp's motion model; GANimation has
none). Modules load lazily, so importing the registry pulls in neither model nor torch.
"""

from __future__ import annotations

from os import PathLike
from typing import TYPE_CHECKING, Any

from miex.core import lazy
from miex.core.errors import MiexInputError

if TYPE_CHECKING:
    from miex.data.generators.base import FaceGenerator

GENERATORS: dict[str, str] = {
    "warp": "miex.data.generators.warp:WarpGenerator",
    "ganimation": "miex.data.generators.ganimation.pipeline:GANimationGenerator",
}
"""Registry: name -> ``module:class`` (resolved on use)."""


def generator_class(name: str) -> type[FaceGenerator]:
    """The registered class called ``name``."""
    if name not in GENERATORS:
        raise MiexInputError(f"unknown generator {name!r} (choose from {', '.join(GENERATORS)})", field="generator")
    return lazy.load(GENERATORS[name])


def load_generator(name: str, checkpoint: str | PathLike[str] | None = None, **kwargs: Any) -> FaceGenerator:
    """``GENERATORS[name].from_pretrained(checkpoint, **kwargs)``: a folder, Hub repo id, own-format file or None."""
    return generator_class(name).from_pretrained(checkpoint, **kwargs)


__getattr__, __dir__ = lazy.attach(  # the interface module imports torch: only when it is asked for
    __name__,
    {
        "FaceGenerator": ".base:FaceGenerator",
        "as_au_batch": ".base:as_au_batch",
        "as_face_batch": ".base:as_face_batch",
    },
)
__all__ = ["GENERATORS", "FaceGenerator", "as_au_batch", "as_face_batch", "generator_class", "load_generator"]
