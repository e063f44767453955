"""Activation checkpointing: the memory a CPU run needs, with exactly the training it would have had anyway."""

from __future__ import annotations

import copy

import pytest
import torch

from miex.train.models.encoders import build_resnet, pooled

SMALL = {
    "num_channels": 3,
    "embedding_size": 8,
    "hidden_sizes": [8, 16, 16, 16],
    "depths": [1, 1, 1, 1],
    "layer_type": "basic",
}


def saved_bytes(run) -> int:
    """Bytes autograd keeps for the backward pass while ``run()`` builds its graph."""
    total = 0

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return total


def test_checkpointed_features_train_exactly_like_plain_ones() -> None:
    torch.manual_seed(0)
    plain = build_resnet(SMALL).train()
    checkpointed = copy.deepcopy(plain)
    images = torch.randn(6, 3, 64, 64)
    first = pooled(plain, images).square().sum()
    second = pooled(checkpointed, images, checkpointed=True).square().sum()
    first.backward()
    second.backward()
    assert torch.equal(first, second)
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-6, rtol=1e-5), name
    for (name, a), (_, b) in zip(plain.named_buffers(), checkpointed.named_buffers(), strict=True):
        assert torch.equal(a, b), name  # running statistics moved once, not twice


def test_checkpointing_keeps_a_fraction_of_the_activations() -> None:
    model = build_resnet(SMALL).train()
    images = torch.randn(4, 3, 96, 96)
    full = saved_bytes(lambda: pooled(model, images))
    kept = saved_bytes(lambda: pooled(model, images, checkpointed=True))
    assert kept < full / 3, (kept, full)  # here the stage inputs, the image among them; ~1/10 at ResNet-18 size
    with torch.no_grad():  # evaluation never checkpoints (nothing to keep)
        assert torch.equal(pooled(model.eval(), images, checkpointed=True), pooled(model, images))


CPU_ONLY = not torch.cuda.is_available()


@pytest.mark.parametrize(("setting", "expected"), [("on", True), ("off", False), ("auto", CPU_ONLY)])
def test_auto_checkpoints_where_memory_binds(setting: str, expected: bool) -> None:
    from miex.train.runner.stages import checkpointing_on

    assert checkpointing_on(setting) is expected


@pytest.mark.parametrize("family", ["branches", "apexme"])
def test_the_recognizers_checkpoint_their_encoders_when_told(family: str) -> None:
    """The switch the runner sets reaches the ResNet encoders of both image recognizers, in training only."""
    from miex.train.models import create_model

    model = create_model(family, encoder=SMALL).train()
    images = torch.randn(2, 3, 96, 96)
    inputs = (
        {"pixel_values_onset": images, "pixel_values_apex": images}
        if family == "branches"
        else {"pixel_values": images}
    )
    plain = saved_bytes(lambda: model(**inputs))
    model.activation_checkpointing = True
    assert saved_bytes(lambda: model(**inputs)) < plain / 2
    assert not model.eval().checkpointed
