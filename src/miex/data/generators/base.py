"""The one generator interface: aligned faces + AU vectors (0 to 5 scale) in, animated frames out.

Faces are float tensors ``N x 3 x H x W`` in [0, 1] (uint8 is accepted and converted), because every consumer
(GANimation, the warp, shard writers) works in float and [0, 1] is what torchvision-style code expects.
"""

from __future__ import annotations

import abc
import tempfile
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

from miex.core.errors import MiexInputError
from miex.data.aus.schema import NUM_AUS, validate_au_array


def as_face_batch(faces: torch.Tensor | np.ndarray, *, size: int | None = None) -> torch.Tensor:
    """Return faces as float ``N x 3 x H x W`` in [0, 1], or raise saying what is wrong with the batch."""
    tensor = torch.as_tensor(faces)
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4 or tensor.shape[1] != 3:
        raise MiexInputError(f"faces must be N x 3 x H x W RGB, got shape {tuple(tensor.shape)}", field="faces")
    if tensor.dtype == torch.uint8:
        tensor = tensor.float() / 255.0
    elif not tensor.is_floating_point():
        raise MiexInputError(f"faces must be float in [0, 1] or uint8, got {tensor.dtype}", field="faces")
    if size is not None and tuple(tensor.shape[-2:]) != (size, size):
        raise MiexInputError(
            f"faces must be {size} x {size} aligned crops, got {tuple(tensor.shape[-2:])}", field="faces"
        )
    if tensor.numel() and (tensor.min() < -1e-3 or tensor.max() > 1 + 1e-3):
        raise MiexInputError("float faces must lie in [0, 1] (divide uint8 pixels by 255)", field="faces")
    return tensor


def as_au_batch(aus: torch.Tensor | np.ndarray | Sequence[Sequence[float]], batch: int) -> torch.Tensor:
    """Validate ``N x 17`` AU intensities on the 0 to 5 scale (a single 17-vector is broadcast to the batch)."""
    values = aus.detach().cpu().numpy() if isinstance(aus, torch.Tensor) else aus
    try:
        array = validate_au_array(values, where="aus")
    except ValueError as error:
        raise MiexInputError(str(error), field="aus") from error
    if array.ndim == 1:
        array = np.broadcast_to(array, (batch, NUM_AUS))
    if array.ndim != 2 or array.shape[0] != batch:
        raise MiexInputError(f"expected {batch} AU vectors (one per face), got shape {array.shape}", field="aus")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


class FaceGenerator(abc.ABC):
    """Animate aligned faces to target AU intensities; same inputs and seed give the same frames.

    Loads and saves like a diffusers pipeline: :meth:`from_pretrained` takes a ``save_pretrained`` folder, a Hub
    model repo ``ORG/NAME`` (at ``revision``) or a file of the generator's own format; :meth:`push_to_hub` publishes
    one. A generator fetched from the Hub records the commit in :attr:`revision` (and so in :attr:`config`)."""

    name: str = "generator"
    revision: str | None = None
    """The Hub commit the generator's files came from (None: local or built-in files)."""

    @classmethod
    def from_pretrained(
        cls, pretrained: str | PathLike[str] | None = None, *, revision: str | None = None, **kwargs: Any
    ) -> Self:
        """A generator with no files of its own takes none (subclasses with files override this)."""
        if pretrained is not None or revision is not None:
            raise MiexInputError(f"the {cls.name} generator has no pretrained files to load", field="checkpoint")
        return cls(**kwargs)

    def save_pretrained(self, folder: str | PathLike[str]) -> Path:
        """Write what :meth:`from_pretrained` reads back into ``folder`` (created if needed); returns it."""
        raise NotImplementedError(f"the {self.name} generator has no files to save")

    def push_to_hub(self, repo_id: str, *, private: bool = False, token: str | None = None) -> str:
        """Publish :meth:`save_pretrained`'s folder as a model repo (see :func:`miex.data.hub.push_folder`)."""
        from miex.data.hub import push_folder

        with tempfile.TemporaryDirectory(prefix="miex-generator-") as folder:
            self.save_pretrained(folder)
            return push_folder(
                folder,
                repo_id,
                repo_type="model",
                private=private,
                token=token,
                commit_message=f"Upload the {self.name} generator with miex",
            )

    @property
    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """JSON-able settings that synthesis stores with every sample, so a frame can be reproduced."""

    @abc.abstractmethod
    def _animate(self, faces: torch.Tensor, aus: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Validated float faces in [0, 1] and ``N x 17`` AUs (0 to 5) on the faces' device -> frames in [0, 1]."""

    image_size: int | None = None
    """Square size the generator requires (GANimation: 128); None accepts any size."""
    needs_landmarks: bool = False
    """True when ``__call__`` wants ``landmarks=`` (N x 478 x 2 pixels); synthesis measures them once per face."""

    def __call__(
        self,
        faces: torch.Tensor | np.ndarray,
        aus: torch.Tensor | np.ndarray | Sequence[Sequence[float]],
        *,
        seed: int | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Animate ``faces`` (``N x 3 x H x W``, [0, 1] float or uint8) to ``aus`` (``N x 17``, 0 to 5)."""
        batch = as_face_batch(faces, size=self.image_size)
        targets = as_au_batch(aus, batch.shape[0]).to(batch.device)
        generator = None
        if seed is not None:
            generator = torch.Generator(device=batch.device).manual_seed(seed)
        return self._animate(batch, targets, generator, **kwargs)
