"""HTNet (Wang, Zhang, Luo & Sankaranarayana, Neurocomputing 2024, arXiv 2307.14637; docs/reference.md
§Recognizers): a hierarchical transformer over four facial areas of the 28x28 onset->apex flow image (u, v, optical
strain).

Input. ``pixel_values`` is (B, 3, 28, 28). With ``minmax_input`` each channel of each image is min-max scaled to
0..255 first (the authors normalise every flow channel per image to 0..255 before cropping; the step is idempotent, so
inputs already scaled pass unchanged). With ``use_regions`` four ``region_size`` crops centred on ``region_centers``
(left eye, right eye, left mouth corner, right mouth corner, as (x, y) pixels of the input) are tiled into one image:
top row left eye | right eye, bottom row left mouth corner | right mouth corner. A crop centred on (x, y) covers
rows ``y - region_size // 2`` to ``y - region_size // 2 + region_size - 1`` and the same columns around ``x``; centres
are clamped so every crop lies inside the image. The authors placed the crops on the five MTCNN landmarks of the apex
frame (the nose crop unused) but indexed the image as ``[x, y]``, i.e. with row and column of each landmark swapped;
miex crops at row = y, column = x, so its crops are the facial areas the paper describes.

Network (NesT-style). ``patch_size`` patches, flattened in (row in patch, column in patch, channel) order, are mapped
to ``dim`` channels by a 1x1 convolution. Level ``h`` runs from ``num_hierarchies - 1`` down to 0: the feature map is
cut into 2**h x 2**h blocks and a transformer attends only among the positions inside each block; width and heads
double from one level to the next (``dim * 2**i``, ``heads * 2**i``), and between levels a 3x3 conv to the next width,
a channel LayerNorm and a 3x3 stride-2 max-pool halve the map, so every block holds the same number of positions at
every level. Each transformer adds a learned per-position scalar to every channel, then ``block_repeats[i]`` pre-norm
residual layers of multi-head self-attention (1x1 conv projections, head width ``dim // heads``) and a 1x1-conv
feed-forward (``mlp_mult`` wider, GELU). Head: channel LayerNorm, global mean, linear classifier. Inside a level the
1x1 convolutions are held and applied as ``nn.Linear`` on each block's positions (the same map, several times faster
on the CPU) and its channel LayerNorms as ``nn.LayerNorm``.

Defaults are the authors' published run (28 px, patch 7, dim 256, 3 heads, 3 levels, (2, 2, 8) layers, MLP x4, no
dropout). At these sizes the 4x4 patch map makes every block a single position, so the default attention reduces to
its value/output projections; smaller patches (or fewer levels) give blocks of several positions. Weights start like
the authors' (PyTorch's default uniform init for convolutions and linears), norms at identity; the positional
scalars start at N(0, 0.02²) (the authors drew them from N(0, 1))."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import ImageClassifierOutput

from miex.core.errors import MiexInputError
from miex.train.models.base import InputSpec, MiexConfig, MiexPreTrainedModel
from miex.train.models.registry import register_model

CANONICAL_REGION_CENTERS = ((9, 11), (19, 11), (9, 20), (19, 20))
"""(x, y) centres in the 28 px flow image of the left eye, right eye, left and right mouth corners of miex's aligned
face: ``miex.data.faces.align.TEMPLATE`` puts those points at fractions (0.33, 0.40), (0.67, 0.40), (0.33, 0.70),
(0.67, 0.70) of the 128 px crop, i.e. at pixel index ``f * 128``; the bilinear resize to 28 px (half-pixel centres)
moves them to ``(f * 128 + 0.5) * 28 / 128 - 0.5`` = 8.85 / 18.37 (x) and 10.81 / 19.21 (y). An even crop starting at
``c - size // 2`` has its middle at ``c - 0.5``, so the nearest centre is ``round(f * 28 + 28 / 256)``: 9, 19, 11 and
20 (tests/test_htnet.py recomputes them from the template)."""


class HTNetConfig(MiexConfig):
    """Field names follow the authors' HTNet arguments (``channels`` is ``num_channels`` as in the other families)."""

    model_type = "miex-htnet"
    image_size: int = 28
    patch_size: int = 7
    num_channels: int = 3
    dim: int = 256
    heads: int = 3
    num_hierarchies: int = 3
    block_repeats: tuple[int, ...] | list[int] = (2, 2, 8)
    mlp_mult: int = 4
    dropout: float = 0.0
    use_regions: bool = True
    region_size: int = 14
    region_centers: tuple[tuple[int, int], ...] | list[list[int]] = CANONICAL_REGION_CENTERS
    """(x, y) pixel centres in the ``image_size`` input of the left eye, right eye, left and right mouth corner crops
    (the defaults suit the 28 px image of an aligned face)."""
    minmax_input: bool = True
    """Scale each channel of each image to 0..255 in ``forward`` (the authors' input normalisation)."""
    classifier_dropout: float = 0.0
    """The authors' head has no dropout."""

    def __post_init__(self, **kwargs: Any) -> None:
        self.block_repeats = list(self.block_repeats)
        self.region_centers = [list(centre) for centre in self.region_centers]
        self._validate()
        super().__post_init__(**kwargs)

    def _validate(self) -> None:
        def positive(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise MiexInputError(f"{name} must be a positive integer, got {value!r}", field=name)

        for name in ("image_size", "patch_size", "num_channels", "dim", "heads", "num_hierarchies", "mlp_mult"):
            positive(name)
        if self.image_size % self.patch_size:
            raise MiexInputError(
                f"image_size {self.image_size} is not divisible by patch_size {self.patch_size}", field="patch_size"
            )
        blocks = 2 ** (self.num_hierarchies - 1)
        if self.fmap_size % blocks:
            raise MiexInputError(
                f"the {self.fmap_size}x{self.fmap_size} patch map cannot be cut into {blocks}x{blocks} blocks "
                f"({self.num_hierarchies} hierarchies need a map side divisible by {blocks})",
                field="num_hierarchies",
            )
        if len(self.block_repeats) != self.num_hierarchies or any(
            isinstance(depth, bool) or not isinstance(depth, int) or depth < 1 for depth in self.block_repeats
        ):
            raise MiexInputError(
                f"block_repeats needs one positive layer count per hierarchy ({self.num_hierarchies}), "
                f"got {self.block_repeats}",
                field="block_repeats",
            )
        if self.heads > self.dim:
            raise MiexInputError(f"{self.heads} heads leave no width per head in dim {self.dim}", field="heads")
        if not 0.0 <= self.dropout < 1.0:
            raise MiexInputError(f"dropout must be in [0, 1), got {self.dropout}", field="dropout")
        positive("region_size")
        if self.use_regions and 2 * self.region_size != self.image_size:
            raise MiexInputError(
                f"four {self.region_size}px regions tile a {2 * self.region_size}px image, not image_size "
                f"{self.image_size}: region_size must be image_size / 2",
                field="region_size",
            )
        if len(self.region_centers) != 4 or any(
            len(centre) != 2 or any(isinstance(c, bool) or not isinstance(c, int) for c in centre)
            for centre in self.region_centers
        ):
            raise MiexInputError(
                "region_centers needs four integer (x, y) pixel centres (left eye, right eye, left mouth corner, "
                f"right mouth corner), got {self.region_centers}",
                field="region_centers",
            )

    @property
    def fmap_size(self) -> int:
        """Side of the patch map."""
        return self.image_size // self.patch_size

    @property
    def block_side(self) -> int:
        """Positions per block side, the same at every level."""
        return self.fmap_size // 2 ** (self.num_hierarchies - 1)

    @property
    def region_offsets(self) -> list[tuple[int, int]]:
        """(first row, first column) of each region crop, centres clamped so the crop stays inside the image."""
        half = self.region_size // 2
        low, high = half, self.image_size - self.region_size + half
        return [(min(max(y, low), high) - half, min(max(x, low), high) - half) for x, y in self.region_centers]

    def input_spec(self) -> InputSpec:
        return InputSpec(flow="uv_strain", flow_size=self.image_size)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map, separately at every position, with gain and bias."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = nn.functional.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps)
        return normed.permute(0, 3, 1, 2)


class BlockAttention(nn.Module):
    """Multi-head self-attention among the positions of each block, on tokens (N, positions, C). The q/k/v and
    output projections are the authors' 1x1 convolutions, applied as the equivalent per-position linear maps."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        inner = self.head_dim * heads
        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n, length, _ = tokens.shape
        # (N, S, 3 * heads * d) -> three (N, heads, S, d); feature index = head * d + feature within the head
        q, k, v = self.to_qkv(tokens).reshape(n, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        weights = torch.softmax((q @ k.transpose(-1, -2)) * self.head_dim**-0.5, dim=-1)
        mixed = (self.dropout(weights) @ v).transpose(1, 2).reshape(n, length, self.heads * self.head_dim)
        return self.dropout(self.to_out(mixed))


class FeedForward(nn.Sequential):
    """The authors' 1x1-conv feed-forward as per-position linears: dim -> dim * mult, GELU, dropout, back, dropout."""

    def __init__(self, dim: int, mult: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(dim, dim * mult), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim * mult, dim), nn.Dropout(dropout)
        )


class PreNormResidual(nn.Module):
    """``x + inner(norm(x))``; the LayerNorm normalises the channels of each position (the channel LayerNorm)."""

    def __init__(self, dim: int, inner: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.inner = inner

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens + self.inner(self.norm(tokens))


class LocalTransformer(nn.Module):
    """One hierarchy level: the (B, C, H, W) map is cut into ``blocks_per_side``² blocks of ``block_side``²
    positions and the same transformer runs on every block on its own (no attention across blocks).

    Inside, each block is a sequence of ``block_side``² tokens of C channels (row-major positions), so the 1x1
    convolutions are matrix products (several times faster than 1x1 ``Conv2d`` on the CPU, same result)."""

    def __init__(
        self, dim: int, heads: int, depth: int, blocks_per_side: int, block_side: int, mlp_mult: int, dropout: float
    ) -> None:
        super().__init__()
        self.blocks_per_side = blocks_per_side
        self.block_side = block_side
        self.position_embedding = nn.Parameter(torch.zeros(block_side * block_side))
        self.layers = nn.Sequential(
            *(
                module
                for _ in range(depth)
                for module in (
                    PreNormResidual(dim, BlockAttention(dim, heads, dropout)),
                    PreNormResidual(dim, FeedForward(dim, mlp_mult, dropout)),
                )
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, height, width = x.shape
        n, side = self.blocks_per_side, self.block_side
        if (height, width) != (n * side, n * side):
            raise MiexInputError(
                f"this level takes a {n * side}x{n * side} map ({n}x{n} blocks of {side}x{side}), got {height}x{width}",
                field="pixel_values",
            )
        # (B, C, n*side, n*side) -> (B * n * n blocks, side * side positions, C)
        tokens = x.reshape(b, c, n, side, n, side).permute(0, 2, 4, 3, 5, 1).reshape(b * n * n, side * side, c)
        tokens = self.layers(tokens + self.position_embedding[None, :, None])
        return tokens.reshape(b, n, n, side, side, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, height, width)


def minmax_scale(x: torch.Tensor) -> torch.Tensor:
    """Each channel of each (B, C, H, W) image linearly mapped to 0..255 (a constant channel becomes 0)."""
    low = x.amin(dim=(2, 3), keepdim=True)
    span = (x.amax(dim=(2, 3), keepdim=True) - low).clamp_min(torch.finfo(x.dtype).tiny)
    return (x - low) / span * 255.0


@register_model("htnet")
class HTNetForMicroExpression(MiexPreTrainedModel):
    config_class = HTNetConfig

    def __init__(self, config: HTNetConfig) -> None:
        super().__init__(config)
        levels = config.num_hierarchies
        widths = [config.dim * 2**i for i in range(levels)]
        self.patch_embedding = nn.Conv2d(config.num_channels * config.patch_size**2, widths[0], 1)
        self.levels = nn.ModuleList(
            LocalTransformer(
                widths[i],
                config.heads * 2**i,
                config.block_repeats[i],
                2 ** (levels - 1 - i),
                config.block_side,
                config.mlp_mult,
                config.dropout,
            )
            for i in range(levels)
        )
        self.aggregations = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(widths[i], widths[i + 1], 3, padding=1),
                ChannelLayerNorm(widths[i + 1]),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
            for i in range(levels - 1)
        )
        self.head_norm = ChannelLayerNorm(widths[-1])
        self.build_head()
        self.post_init()

    def build_head(self) -> None:
        self.classifier = nn.Linear(self.config.dim * 2 ** (self.config.num_hierarchies - 1), self.config.num_labels)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The authors' (PyTorch default) init for convs and linears, identity norms, small positional scalars."""
        if isinstance(module, nn.Conv2d | nn.Linear):
            init.kaiming_uniform_(module.weight, a=5**0.5)
            if module.bias is not None:
                fan_in = module.weight[0].numel()
                init.uniform_(module.bias, -(fan_in**-0.5), fan_in**-0.5)
        elif isinstance(module, ChannelLayerNorm | nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, LocalTransformer):
            init.normal_(module.position_embedding, std=0.02)
        else:
            super()._init_weights(module)

    def tile_regions(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """The four facial-area crops tiled 2x2 (eyes on top, mouth corners below); the image itself when
        ``use_regions`` is off."""
        if not self.config.use_regions:
            return pixel_values
        size = self.config.region_size
        crops = [pixel_values[:, :, row : row + size, col : col + size] for row, col in self.config.region_offsets]
        return torch.cat([torch.cat(crops[:2], dim=3), torch.cat(crops[2:], dim=3)], dim=2)

    def embed_patches(self, image: torch.Tensor) -> torch.Tensor:
        """(B, C, S, S) -> (B, dim, S / p, S / p): each p x p patch flattened and mapped by a 1x1 conv."""
        b, c, height, width = image.shape
        p = self.config.patch_size
        patches = image.reshape(b, c, height // p, p, width // p, p).permute(0, 3, 5, 1, 2, 4)
        return self.patch_embedding(patches.reshape(b, p * p * c, height // p, width // p))

    def forward(
        self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **kwargs: Any
    ) -> ImageClassifierOutput:
        config = self.config
        expected = (config.num_channels, config.image_size, config.image_size)
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != expected:
            raise MiexInputError(
                f"HTNet takes (batch, {', '.join(map(str, expected))}) flow images, got {tuple(pixel_values.shape)}",
                field="pixel_values",
            )
        x = minmax_scale(pixel_values) if config.minmax_input else pixel_values
        x = self.embed_patches(self.tile_regions(x))
        for i, level in enumerate(self.levels):
            x = level(x)
            if i < len(self.aggregations):
                x = self.aggregations[i](x)
        features = self.head_norm(x).mean(dim=(2, 3))
        features = nn.functional.dropout(features, config.classifier_dropout, self.training)
        return self.classification_output(self.classifier(features), labels)
