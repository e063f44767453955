"""The declared recipe schema: keys, types, defaults and constraints come from the dataclass fields (one declaration
each); every error names the file, the key path and, for a typo, the closest known key. Also the ``data.magnify``
option: parsed into :class:`miex.data.magnify.Magnification`, recorded in results.json, handed to the data layer.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pytest

from miex.core.errors import MiexInputError
from miex.data.magnify import Magnification
from miex.train.models.base import InputSpec
from miex.train.runner.recipe import apply_overrides, parse_recipe
from miex.train.runner.report import inputs_info
from miex.train.runner.schema import Reader, keys_of, setting
from miex.train.runner.specs import DataSpec, Recipe, TrainingSpec, frozen

run_module = importlib.import_module("miex.train.runner.run")  # the package exports a function of the same name

# --------------------------------------------------------------------------------------------------------------
# the generic reader, on sections declared here


@frozen
class Part:
    path: Path
    split: str = "train"


@frozen
class Section:
    size: int = setting(3, minimum=1)
    ratio: float = setting(0.5, minimum=0.0, maximum=1.0)
    mode: Literal["fast", "slow"] = "fast"
    flag: bool = False
    names: tuple[str, ...] | None = None
    width: int = setting(8, key="image.width", minimum=1)
    part: Part | None = setting(None, shorthand="path")
    parts: Mapping[str, Part] = setting(default_factory=dict, what="name -> part")
    note: str = setting("", hidden=True)

    def __post_init__(self) -> None:
        if self.mode == "fast" and self.width > 100:
            raise MiexInputError("fast mode reads at most 100 px", field="image.width")


def read(value: Any, **options: Any) -> Section:
    return Reader("/cfg/s.yaml").read(Section, value, "top", **options)


def test_keys_types_and_defaults_come_from_the_fields() -> None:
    assert keys_of(Section) == ["size", "ratio", "mode", "flag", "names", "image.width", "part", "parts"]
    assert read(None) == Section()
    parsed = read(
        {
            "size": 5,
            "ratio": 1,
            "mode": "slow",
            "names": "a",
            "image": {"width": 300},
            "part": "~/p",
            "parts": {"x": {"path": "q", "split": "test"}},
        }
    )
    assert (parsed.size, parsed.ratio, parsed.mode, parsed.names, parsed.width) == (5, 1.0, "slow", ("a",), 300)
    assert parsed.part == Part(path=Path("~/p").expanduser()) and parsed.parts == {
        "x": Part(path=Path("q"), split="test")
    }
    assert read({}, defaults={"size": 9, "note": "filled"}) == Section(size=9, note="filled")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"sise": 1},
            "field 'top.sise': unknown key 'sise' (did you mean 'size'?); known keys here: size, ratio, mode, "
            "flag, names, image, part, parts",
        ),
        ({"note": "x"}, "unknown key 'note'"),  # hidden: not a key
        (
            {"image": {"widht": 3}},
            "field 'top.image.widht': unknown key 'widht' (did you mean 'width'?); known keys here: width",
        ),
        ({"image": 3}, "field 'top.image': expected a mapping with keys ['width'], got int"),
        ({"size": 0}, "field 'top.size': must be >= 1, got 0"),
        ({"size": True}, "field 'top.size': expected an integer, got True"),
        ({"ratio": 2}, "field 'top.ratio': must be >= 0.0 and <= 1.0, got 2"),
        ({"ratio": "x"}, "field 'top.ratio': expected a number, got 'x'"),
        ({"mode": "fats"}, "field 'top.mode': 'fats' is not one of fast, slow (did you mean 'fast'?)"),
        ({"flag": "yes"}, "field 'top.flag': expected true or false, got 'yes'"),
        ({"names": ["a", "a"]}, "field 'top.names': names repeat in ['a', 'a']"),
        ({"part": 3}, "field 'top.part': expected a path or a mapping with keys ['path', 'split'], got int"),
        ({"part": {"split": "x"}}, "field 'top.part.path': missing path"),
        ({"parts": [1]}, "field 'top.parts': expected a mapping of name -> part"),
        ({"parts": {"x": {"pth": 1}}}, "field 'top.parts.x.pth': unknown key 'pth' (did you mean 'path'?)"),
        ({"image": {"width": 101}}, "field 'top.image.width': fast mode reads at most 100 px"),
        (
            [1],
            "field 'top': expected a mapping with keys ['size', 'ratio', 'mode', 'flag', 'names', 'image', 'part', "
            "'parts'], got list",
        ),
    ],
)
def test_errors_name_file_key_path_and_closest_key(value: Any, message: str) -> None:
    with pytest.raises(MiexInputError) as caught:
        read(value)
    assert str(caught.value).startswith("/cfg/s.yaml, field '") and message in str(caught.value), str(caught.value)


# --------------------------------------------------------------------------------------------------------------
# recipes

BASE: dict[str, Any] = {
    "model": {"name": "branches"},
    "data": {"real": {"clips": "c.parquet"}, "miex": "m"},
    "protocol": {"kind": "kfold", "k": 3},
    "stages": [{"name": "pre", "train": ["miex"]}, {"name": "fine", "train": ["real"]}],
}


def recipe(**changes: Any) -> Recipe:
    raw = apply_overrides(BASE, [f"{key}={json.dumps(value)}" for key, value in changes.items()])
    return parse_recipe(raw, file=Path("/r/exp.yaml"))


def test_recipe_keys_are_the_declared_fields() -> None:
    """A stage accepts name, train and exactly TrainingSpec's fields; a new field is a new key, nothing else to edit."""
    training = [f.name for f in dataclasses.fields(TrainingSpec)]
    with pytest.raises(MiexInputError, match=r"'stages\[1\].epoch'.*did you mean 'epochs'") as caught:
        recipe(**{"stages.1.epoch": 3})
    assert str(caught.value).endswith("known keys here: " + ", ".join(["name", "train", *training]))
    assert keys_of(Recipe) == [
        "name",
        "description",
        "reproduces",
        "model",
        "data",
        "protocol",
        "training",
        "stages",
        "seeds",
        "output",
    ]
    assert keys_of(DataSpec) == ["real", "miex", "extra", "image.resize", "image.crop_size", "flow.method", "magnify"]


def test_stage_training_defaults_to_the_recipes_training() -> None:
    parsed = recipe(**{"training": {"epochs": 2, "batch_size": 8, "num_workers": 0}, "stages.1.batch_size": 16})
    pre, fine = (stage.training for stage in parsed.stages)
    assert (pre.epochs, pre.batch_size, fine.epochs, fine.batch_size) == (2, 8, 2, 16)
    assert parsed.training == pre and fine.num_workers == 0 and fine.learning_rate == TrainingSpec().learning_rate
    assert parsed.name == "exp" and parsed.output.dir == Path("runs/exp") and parsed.source == Path("/r/exp.yaml")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"training": {"epochs": 0, "decay_epochs": 0}}, "field 'training': epochs + decay_epochs must be at least 1"),
        ({"stages.0.train": ["mixe"]}, "field 'stages[0].train': unknown data source 'mixe' (did you mean 'miex'?)"),
        (
            {"stages": [{"name": "x"}]},
            "field 'stages[0].train': missing the sources this stage trains on (some of ['real', 'miex'])",
        ),
        ({"protocol": {"kind": "loso", "k": 0}}, "field 'protocol.k': k applies to kind: kfold only"),
        ({"protocol": {"kind": "file"}}, "field 'protocol.file': missing path"),
        (
            {"protocol.kind": "kfld"},
            "field 'protocol.kind': 'kfld' is not one of kfold, loso, lodo, file (did you mean 'kfold'?)",
        ),
        (
            {"data.image": {"resize": 64, "crop_size": 96}},
            "field 'data.image.crop_size': crop_size 96 is larger than resize 64",
        ),
        ({"data.extra": {"real": {"clips": "x"}}}, "field 'data.extra.real': extra source names must be simple words"),
        (
            {"data.real.alignment": "nne"},
            "field 'data.real.alignment': 'nne' is not one of onset-similarity, "
            "precropped, none (did you mean 'none'?)",
        ),
        ({"data.real.alignment": {"size": 16}}, "field 'data.real.alignment.size': must be >= 32, got 16"),
        ({"seeds": [1, 1]}, "field 'seeds': expected a non-empty list of distinct integer seeds, got [1, 1]"),
        ({"output": {"dr": "o"}}, "field 'output.dr': unknown key 'dr' (did you mean 'dir'?)"),
        ({"reproduces": {"paper": "Table 1"}}, "field 'reproduces.row': missing the row or setting reproduced"),
        (
            {"data.magnify": {"alpa": 5}},
            "field 'data.magnify.alpa': unknown key 'alpa' (did you mean 'alpha'?); "
            "known keys here: alpha, levels, cutoff_wavelength, low_hz, high_hz",
        ),
        ({"data.magnify": {"alpha": -1}}, "field 'data.magnify.alpha': -1.0 must be a finite number"),
        ({"data.magnify": {"levels": 2.5}}, "field 'data.magnify.levels': expected an integer, got 2.5"),
        (
            {"data.magnify": {"low_hz": 3, "high_hz": 1}},
            "field 'data.magnify.high_hz': 1.0 must be a frequency in Hz above low_hz",
        ),
        (
            {"data.magnify": "on"},
            "field 'data.magnify': expected a mapping with keys ['alpha', 'levels', "
            "'cutoff_wavelength', 'low_hz', 'high_hz'], got str",
        ),
    ],
)
def test_recipe_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(MiexInputError) as caught:
        recipe(**changes)
    assert str(caught.value).startswith("/r/exp.yaml, field '") and message in str(caught.value), str(caught.value)


# --------------------------------------------------------------------------------------------------------------
# data.magnify


def test_magnify_is_off_by_default_parsed_and_recorded() -> None:
    off = recipe()
    frames = InputSpec(frames=("onset", "apex"))
    assert off.data.magnify is None and "magnify" not in inputs_info(off.data, frames)  # off: nothing to record
    on = recipe(**{"data.magnify": {"alpha": 20, "levels": 3}})
    assert on.data.magnify == Magnification(alpha=20.0, levels=3)
    recorded = inputs_info(on.data, frames)
    assert recorded["magnify"] == Magnification(alpha=20.0, levels=3).describe()
    assert recorded["magnify"]["alpha"] == 20.0 and (recorded["resize"], recorded["crop_size"]) == (256, 224)
    assert json.loads(json.dumps(recorded)) == recorded  # results.json can hold it
    assert recipe(**{"data.magnify": {}}).data.magnify == Magnification()  # an empty mapping: on, defaults


def test_the_model_card_says_whether_inputs_were_magnified() -> None:
    from miex.train.runner.card import _hyperparameters

    assert "Motion magnification: off" in _hyperparameters(recipe(), world=1)
    on = _hyperparameters(recipe(**{"data.magnify": {"alpha": 20, "levels": 3}}), world=1)
    assert "Motion magnification: on" in on and "α = 20, 3 levels" in on


def test_magnify_reaches_the_data_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    """``run.inputs`` hands the recipe's setting to ``with_model_inputs`` as ``magnify=`` (``None`` when off)."""
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(run_module, "with_model_inputs", lambda dataset, config, **kw: seen.append(kw) or dataset)
    model = types.SimpleNamespace(config=None)
    for parsed in (recipe(), recipe(**{"data.magnify": {"alpha": 4}})):
        plan = types.SimpleNamespace(recipe=parsed, flow_fn=None)
        run_module.inputs(plan, "rows", model, train=True, seed=5)
    assert seen[0]["magnify"] is None and seen[1]["magnify"] == Magnification(alpha=4.0)
    assert seen[1]["seed"] == 5 and seen[1]["resize"] == 256


def test_the_reference_lists_every_recipe_key_from_the_declaration() -> None:
    """docs/reference.md's recipe key table is the declaration's own (``keys_markdown(Recipe)``): a key added,
    renamed or given another default in specs.py changes the table, and the docs must follow."""
    from miex.train.runner.schema import key_rows, keys_markdown
    from miex.train.runner.specs import Recipe

    reference = (Path(__file__).resolve().parents[1] / "docs" / "reference.md").read_text(encoding="utf-8")
    assert keys_markdown(Recipe) in reference
    rows = {key: (takes, default) for key, takes, default in key_rows(Recipe)}
    assert rows["training.epochs"] == ("integer (>= 0)", "`10`") and rows["name"][1] == "required"
    assert rows["training.num_workers"][1] == "computed" and "stages[].<training key>" in rows
