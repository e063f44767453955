"""STSTNet's chunked stem computes exactly the plain conv -> ReLU -> BatchNorm -> max-pool, values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from miex.train.models import create_model
from miex.train.models.fused_stem import ConvReluNormPool, MaskDropout


def plain(module: ConvReluNormPool, x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(module.norm(F.relu(module.conv(x))), 3, 3, 1)


def stems(dtype: torch.dtype) -> tuple[ConvReluNormPool, ConvReluNormPool]:
    torch.manual_seed(0)
    fused = ConvReluNormPool(3, 16, padding=2, pool=3, pool_padding=1).to(dtype)
    with torch.no_grad():  # a negative scale (the pool must take the minimum there) and non-zero shifts
        fused.norm.weight[[2, 9]] = torch.tensor([-0.7, -1.3], dtype=dtype)
        fused.norm.bias.uniform_(-1, 1)
    reference = ConvReluNormPool(3, 16, padding=2, pool=3, pool_padding=1).to(dtype)
    reference.load_state_dict(fused.state_dict())
    return fused, reference


@pytest.mark.parametrize("batch", [37, 16, 2])
def test_values_gradients_and_running_statistics_match_the_plain_modules(batch: int) -> None:
    fused, reference = stems(torch.float64)
    x = torch.rand(batch, 3, 28, 28, dtype=torch.float64) * 255
    ours, theirs = fused(x), plain(reference, x)
    assert torch.allclose(ours, theirs, rtol=0, atol=1e-9)
    weights = torch.randn_like(ours)
    grads = torch.autograd.grad((ours * weights).sum(), list(fused.parameters()))
    expected = torch.autograd.grad((theirs * weights).sum(), list(reference.parameters()))
    for got, want in zip(grads, expected, strict=True):
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-9 * float(want.abs().max()))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.allclose(getattr(fused.norm, name).double(), getattr(reference.norm, name).double())


def test_float32_gradients_are_as_close_to_the_exact_ones_as_the_plain_modules() -> None:
    fused, _ = stems(torch.float32)
    exact, _ = stems(torch.float64)
    x = torch.rand(40, 3, 28, 28) * 255
    weights = torch.randn(40, 16, 10, 10)
    ours = torch.autograd.grad((fused(x) * weights).sum(), list(fused.parameters()))
    truth = torch.autograd.grad((plain(exact, x.double()) * weights.double()).sum(), list(exact.parameters()))
    for got, want in zip(ours, truth, strict=True):
        assert float((got.double() - want).abs().max() / want.abs().max()) < 1e-5


def test_evaluation_uses_the_running_statistics_like_batchnorm() -> None:
    fused, reference = stems(torch.float32)
    x = torch.rand(8, 3, 28, 28) * 255
    fused(x), reference(x)  # one training step each updates the running statistics
    fused.eval(), reference.eval()
    assert torch.allclose(fused(x), plain(reference, x), atol=1e-4)


def test_ststnet_has_the_authors_parameter_count() -> None:
    model = create_model("ststnet")
    assert sum(p.numel() for p in model.parameters()) == 84 + 140 + 224 + 2 * 16 + 5 * 5 * 16 * 3 + 3  # authors' 1683


def test_mask_dropout_zeroes_p_of_the_values_and_keeps_the_mean() -> None:
    torch.manual_seed(0)
    drop = MaskDropout(0.5)
    x = torch.ones(200_000)
    y = drop(x)
    assert abs(float((y == 0).float().mean()) - 0.5) < 0.01 and abs(float(y.mean()) - 1.0) < 0.02
    assert set(torch.unique(y).tolist()) == {0.0, 2.0}
    drop.eval()
    assert torch.equal(drop(x), x)
