"""results.json lists only the settings that applied to the run: no flow method for a model that saw no flow, no
image sizes for one that read flow images, no magnification when it was off, no DataLoader or precision settings
for the flow recognizers' in-memory loop."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
import yaml
from flow_fixtures import composite_clips, write_flat

from miex.core.errors import MiexInputError
from miex.data.corpora import READERS, clips_to_frame
from miex.data.corpora.clips import FLOW_IMAGES, write_clip_table
from miex.data.faces.flow import default_method
from miex.data.magnify import Magnification
from miex.train.api import train_recognizer
from miex.train.models import create_config
from miex.train.runner import run as run_recipe
from miex.train.runner.recipe import load_recipe, parse_recipe
from miex.train.runner.report import TENSOR_PATH_UNUSED, inputs_info, stage_info


def recipe(model: str, **data: object) -> object:
    raw = {
        "name": "r",
        "model": {"name": model, **({"config": {"input_kind": "flow"}} if model == "apexme" else {})},
        "data": {"real": {"clips": "c.parquet"}, **data},
        "protocol": {"kind": "loso"},
    }
    return parse_recipe(raw)


def spec_of(model: str, **config: object) -> object:
    return create_config(model, **config).input_spec()


def test_frame_models_record_image_sizes_and_no_flow() -> None:
    data = recipe("branches", flow={"method": "tvl1"}).data
    assert inputs_info(data, spec_of("branches")) == {"resize": 256, "crop_size": 224}


def test_flow_models_record_the_method_that_ran_and_their_input_size() -> None:
    data = recipe("apexme").data  # flow.method auto: the method it resolved to is recorded
    info = inputs_info(data, spec_of("apexme", input_kind="flow"), flow_images=True)
    assert info["flow_method"] == default_method() and info["flow_input_size"] == 224 and info["crop_size"] == 224
    assert "resize" not in info and "magnify" not in info
    ststnet = inputs_info(recipe("ststnet").data, spec_of("ststnet"), flow_images=True, flow_computed=False)
    assert set(ststnet) == {"flow_input_size", "representation"} and ststnet["flow_input_size"] == 28
    sequences = inputs_info(recipe("dtscnn", flow={"method": "farneback"}).data, spec_of("dtscnn"))
    assert sequences["flow_method"] == "farneback" and "resize" not in sequences


def test_magnification_is_recorded_only_when_on() -> None:
    on = recipe("dtscnn", magnify={"alpha": 3}).data
    assert inputs_info(on, spec_of("dtscnn"))["magnify"] == Magnification(alpha=3.0).describe()
    assert "magnify" not in inputs_info(recipe("dtscnn").data, spec_of("dtscnn"))


def test_stage_records_drop_what_their_training_loop_never_read() -> None:
    stage = recipe("branches").stages[0]
    trainer = stage_info(stage)
    assert {"num_workers", "precision", "activation_checkpointing", "eval_batch_size"} <= set(trainer)
    tensors = stage_info(stage, tensors=True)
    assert not set(TENSOR_PATH_UNUSED) & set(tensors) and tensors["effective_batch_size"] == 64
    no_resnet = stage_info(stage, resnet=False)
    assert "activation_checkpointing" not in no_resnet and "num_workers" in no_resnet


def test_a_flow_image_run_records_no_flow_method_sizes_or_loader_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIEX_FLOW_CACHE", str(tmp_path / "cache"))
    labels = write_flat(tmp_path / "release", composite_clips(per_subject=2))
    corpus = READERS["flow-images"](tmp_path / "release", labels=labels)
    flows = write_clip_table(clips_to_frame(corpus.clips), tmp_path / "flows.parquet", holds=FLOW_IMAGES)
    raw = {
        "name": "records",
        "model": {"name": "ststnet"},
        "data": {"real": {"clips": str(flows)}},
        "protocol": {"kind": "loso", "workers": 1, "max_folds": 1},
        "training": {"epochs": 1, "decay_epochs": 0, "batch_size": 4},
        "seeds": [0],
        "output": {"dir": str(tmp_path / "run"), "final_model": False},
    }
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(raw))
    payload = run_recipe(load_recipe(tmp_path / "recipe.yaml"), progress=False)
    assert set(payload["inputs"]) == {"flow_input_size", "representation"}  # flow images read, nothing computed
    (stage,) = payload["stages"]
    assert not set(TENSOR_PATH_UNUSED) & set(stage) and stage["batch_size"] == 4


def test_the_api_refuses_magnification_it_would_not_apply() -> None:
    """A flow recognizer reads flow images, which magnification never reaches: refused, as a recipe's is."""
    rows = datasets.Dataset.from_dict(
        {"label": [0]},
        features=datasets.Features({"label": datasets.ClassLabel(names=["negative", "positive", "surprise"])}),
    )
    with pytest.raises(MiexInputError, match="magnify is not applied to the flow images ststnet reads") as caught:
        train_recognizer(rows, model="ststnet", magnify=Magnification(alpha=2.0))
    assert caught.value.field == "magnify"
