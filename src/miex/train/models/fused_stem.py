"""Convolution -> ReLU -> BatchNorm (batch statistics) -> non-overlapping max-pool, trained in cache-sized chunks.

STSTNet's stem is cheap in arithmetic but its full-resolution maps (batch 256 x 16 x 30 x 30, 15 MB) make every
elementwise pass of the plain composition a trip through main memory, and a LOSO run makes ~70,000 such steps. This
function computes the same values and gradients with the full-resolution map touched in small chunks only:

- BatchNorm is an affine map per channel, ``y = a x + b`` with ``a = gamma / sqrt(var + eps)``; a max over a window
  of ``a x + b`` is ``a max(x) + b`` where ``a >= 0`` and ``a min(x) + b`` where ``a < 0``. So the forward pass pools
  the ReLU output (max and min, with their positions) chunk by chunk while summing the per-channel moments, and only
  then applies the affine map to the pooled values.
- The backward pass walks the same chunks: the pooled gradient goes back to the chosen positions, the moments'
  gradient ``dmean / M + dvar 2 (r - mean) / M`` to every position, the ReLU's mask, then the convolution's weight
  and bias gradients accumulate. The input gets no gradient (it is data).

tests/test_ststnet_stem.py checks values, gradients and running statistics against the plain modules in float64.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

CHUNK = 16
"""Samples per chunk: 16 x 16 x 30 x 30 float32 is 0.9 MB, inside a core's L2 cache."""


class _TrainStem(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        gamma: torch.Tensor,
        beta: torch.Tensor,
        conv_padding: int,
        pool: int,
        pool_padding: int,
        eps: float,
        chunk: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # the sign of BatchNorm's scale is gamma's: pool the ReLU output times that sign, a max that is a min where
        # the scale is negative
        sign = torch.where(gamma >= 0, 1.0, -1.0).to(x.dtype).view(1, -1, 1, 1)
        flip = bool((gamma < 0).any())
        x = x.contiguous(memory_format=torch.channels_last)
        weight_cl = weight.contiguous(memory_format=torch.channels_last)
        relus, pooled, positions = [], [], []
        total = torch.zeros(weight.shape[0], dtype=torch.float64)
        squares = torch.zeros(weight.shape[0], dtype=torch.float64)
        for start in range(0, x.shape[0], chunk):
            relu = F.conv2d(x[start : start + chunk], weight_cl, bias, padding=conv_padding).clamp_min_(0)
            flat = relu.permute(0, 2, 3, 1).reshape(-1, relu.shape[1])  # channels last: a view, positions x channels
            total += flat.sum(dim=0).double()
            squares += torch.linalg.vecdot(flat.T, flat.T).double()
            extreme, where = F.max_pool2d(relu * sign if flip else relu, pool, pool, pool_padding, return_indices=True)
            relus.append(relu)
            pooled.append(extreme)
            positions.append(where)
        count = x.shape[0] * relus[0].shape[2] * relus[0].shape[3]
        mean = total / count
        var = (squares / count - mean.square()).clamp_min(0.0)
        scale = gamma.double() * (var + eps).rsqrt()
        shift = beta.double() - scale * mean
        chosen = torch.cat(pooled).contiguous()
        if flip:
            chosen.mul_(sign)
        out = torch.addcmul(shift.to(x.dtype).view(1, -1, 1, 1), chosen, scale.to(x.dtype).view(1, -1, 1, 1))
        ctx.save_for_backward(x, weight_cl, gamma)
        ctx.relus, ctx.chosen, ctx.positions = relus, chosen, positions
        ctx.stats = (mean, var, scale, count, eps)
        ctx.shape = (conv_padding, pool, pool_padding, chunk)
        return out, mean.to(x.dtype), var.to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor, _grad_mean: Any, _grad_var: Any) -> tuple[Any, ...]:
        x, weight, gamma = ctx.saved_tensors
        mean, var, scale, count, eps = ctx.stats
        conv_padding, pool, pool_padding, chunk = ctx.shape
        grad_out = grad_out.contiguous()
        grad_shift = grad_out.sum(dim=(0, 2, 3)).double()
        grad_scale = (grad_out * ctx.chosen).sum(dim=(0, 2, 3)).double()
        # out = scale * chosen + shift; shift = beta - scale * mean; scale = gamma * (var + eps)^(-1/2)
        through_scale = grad_scale - grad_shift * mean
        inv_std = (var + eps).rsqrt()
        grad_gamma = through_scale * inv_std
        grad_mean = -grad_shift * scale
        grad_var = through_scale * gamma.double() * -0.5 * inv_std**3
        # d relu at a pooled position is d chosen: the sign that turned a min into a max appears twice and cancels
        pooled_grad = grad_out * scale.to(grad_out.dtype).view(1, -1, 1, 1)
        to_mean = (grad_mean / count).to(x.dtype).view(1, -1, 1, 1)
        to_var = (2.0 * grad_var / count).to(x.dtype).view(1, -1, 1, 1)
        centre = mean.to(x.dtype).view(1, -1, 1, 1)
        grad_weight = torch.zeros_like(weight)
        grad_bias = torch.zeros(weight.shape[0], dtype=weight.dtype)
        for number, (relu, where) in enumerate(zip(ctx.relus, ctx.positions, strict=True)):
            rows = slice(number * chunk, number * chunk + relu.shape[0])
            grad_relu = torch.ops.aten.max_pool2d_with_indices_backward(
                pooled_grad[rows].contiguous(memory_format=torch.channels_last),
                relu,
                [pool, pool],
                [pool, pool],
                [pool_padding, pool_padding],
                [1, 1],
                False,
                where,
            )
            grad_relu.add_((relu - centre).mul_(to_var)).add_(to_mean)
            grad_relu = torch.ops.aten.threshold_backward(grad_relu, relu, 0.0)
            _, chunk_weight, chunk_bias = torch.ops.aten.convolution_backward(
                grad_relu,
                x[rows],
                weight,
                [weight.shape[0]],
                [1, 1],
                [conv_padding, conv_padding],
                [1, 1],
                False,
                [0, 0],
                1,
                [False, True, True],
            )
            grad_weight += chunk_weight
            grad_bias += chunk_bias
        ctx.relus = ctx.chosen = ctx.positions = None
        return (
            None,
            grad_weight.contiguous(),
            grad_bias,
            grad_gamma.to(gamma.dtype),
            grad_shift.to(gamma.dtype),
            None,
            None,
            None,
            None,
            None,
        )


class ConvReluNormPool(nn.Module):
    """``maxpool(BatchNorm(ReLU(conv(x))))`` with a ``kernel``-wide, ``kernel``-strided (non-overlapping) pool.

    Holds a plain ``conv`` and ``norm`` (their state_dict is the usual one); training mode runs the chunked function
    above and updates the running statistics as ``nn.BatchNorm2d`` does; evaluation runs the plain composition."""

    def __init__(self, in_channels: int, out_channels: int, *, padding: int, pool: int, pool_padding: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=padding)
        self.norm = nn.BatchNorm2d(out_channels)
        self.pool, self.pool_padding = pool, pool_padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = self.norm
        if not (self.training and norm.track_running_stats) or x.requires_grad or x.shape[0] < 2:
            return F.max_pool2d(norm(F.relu(self.conv(x))), self.pool, self.pool, self.pool_padding)
        conv = self.conv
        out, mean, var = _TrainStem.apply(
            x,
            conv.weight,
            conv.bias,
            norm.weight,
            norm.bias,
            conv.padding[0],
            self.pool,
            self.pool_padding,
            norm.eps,
            CHUNK,
        )
        with torch.no_grad():
            reach = 2 * self.conv.padding[0] - (self.conv.kernel_size[0] - 1)
            count = x.shape[0] * (x.shape[2] + reach) * (x.shape[3] + reach)
            norm.num_batches_tracked += 1
            norm.running_mean.lerp_(mean, norm.momentum)
            norm.running_var.lerp_(var * count / (count - 1), norm.momentum)
        return out


class MaskDropout(nn.Dropout):
    """``nn.Dropout`` whose mask comes from ``torch.rand`` (about twice as fast on a CPU as the Bernoulli sampler
    ``nn.Dropout`` uses); the same distribution, zeroing each element with probability ``p`` and scaling the rest
    by ``1 / (1 - p)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        keep = torch.rand(x.shape, dtype=x.dtype, device=x.device).ge_(self.p).mul_(1.0 / (1.0 - self.p))
        return x * keep
