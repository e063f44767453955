"""`train_recognizer`: a recognizer from `datasets.Dataset`s in the MiE-X and the real-clip schema, on the runner's
stage code; that stage code's optimizer and learning-rate schedule, step by step, against the formula the runner has
always used (and against transformers' warmup-stable-decay schedule).

Datasets are built here in the project's own features (:func:`miex.data.synthesis.schema.miex_features`,
:func:`miex.train.data.real_features`), 64² crops of 32 px frames; the Branches model is scaled down (ResNet widths 4,
one block per stage), so each training takes seconds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import f1_score, recall_score
from transformers import TrainerCallback
from transformers.optimization import get_wsd_schedule

from miex.core.errors import MiexInputError
from miex.core.schedule import stable_then_linear
from miex.data.magnify import Magnification
from miex.data.synthesis.schema import miex_features
from miex.train.api import TrainResult, train_recognizer
from miex.train.data import real_features, with_model_inputs
from miex.train.models import create_model
from miex.train.runner import stages
from miex.train.runner.specs import TrainingSpec

TINY = {"encoder": {"hidden_sizes": [4, 4, 4, 4], "depths": [1, 1, 1, 1], "embedding_size": 4}, "head_hidden": [8]}
FAST = {"epochs": 1, "decay_epochs": 2, "batch_size": 4, "resize": 72, "crop_size": 64, "num_workers": 0}


def face(rng: np.random.Generator, label: int, size: int = 32) -> Image.Image:
    """Noise with a bright band whose position is the class (learnable by a tiny model)."""
    pixels = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
    pixels[label * size // 3 : (label + 1) * size // 3] += 120
    return Image.fromarray(pixels)


def miex_rows(count: int, seed: int = 0) -> datasets.Dataset:
    """Rows in MiE-X's schema (every column synthesis writes)."""
    rng = np.random.default_rng(seed)
    labels = [i % 3 for i in range(count)]
    rows = {
        "onset": [face(rng, 0) for _ in labels],
        "apex": [face(rng, label) for label in labels],
        "label": labels,
        "source": [0] * count,
        "emotion": ["happiness"] * count,
        "onset_au": [[0.0] * 17] * count,
        "apex_au": [[1.0] * 17] * count,
        "identity": ["id0"] * count,
        "source_dataset": ["casme2"] * count,
        "source_subject": ["sub01"] * count,
        "source_clip": ["EP01"] * count,
        "generator": ["{}"] * count,
        "sample_id": [f"id0-mie-{i}" for i in range(count)],
        "seed": list(range(count)),
    }
    return datasets.Dataset.from_dict(rows, features=miex_features())


def real_rows(count: int, seed: int = 1) -> datasets.Dataset:
    """Rows in the schema of real clips read from a clip table (:func:`miex.train.data.real_dataset`)."""
    rng = np.random.default_rng(seed)
    labels = [(i + 1) % 3 for i in range(count)]
    rows = {
        "onset": [face(rng, 0) for _ in labels],
        "apex": [face(rng, label) for label in labels],
        "label": labels,
        "dataset": ["casme2"] * count,
        "subject": [f"sub{i % 2:02d}" for i in range(count)],
        "clip": [f"EP{i:02d}" for i in range(count)],
    }
    return datasets.Dataset.from_dict(rows, features=real_features())


def reference_factor(step: int, epochs: int, total_epochs: int, steps: int) -> float:
    """The runner's schedule written out plainly: 1 for the first ``epochs / total_epochs`` of the steps, then a
    straight line to 0."""
    stable = math.floor(steps * epochs / total_epochs)
    if step < stable or steps <= stable:
        return 1.0
    return max(0.0, (steps - step) / (steps - stable))


class RecordLR(TrainerCallback):
    """Stands in for the step bar: records the learning rate every optimizer step uses."""

    seen: ClassVar[list[float]] = []

    def __init__(self, label: str) -> None:
        RecordLR.seen = []

    def on_step_begin(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any) -> None:
        RecordLR.seen.append(optimizer.param_groups[0]["lr"])


# --------------------------------------------------------------------------------------------------------------
# train_recognizer


def test_miex_train_real_eval_scores_and_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """MiE-X rows train, real-clip rows are predicted and scored; every step's rate is the runner's schedule."""
    monkeypatch.setattr(stages, "StageProgress", RecordLR)
    train, test = miex_rows(10), real_rows(6)
    result = train_recognizer(train, test, model="branches", learning_rate=0.01, progress=True, **FAST, **TINY)
    assert isinstance(result, TrainResult) and result.label_names == ["negative", "positive", "surprise"]
    steps = (FAST["epochs"] + FAST["decay_epochs"]) * math.ceil(len(train) / FAST["batch_size"])
    assert len(RecordLR.seen) == steps
    total = FAST["epochs"] + FAST["decay_epochs"]
    assert RecordLR.seen == [0.01 * reference_factor(s, FAST["epochs"], total, steps) for s in range(steps)]
    truth = np.asarray(test["label"])
    assert result.predictions.shape == truth.shape and np.array_equal(result.predictions, result.logits.argmax(-1))
    assert result.scores["uf1"] == pytest.approx(f1_score(truth, result.predictions, average="macro"))
    assert result.scores["uar"] == pytest.approx(recall_score(truth, result.predictions, average="macro"))
    inputs = with_model_inputs(test, result.model.config, train=False, resize=72, crop_size=64)
    batch = {k: torch.stack([inputs[i][k] for i in range(len(test))]) for k in inputs[0] if k != "labels"}
    with torch.no_grad():
        logits = result.model(**batch).logits.numpy()
    np.testing.assert_allclose(logits, result.logits, rtol=1e-4, atol=1e-5)  # the returned model is the scored one
    torch.manual_seed(0)
    fresh = create_model("branches", id2label=dict(enumerate(result.label_names)), **TINY)
    assert not torch.equal(fresh.state_dict()["classifier.0.weight"], result.model.state_dict()["classifier.0.weight"])
    assert [h["epoch"] for h in result.history if "loss" in h] == [1.0, 2.0, 3.0]


def test_real_schema_trains_saves_repeats_and_magnifies(tmp_path: Path) -> None:
    """Real-clip rows alone; output_dir receives the model; the same seed gives the same weights, magnified inputs
    other weights."""
    first = train_recognizer(real_rows(8), output_dir=tmp_path / "model", seed=3, **FAST, **TINY)
    assert first.scores is None and first.predictions is None
    saved = (tmp_path / "model" / "config.json").read_text()
    assert '"2": "surprise"' in saved and (tmp_path / "model" / "model.safetensors").is_file()
    assert not (tmp_path / "model" / ".trainer").exists()
    again = train_recognizer(real_rows(8), seed=3, **FAST, **TINY)
    magnified = train_recognizer(real_rows(8), seed=3, magnify=Magnification(alpha=8.0, levels=2), **FAST, **TINY)
    weights = [model.state_dict() for model in (first.model, again.model, magnified.model)]
    assert all(torch.equal(tensor, weights[1][name]) for name, tensor in weights[0].items())
    assert not all(torch.equal(tensor, weights[2][name]) for name, tensor in weights[0].items())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"eval": "no-apex"}, r"field 'eval.apex': eval lacks column\(s\) \['apex'\]"),
        ({"eval": "int-label"}, r"field 'eval.label': eval: 'label' must be a ClassLabel column"),
        ({"eval": "other-classes"}, r"eval's classes \['a', 'b', 'c'\] differ from train's"),
        ({"head_hiden": [4]}, r"unknown branches option 'head_hiden' \(did you mean 'head_hidden'\?\)"),
        ({"model": "brnches"}, r"did you mean 'branches'"),
        ({"epochs": -1}, r"field 'epochs': must be >= 0, got -1"),
        ({"optimizer": "sgd"}, r"field 'optimizer': 'sgd' is not one of adam, adamw"),
        ({"crop_size": 300}, r"crop_size 300 must lie in 1..resize"),
        ({"absent": "ignore"}, r"absent must be one of exclude, zero"),
    ],
)
def test_bad_arguments_fail_before_training(
    change: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("miex.train.api.train_stage", lambda *a, **k: pytest.fail("training started"))
    test = real_rows(3)
    kind = change.pop("eval", None)
    if kind == "no-apex":
        test = test.remove_columns("apex")
    elif kind == "int-label":
        test = test.cast_column("label", datasets.Value("int64"))
    elif kind == "other-classes":
        test = test.cast_column("label", datasets.ClassLabel(names=["a", "b", "c"]))
    with pytest.raises(MiexInputError, match=message):
        train_recognizer(miex_rows(3), test, **{**FAST, **TINY, **change})


# --------------------------------------------------------------------------------------------------------------
# the stage code's optimizer and schedule


def stage_trainer(spec: TrainingSpec, tmp_path: Path) -> stages.StageTrainer:
    model = create_model("branches", **TINY)
    arguments = stages.training_arguments(spec, workdir=tmp_path, seed=0)
    choice = stages.optimizer_choice(model, spec)
    return stages.StageTrainer(model=model, args=arguments, optimizer_cls_and_kwargs=choice, stage=spec)


SETTINGS = [(10, 10, 40), (2, 3, 35), (1, 0, 5), (0, 3, 9), (3, 1, 7), (1, 2, 1), (7, 3, 1000)]


@pytest.mark.parametrize(("epochs", "decay_epochs", "steps"), SETTINGS)
def test_schedule_per_step_is_the_runners_formula(epochs: int, decay_epochs: int, steps: int, tmp_path: Path) -> None:
    spec = TrainingSpec(epochs=epochs, decay_epochs=decay_epochs, learning_rate=0.1, num_workers=0)
    trainer = stage_trainer(spec, tmp_path)
    trainer.create_optimizer_and_scheduler(num_training_steps=steps)
    rates = []
    for _ in range(steps):
        rates.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert rates == [0.1 * reference_factor(s, epochs, epochs + decay_epochs, steps) for s in range(steps)]
    stable = math.floor(steps * epochs / (epochs + decay_epochs))
    assert rates == [0.1 * stable_then_linear(s, stable=stable, total=steps) for s in range(steps)]  # GANimation's


@pytest.mark.parametrize(("total", "decay_start"), [(100, 60), (7, 7), (5, 9), (30, 0), (1, 0), (64, 63)])
def test_ganimation_schedule_is_the_shared_function(total: int, decay_start: int) -> None:
    """GANimation's schedule (1 until ``decay_start``, then a straight line to 0 at ``total``) is the shared function
    on every step it trains."""

    def ganimation_decay(step: int) -> float:
        return 1.0 if step < decay_start else max(0.0, (total - step) / max(1, total - decay_start))

    shared = [stable_then_linear(step, stable=decay_start, total=total) for step in range(total)]
    assert shared == [ganimation_decay(step) for step in range(total)]


def test_transformers_wsd_is_the_same_line_but_not_the_same_bits() -> None:
    """Why the schedule is not ``lr_scheduler_type="warmup_stable_decay"``: equal to ~1e-15, not bit for bit. If
    this starts failing on equality, transformers computes the same numbers and its scheduler can replace ours."""
    differ = 0
    for epochs, decay_epochs, steps in [(10, 10, 40), (2, 3, 35), (0, 3, 9), (3, 1, 700)]:
        stable = math.floor(steps * epochs / (epochs + decay_epochs))
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        wsd = get_wsd_schedule(
            optimizer,
            num_warmup_steps=0,
            num_stable_steps=stable,
            num_decay_steps=steps - stable,
            decay_type="linear",
            min_lr_ratio=0.0,
        ).lr_lambdas[0]
        for step in range(steps):
            ours = stable_then_linear(step, stable=stable, total=steps)
            assert wsd(step) == pytest.approx(ours, rel=1e-12, abs=1e-15)
            differ += wsd(step) != ours
    assert differ > 0


@pytest.mark.parametrize(("optimizer", "cls"), [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_optimizer_decays_every_parameter(optimizer: str, cls: type, tmp_path: Path) -> None:
    """One group, every trainable weight with the recipe's weight decay (the Trainer's default would exempt biases
    and norm weights)."""
    spec = TrainingSpec(optimizer=optimizer, weight_decay=0.003, learning_rate=0.02, num_workers=0)
    trainer = stage_trainer(spec, tmp_path)
    built = trainer.create_optimizer()
    assert type(built) is cls and len(built.param_groups) == 1
    group = built.param_groups[0]
    assert (group["weight_decay"], group["lr"]) == (0.003, 0.02)
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    assert len(group["params"]) == len(trainable)
    assert all(a is b for a, b in zip(group["params"], trainable, strict=True))
    assert any(name.endswith("bias") for name, _ in trainer.model.named_parameters())  # so the test means something
