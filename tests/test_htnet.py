"""HTNet: shapes, the four-region tiling, block-local attention, save/load, head swap, learning, config errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForImageClassification

from miex.core.errors import MiexInputError
from miex.data.faces.align import DEFAULT_SIZE, TEMPLATE
from miex.train.models import HTNetConfig, HTNetForMicroExpression, create_config, create_model, list_models
from miex.train.models.htnet import CANONICAL_REGION_CENTERS, LocalTransformer, minmax_scale

SMALL: dict[str, Any] = {"dim": 16, "block_repeats": [1, 1, 1]}


def small(**extra: Any) -> HTNetForMicroExpression:
    torch.manual_seed(0)
    return create_model("htnet", **{**SMALL, **extra})


def coordinate_image(size: int = 28) -> torch.Tensor:
    """(1, 3, size, size): channel 0 holds each pixel's row, channel 1 its column, channel 2 row * 100 + column."""
    rows, cols = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return torch.stack([rows, cols, rows * 100 + cols]).float()[None]


def test_registered_with_flow_input() -> None:
    assert "htnet" in list_models()
    config = create_config("htnet")
    assert isinstance(config, HTNetConfig) and config.model_type == "miex-htnet"
    spec = config.input_spec()
    assert (spec.flow, spec.flow_size) == ("uv_strain", 28)
    assert (config.dim, config.heads, config.num_hierarchies, config.block_repeats) == (256, 3, 3, [2, 2, 8])


def test_forward_shapes_default_and_small() -> None:
    x = torch.randn(2, 3, 28, 28)
    torch.manual_seed(0)
    model = create_model("htnet").eval()
    widths = [256, 512, 1024]
    assert [level.layers[0].norm.weight.numel() for level in model.levels] == widths
    assert [level.blocks_per_side for level in model.levels] == [4, 2, 1]
    assert [len(level.layers) // 2 for level in model.levels] == [2, 2, 8]
    with torch.no_grad():
        assert model(x).logits.shape == (2, 3)
    tiny = small()
    out = tiny(x, labels=torch.tensor([0, 2]))
    assert out.logits.shape == (2, 3) and out.loss is not None
    out.loss.backward()
    assert all(p.grad is not None for p in tiny.parameters())


def test_default_centres_come_from_the_alignment_template() -> None:
    # template fraction f of the 128 px crop -> 28 px pixel index (f*S + 0.5) * 28/S - 0.5; crop middle is c - 0.5
    derived = [
        tuple(math.floor((f * DEFAULT_SIZE + 0.5) * 28 / DEFAULT_SIZE + 0.5) for f in TEMPLATE[i]) for i in (0, 1, 3, 4)
    ]
    assert derived == list(CANONICAL_REGION_CENTERS)
    assert HTNetConfig().region_centers == [list(c) for c in CANONICAL_REGION_CENTERS]


def test_regions_are_cropped_at_row_y_column_x_and_tiled() -> None:
    centres = [[9, 20], [20, 9], [3, 12], [25, 30]]  # asymmetric, and the last two need clamping to [7, 21]
    model = small(region_centers=centres)
    image = coordinate_image()
    tiled = model.tile_regions(image)
    assert tiled.shape == (1, 3, 28, 28)
    clamped = [(min(max(x, 7), 21), min(max(y, 7), 21)) for x, y in centres]
    tiles = {0: tiled[0, :, :14, :14], 1: tiled[0, :, :14, 14:], 2: tiled[0, :, 14:, :14], 3: tiled[0, :, 14:, 14:]}
    for index, (x, y) in enumerate(clamped):
        tile = tiles[index]
        assert torch.equal(tile[0, :, 0], torch.arange(y - 7, y + 7).float()), index  # rows around y
        assert torch.equal(tile[1, 0, :], torch.arange(x - 7, x + 7).float()), index  # columns around x
        assert torch.equal(tile[2], image[0, 2, y - 7 : y + 7, x - 7 : x + 7])
    defaults = small().tile_regions(image)
    assert torch.equal(defaults[0, :, :14, :14], image[0, :, 4:18, 2:16])  # left eye (x 9, y 11)
    assert torch.equal(defaults[0, :, 14:, 14:], image[0, :, 13:27, 12:26])  # right mouth corner (x 19, y 20)
    assert torch.equal(small(use_regions=False).tile_regions(image), image)


def test_minmax_input_scaling() -> None:
    x = torch.randn(2, 3, 28, 28) * 3 + 1
    x[1, 2] = 4.0  # a constant channel
    scaled = minmax_scale(x)
    assert torch.allclose(scaled.amin(dim=(2, 3))[:, :2], torch.zeros(2, 2))
    assert torch.allclose(scaled.amax(dim=(2, 3))[:, :2], torch.full((2, 2), 255.0))
    assert torch.equal(scaled[1, 2], torch.zeros(28, 28))
    assert torch.allclose(minmax_scale(scaled), scaled, atol=1e-4)  # idempotent: pre-scaled inputs pass unchanged
    model = small().eval()
    with torch.no_grad():
        assert torch.allclose(model(x).logits, model(x * 7 - 3).logits, atol=1e-4)  # affine per channel: same input


def test_attention_is_local_to_each_block() -> None:
    torch.manual_seed(0)
    level = LocalTransformer(16, 2, 2, blocks_per_side=2, block_side=2, mlp_mult=2, dropout=0.0)
    torch.nn.init.normal_(level.position_embedding)
    x = torch.randn(1, 16, 4, 4)
    changed = x.clone()
    changed[:, :, 0, 0] = torch.randn(1, 16)  # top-left block (random: the pre-norm cancels a constant shift)
    with torch.no_grad():
        before, after = level(x), level(changed)
    same = torch.ones(4, 4, dtype=torch.bool)
    same[:2, :2] = False
    assert torch.equal(before[..., same], after[..., same])  # the three other blocks
    assert not torch.allclose(before[..., 1, 1], after[..., 1, 1])  # attention mixes within the block

    # the same through the whole model: level 0 of a 2-level HTNet has 2x2 blocks of 2x2 patches (14x14 pixels)
    model = small(num_hierarchies=2, block_repeats=[1, 1], use_regions=False, minmax_input=False).eval()
    assert model.levels[0].blocks_per_side == 2 and model.levels[0].block_side == 2
    outputs: list[torch.Tensor] = []
    model.levels[0].register_forward_hook(lambda module, args, output: outputs.append(output))
    image = torch.randn(1, 3, 28, 28)
    edited = image.clone()
    edited[:, :, 14:, :14] = torch.randn(1, 3, 14, 14)  # the bottom-left block's patches
    with torch.no_grad():
        model(image), model(edited)
    first, second = outputs
    assert torch.equal(first[..., :2, :], second[..., :2, :]) and torch.equal(first[..., 2:, 2:], second[..., 2:, 2:])
    assert not torch.allclose(first[..., 2:, :2], second[..., 2:, :2])


def test_save_and_auto_load_give_identical_logits(tmp_path: Path) -> None:
    model = small(num_labels=4).eval()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is HTNetForMicroExpression
    assert loaded.config.region_centers == model.config.region_centers
    x = torch.randn(3, 3, 28, 28)
    with torch.no_grad():
        assert torch.equal(loaded(x).logits, model(x).logits)


def test_reset_head_keeps_every_other_weight() -> None:
    model = small()
    before = {key: value.clone() for key, value in model.state_dict().items()}
    model.reset_head({i: f"class{i}" for i in range(5)})
    after = model.state_dict()
    assert after["classifier.weight"].shape == (5, 64)
    for key, value in before.items():
        if not key.startswith("classifier."):
            assert torch.equal(after[key], value), key
    assert model(torch.randn(2, 3, 28, 28)).logits.shape == (2, 5)


def test_init_norms_identity_and_small_positional_scalars() -> None:
    model = small()
    assert torch.equal(model.head_norm.weight, torch.ones(64)) and torch.equal(model.head_norm.bias, torch.zeros(64))
    positions = torch.cat([level.position_embedding for level in model.levels])
    assert 0 < positions.abs().max() < 0.2


def test_a_tiny_htnet_learns_which_eye_has_the_blob() -> None:
    torch.manual_seed(0)
    n = 128
    labels = torch.arange(n) % 2
    images = torch.randn(n, 3, 28, 28) * 0.3
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    for i in range(n):
        x = 9.0 if labels[i] == 0 else 19.0  # left or right eye region
        x, y = x + torch.randint(-2, 3, ()).item(), 11.0 + torch.randint(-2, 3, ()).item()
        images[i] += 2.0 * torch.exp(-((rows - y) ** 2 + (cols - x) ** 2) / 8.0)
    model = small()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(100):
        batch = torch.randint(0, n, (32,))
        loss = model(images[batch], labels=labels[batch]).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(images).logits.argmax(-1) == labels).float().mean().item()
    assert accuracy > 0.9


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"patch_size": 5}, "patch_size"),
        ({"num_hierarchies": 4, "block_repeats": [1, 1, 1, 1]}, "num_hierarchies"),
        ({"block_repeats": [2, 2]}, "block_repeats"),
        ({"block_repeats": [2, 0, 8]}, "block_repeats"),
        ({"region_centers": [[9, 11], [19, 11], [9, 20]]}, "region_centers"),
        ({"region_centers": [[9, 11], [19, 11], [9, 20], [19.5, 20]]}, "region_centers"),
        ({"region_size": 10}, "region_size"),
        ({"dim": 0}, "dim"),
        ({"heads": 300}, "heads"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_configs_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(MiexInputError) as error:
        HTNetConfig(**fields)
    assert error.value.field == field


def test_region_size_is_free_without_regions_and_bad_inputs_are_errors() -> None:
    assert HTNetConfig(use_regions=False, region_size=10).region_size == 10
    with pytest.raises(MiexInputError, match="flow images"):
        small()(torch.randn(2, 2, 28, 28))
