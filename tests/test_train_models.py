"""Every recognizer family at toy size: forward/backward, save -> Auto load -> same logits, head swaps, init."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoConfig, AutoModelForImageClassification, ResNetConfig, ResNetForImageClassification

from miex.core.errors import MiexInputError
from miex.train.models import RANDOM_INIT, create_model, list_models, load_for_finetuning

TINY_RESNET: dict[str, Any] = {"hidden_sizes": [8, 16, 16, 16], "embedding_size": 8}
TINY_VGG: dict[str, Any] = {"layers": [8, "M", 16, "M"], "pool_size": 2, "fc_sizes": [16]}

CASES: dict[str, tuple[dict[str, Any], dict[str, torch.Tensor]]] = {
    "branches": (
        {"encoder": TINY_RESNET, "head_hidden": [16, 8]},
        {"pixel_values_onset": torch.randn(2, 3, 32, 32), "pixel_values_apex": torch.randn(2, 3, 32, 32)},
    ),
    "apexme": ({"encoder": TINY_RESNET}, {"pixel_values": torch.randn(2, 3, 32, 32)}),
    "apexme-vgg": ({"encoder_type": "vgg16", "encoder": TINY_VGG}, {"pixel_values": torch.randn(2, 3, 32, 32)}),
    "dtscnn": (
        {"conv_channels": [4, 8], "temporal_scales": [4, 8]},
        {"pixel_values": torch.randn(2, 2, 9, 16, 16)},
    ),
    "ststnet": ({}, {"pixel_values": torch.randn(2, 3, 28, 28)}),
    "offapexnet": ({"fc_sizes": [16]}, {"pixel_values": torch.randn(2, 2, 28, 28)}),
    "htnet": ({"dim": 16, "block_repeats": [1, 1, 1]}, {"pixel_values": torch.randn(2, 3, 28, 28)}),
}


def build(case: str, **extra: Any) -> torch.nn.Module:
    config, _ = CASES[case]
    torch.manual_seed(0)
    return create_model(case.split("-")[0], **config, **extra)


def test_registry_lists_every_family() -> None:
    assert list_models() == ["apexme", "branches", "dtscnn", "htnet", "offapexnet", "ststnet"]
    with pytest.raises(MiexInputError, match="did you mean 'branches'"):
        create_model("branch")


@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_backward_and_auto_round_trip(case: str, tmp_path: Path) -> None:
    model = build(case)
    inputs = CASES[case][1]
    output = model(**inputs, labels=torch.tensor([0, 2]))
    assert output.logits.shape == (2, 3) and output.loss is not None
    output.loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    assert model.config.backbone_init == RANDOM_INIT

    model.eval()
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == model.config.model_type
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).logits, model(**inputs).logits)


def test_any_label_space() -> None:
    model = build("ststnet", id2label={0: "a", 1: "b", 2: "c", 3: "d", 4: "e"})
    assert model(**CASES["ststnet"][1]).logits.shape == (2, 5)
    assert build("offapexnet", num_labels=7).config.num_labels == 7


def test_label_outside_the_label_space_is_an_error() -> None:
    with pytest.raises(MiexInputError, match="label space mismatch"):
        build("ststnet")(**CASES["ststnet"][1], labels=torch.tensor([0, 3]))


@pytest.mark.parametrize("case", ["branches", "dtscnn", "apexme-vgg"])
def test_finetuning_on_new_labels_keeps_encoders(case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = build(case)
    model.save_pretrained(tmp_path)
    names = ["happiness", "disgust", "repression", "surprise", "others"]
    with caplog.at_level(logging.WARNING):
        tuned = load_for_finetuning(tmp_path, label_names=names)
    assert "head re-initialised" in caplog.text
    assert tuned.config.label_names == names and tuned.config.label2id["others"] == 4
    head = tuple(tuned.head_modules)
    before, after = model.state_dict(), tuned.state_dict()
    for key, value in before.items():
        if key.startswith(head):
            assert after[key].shape != value.shape or not torch.equal(after[key], value)
        else:
            assert torch.equal(after[key], value), key
    assert tuned(**CASES[case][1]).logits.shape == (2, 5)
    assert load_for_finetuning(tmp_path).config.label_names == ["negative", "positive", "surprise"]


def test_imagenet_initialisation_from_a_local_resnet(tmp_path: Path) -> None:
    torch.manual_seed(1)  # an ImageNet classifier checkpoint like microsoft/resnet-18, at toy size
    classifier = ResNetForImageClassification(ResNetConfig(layer_type="basic", depths=[1, 1, 1, 1], **TINY_RESNET))
    classifier.save_pretrained(tmp_path / "resnet")
    resnet = classifier.resnet
    model = create_model("branches", backbone=str(tmp_path / "resnet"))
    assert model.config.backbone_init == str(tmp_path / "resnet")
    assert model.config.encoder["depths"] == [1, 1, 1, 1]
    for encoder in (model.onset_encoder, model.apex_encoder):
        for key, value in resnet.state_dict().items():
            assert torch.equal(encoder.state_dict()[key], value)
    with pytest.raises(MiexInputError, match="cannot load ImageNet ResNet weights"):
        create_model("apexme", backbone=str(tmp_path / "missing"))
    with pytest.raises(MiexInputError, match="no ResNet encoder"):
        create_model("ststnet", backbone=str(tmp_path / "resnet"))
    with pytest.raises(MiexInputError, match="no ResNet encoder"):
        create_model("apexme", encoder_type="vgg16", backbone=str(tmp_path / "resnet"))


def test_bad_configs_are_errors() -> None:
    with pytest.raises(MiexInputError, match="unknown ResNet encoder keys"):
        create_model("branches", encoder={"width": 3})
    with pytest.raises(MiexInputError, match="encoder_type"):
        create_model("apexme", encoder_type="vgg19")
