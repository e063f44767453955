"""GANimation's generator and critic networks (Pumarola et al., ECCV 2018), exactly as docs/reference.md §GANimation
describes; :class:`~.pipeline.GANimationGenerator` is the face generator that runs the first.

One native module covers both published checkpoint layouts: ``norm_affine`` / ``conv_bias`` select the official
(affine instance norm, bias-free convs) or the replicate variant (plain instance norm, convs with bias). Sub-module
indices follow the original ``nn.Sequential`` so that converting a checkpoint is a pure key rename
(:mod:`.checkpoints`). Width, residual blocks and critic depth are configurable so tests can train a narrow copy of
the SAME code on 32x32 images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

HUB_TAGS = ["miex", "ganimation", "micro-expression", "action-units", "image-to-image"]


class InstanceNorm(nn.InstanceNorm2d):
    """``nn.InstanceNorm2d`` (same parameters and keys) that keeps channels_last tensors channels_last.

    PyTorch's kernel converts NHWC to NCHW and back on every call, ~17% of GANimation's CPU inference time; the
    fallback is the stock kernel so training and NCHW outputs are exactly those of the original network."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
            return super().forward(x)
        pixels = x.permute(0, 2, 3, 1).flatten(1, 2)  # N x HW x C, a view: the reduction runs along memory
        mean = pixels.mean(dim=1, keepdim=True)  # plain sums vectorise along C; var_mean's Welford does not
        variance = (pixels.square().mean(dim=1, keepdim=True) - mean.square()).clamp_min_(0)
        scale = torch.rsqrt(variance + self.eps)
        if self.affine:
            scale = scale * self.weight
            shift = self.bias - mean * scale
        else:
            shift = -mean * scale
        return torch.addcmul(shift, pixels, scale).view(x.shape[0], *x.shape[2:], -1).permute(0, 3, 1, 2)


def _norm(channels: int, affine: bool) -> nn.InstanceNorm2d:
    # track_running_stats=False: instance norm always uses the statistics of the frame itself (as at training time)
    return InstanceNorm(channels, affine=affine, track_running_stats=False)


class ResidualBlock(nn.Module):
    """Two 3x3 convs at constant width with instance norm; ``block.0/1/3/4`` carry the weights."""

    def __init__(self, channels: int, *, norm_affine: bool, conv_bias: bool) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, bias=conv_bias),
            _norm(channels, norm_affine),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=conv_bias),
            _norm(channels, norm_affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class GANimationNetwork(nn.Module, PyTorchModelHubMixin, library_name="miex", tags=HUB_TAGS):
    """Image in [-1, 1] + AU conditioning in [0, 1] -> colour map ``C`` and attention mask ``A``.

    The animated frame is ``A * image + (1 - A) * C`` (A = 1 keeps the input pixel), see :meth:`animate`.
    """

    def __init__(
        self,
        num_aus: int = 17,
        width: int = 64,
        num_residual_blocks: int = 6,
        norm_affine: bool = True,
        conv_bias: bool = False,
        image_size: int = 128,
    ) -> None:
        super().__init__()
        self.num_aus = num_aus
        self.image_size = image_size
        self.architecture = {
            "num_aus": num_aus,
            "width": width,
            "num_residual_blocks": num_residual_blocks,
            "norm_affine": norm_affine,
            "conv_bias": conv_bias,
            "image_size": image_size,
        }
        layers: list[nn.Module] = [
            nn.Conv2d(3 + num_aus, width, 7, 1, 3, bias=conv_bias),
            _norm(width, norm_affine),
            nn.ReLU(inplace=True),
        ]
        channels = width
        for _ in range(2):
            layers += [
                nn.Conv2d(channels, channels * 2, 4, 2, 1, bias=conv_bias),
                _norm(channels * 2, norm_affine),
                nn.ReLU(inplace=True),
            ]
            channels *= 2
        layers += [
            ResidualBlock(channels, norm_affine=norm_affine, conv_bias=conv_bias) for _ in range(num_residual_blocks)
        ]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1, bias=conv_bias),
                _norm(channels // 2, norm_affine),
                nn.ReLU(inplace=True),
            ]
            channels //= 2
        self.trunk = nn.Sequential(*layers)
        # both published layouts have bias-free heads
        self.color_head = nn.Sequential(nn.Conv2d(channels, 3, 7, 1, 3, bias=False), nn.Tanh())
        self.attention_head = nn.Sequential(nn.Conv2d(channels, 1, 7, 1, 3, bias=False), nn.Sigmoid())

    def forward(self, images: torch.Tensor, conditioning: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``images`` N x 3 x H x W in [-1, 1]; ``conditioning`` N x num_aus in [0, 1] (AU / 5) -> (C, A)."""
        tiled = conditioning.to(images.dtype)[:, :, None, None].expand(-1, -1, *images.shape[-2:])
        features = self.trunk(torch.cat([images, tiled], dim=1))
        # both heads as ONE 4-channel conv: a 1- or 3-channel 7x7 conv runs at a fraction of the CPU's conv speed
        weight = torch.cat([self.color_head[0].weight, self.attention_head[0].weight]).to(features.dtype)
        heads = F.conv2d(features, weight, padding=3)
        return torch.tanh(heads[:, :3]), torch.sigmoid(heads[:, 3:])

    def animate(self, images: torch.Tensor, conditioning: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the animated frame in [-1, 1] and the attention mask."""
        return animate(self, images, conditioning)


class GANimationCriticNetwork(nn.Module, PyTorchModelHubMixin, library_name="miex", tags=HUB_TAGS):
    """WGAN critic with an AU-regression head: six 4x4 stride-2 convs, LeakyReLU 0.01, no normalisation."""

    def __init__(self, num_aus: int = 17, width: int = 64, num_layers: int = 6, image_size: int = 128) -> None:
        super().__init__()
        final = image_size // 2**num_layers
        if final < 1 or image_size % 2**num_layers:
            raise ValueError(f"image_size {image_size} must be a multiple of 2**num_layers = {2**num_layers}")
        layers: list[nn.Module] = []
        channels_in, channels = 3, width
        for _ in range(num_layers):
            layers += [nn.Conv2d(channels_in, channels, 4, 2, 1), nn.LeakyReLU(0.01, inplace=True)]
            channels_in, channels = channels, channels * 2
        self.trunk = nn.Sequential(*layers)
        self.realness_head = nn.Conv2d(channels_in, 1, 3, 1, 1, bias=False)
        self.au_head = nn.Conv2d(channels_in, num_aus, final, bias=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``images`` in [-1, 1] -> (critic map N x 1 x h x w, AU conditioning estimate N x num_aus)."""
        features = self.trunk(images)
        return self.realness_head(features), self.au_head(features).flatten(1)


def animate(
    generator: nn.Module, images: torch.Tensor, conditioning: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``A * images + (1 - A) * C`` through ``generator``'s forward, so DDP-wrapped models work too."""
    color, attention = generator(images, conditioning)
    return attention * images + (1 - attention) * color, attention


def count_parameters(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())
