"""GANimation behind the :class:`~miex.data.generators.base.FaceGenerator` interface (fast batched inference):
:class:`GANimationGenerator` runs a :class:`~.model.GANimationNetwork`."""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any, Self

import torch

from miex.core.errors import MiexInputError
from miex.data.aus.schema import to_generator_scale
from miex.data.generators.base import FaceGenerator
from miex.data.generators.devices import resolve_device
from miex.data.generators.ganimation.checkpoints import PRETRAINED_FILES, load_generator_weights
from miex.data.generators.ganimation.model import GANimationNetwork


class GANimationGenerator(FaceGenerator):
    """Runs a trained generator network: inference mode, channels_last, bf16 autocast on CUDA, optional
    ``torch.compile``."""

    name = "ganimation"

    def __init__(
        self,
        network: GANimationNetwork,
        *,
        checkpoint: str | None = None,
        device: str | torch.device | None = None,
        batch_size: int | None = None,
        compile: bool = False,
        bf16: bool | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.network = network.eval().to(self.device, memory_format=torch.channels_last)
        self.image_size = network.image_size
        self.checkpoint = checkpoint
        self.batch_size = batch_size or (32 if self.device.type == "cuda" else 8)  # CPU: activations stay in cache
        self.bf16 = self.device.type == "cuda" if bf16 is None else bf16
        self.compiled = compile
        self._forward = torch.compile(self.network.animate) if compile else self.network.animate

    @classmethod
    def from_pretrained(
        cls, pretrained: str | PathLike[str] | None = None, *, revision: str | None = None, **kwargs: Any
    ) -> Self:
        """Load a ``save_pretrained`` folder, a Hub model repo ``ORG/NAME`` at ``revision`` (the folder
        :meth:`save_pretrained` or ``miex train-generator`` wrote, pushed), or an official/replicate ``.pth``."""
        if pretrained is None:
            raise MiexInputError(
                "the ganimation generator needs a checkpoint: a save_pretrained folder, a Hub model "
                "repo ORG/NAME or an original .pth (--checkpoint)",
                field="checkpoint",
            )
        from miex.data.hub import resolve_pretrained

        found = resolve_pretrained(pretrained, revision=revision, required=PRETRAINED_FILES, option="--checkpoint")
        generator = cls(load_generator_weights(found.path), checkpoint=found.source, **kwargs)
        generator.revision = found.revision
        return generator

    def save_pretrained(self, folder: str | PathLike[str]) -> Path:
        """The generator's ``config.json``, ``model.safetensors`` and model card (its Hub mixin's format)."""
        self.network.save_pretrained(folder)
        return Path(folder)

    @property
    def config(self) -> dict[str, Any]:
        settings = {
            "name": self.name,
            "checkpoint": self.checkpoint,
            "architecture": dict(self.network.architecture),
            "bf16": self.bf16,
            "compile": self.compiled,
        }
        return settings | ({"revision": self.revision} if self.revision else {})

    def _animate(self, faces: torch.Tensor, aus: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        del generator  # the network is deterministic
        outputs = []
        with torch.inference_mode(), torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
            for start in range(0, faces.shape[0], self.batch_size):
                chunk = faces[start : start + self.batch_size].to(self.device, memory_format=torch.channels_last)
                conditioning = to_generator_scale(aus[start : start + self.batch_size].to(self.device))
                frame, _ = self._forward(chunk * 2 - 1, conditioning)
                outputs.append(((frame.float() + 1) / 2).clamp_(0, 1).to(faces.device))
        return torch.cat(outputs).contiguous()
