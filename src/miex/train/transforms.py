"""Image transforms in plain torch ops (no torchvision on these machines, docs/reference.md §Face pipeline).

Training (docs/reference.md §Recognizers): resize the shorter side to 256, random rotation within ±10°, colour jitter
0.2, random 224 crop. Evaluation is deterministic: resize + centre crop. The frames of one sample (onset and apex) get
the SAME random parameters, so augmentation never fakes motion between them. Randomness comes from the transform's own
seeded ``torch.Generator``: same seed and same call order -> same tensors. Inside a DataLoader worker the generator is
re-seeded from the transform's seed and the worker's seed (which the DataLoader draws anew each epoch from its own,
Trainer-seeded, generator), so workers and epochs differ while runs stay reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from miex.core.pixels import LUMA_WEIGHTS

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def to_tensor(image: Image.Image | np.ndarray) -> torch.Tensor:
    """PIL image or HxWxC uint8 array -> float (3, H, W) in [0, 1] (greyscale is repeated to RGB)."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return torch.from_numpy(np.array(array, copy=True)).permute(2, 0, 1).float().div_(255.0)


def resize_shorter(image: torch.Tensor, size: int) -> torch.Tensor:
    """(C, H, W) -> shorter side ``size``, aspect kept (torchvision ``Resize(int)`` semantics), antialiased."""
    height, width = image.shape[-2:]
    scale = size / min(height, width)
    target = (max(size, round(height * scale)), max(size, round(width * scale)))
    if target == (height, width):
        return image
    return torch.nn.functional.interpolate(
        image[None], size=target, mode="bilinear", align_corners=False, antialias=True
    )[0]


def crop(image: torch.Tensor, top: int, left: int, size: int) -> torch.Tensor:
    return image[..., top : top + size, left : left + size]


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    height, width = image.shape[-2:]
    return crop(image, (height - size) // 2, (width - size) // 2, size)


def rotate(image: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate (C, H, W) about its centre, bilinear, zero fill outside (torchvision ``RandomRotation`` defaults)."""
    if degrees == 0:
        return image
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    height, width = image.shape[-2:]
    aspect = width / height  # affine_grid works in normalised coordinates; keep the rotation rigid in pixels
    theta = torch.tensor([[cos, -sin / aspect, 0.0], [sin * aspect, cos, 0.0]], dtype=image.dtype)[None]
    grid = torch.nn.functional.affine_grid(theta, [1, *image.shape], align_corners=False)
    return torch.nn.functional.grid_sample(image[None], grid, mode="bilinear", align_corners=False)[0]


def grey(image: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor(LUMA_WEIGHTS, dtype=image.dtype).view(3, 1, 1)
    return (image * weights).sum(0, keepdim=True)


def jitter(image: torch.Tensor, brightness: float, contrast: float, saturation: float) -> torch.Tensor:
    """Colour jitter with given factors (1 = unchanged), applied in the fixed order brightness, contrast, saturation."""
    image = (image * brightness).clamp(0, 1)
    image = (image - grey(image).mean()).mul(contrast).add(grey(image).mean()).clamp(0, 1)
    return (grey(image) + (image - grey(image)) * saturation).clamp(0, 1)


@dataclass
class EvalTransform:
    """Deterministic: resize shorter side to ``resize``, centre crop ``crop_size``, normalise."""

    resize: int = 256
    crop_size: int = 224
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD

    def __call__(self, frames: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return [self.normalize(center_crop(resize_shorter(frame, self.resize), self.crop_size)) for frame in frames]

    def normalize(self, image: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=image.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=image.dtype).view(-1, 1, 1)
        return (image - mean) / std


@dataclass
class TrainTransform(EvalTransform):
    """Random rotation (±``degrees``), colour jitter (±``brightness``/``contrast``/``saturation``), random crop;
    one draw of parameters per call, shared by all frames of the sample."""

    degrees: float = 10.0
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    seed: int = 0
    generator: torch.Generator = field(init=False, repr=False)
    worker_seed: int | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.generator = torch.Generator().manual_seed(self.seed)

    def _sync_worker(self) -> None:
        info = torch.utils.data.get_worker_info()
        if info is not None and info.seed != self.worker_seed:
            self.worker_seed = info.seed
            self.generator = torch.Generator().manual_seed((self.seed * 1_000_003 + info.seed) % 2**63)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=self.generator))

    def __call__(self, frames: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        self._sync_worker()
        angle = self.uniform(-self.degrees, self.degrees)
        factors = [self.uniform(1 - s, 1 + s) for s in (self.brightness, self.contrast, self.saturation)]
        resized = [resize_shorter(frame, self.resize) for frame in frames]
        height, width = resized[0].shape[-2:]
        top = int(torch.randint(0, height - self.crop_size + 1, (), generator=self.generator))
        left = int(torch.randint(0, width - self.crop_size + 1, (), generator=self.generator))
        return [
            self.normalize(crop(jitter(rotate(frame, angle), *factors), top, left, self.crop_size)) for frame in resized
        ]
