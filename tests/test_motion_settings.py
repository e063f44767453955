"""The motion model file is checked against its one declaration (src/miex/data/aus/motion.py, ``MotionSettings``):
a wrong key or value is refused with the file and the key's path, missing keys take the declared defaults, and the
reference's table of keys is the declaration's."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from miex.core.errors import MiexInputError
from miex.data.aus.motion import (
    CUE_KINDS,
    LidRaising,
    MotionModel,
    MouthSettings,
    ShadingSettings,
    default_model_dict,
    settings_markdown,
)
from miex.data.generators.warp import WarpGenerator

ROOT = Path(__file__).resolve().parents[1]


def changed(path: str, value: Any) -> dict[str, Any]:
    """The built-in model with the key at dotted ``path`` set to ``value``."""
    model = copy.deepcopy(default_model_dict())
    *tables, last = path.split(".")
    table = model
    for name in tables:
        table = table.setdefault(name, {})
    table[last] = value
    return model


@pytest.mark.parametrize(
    ("path", "value", "field", "reason"),
    [
        ("mouth.open_gapp", 0.03, "mouth", "unknown key 'open_gapp'"),
        ("shading.folds.strenght", 0.3, "shading.folds", "unknown key 'strenght'"),
        ("appearance.AU06.bulge.sigmaa", 0.1, "appearance.AU06.bulge", "unknown key 'sigmaa'"),
        ("eyelids.AU46", {}, "eyelids", "unknown key 'AU46'"),
        ("mouth.open_gap", "0.03", "mouth.open_gap", "must be a number, got '0.03'"),
        ("mouth.cavity_colour", [0.1, 0.1], "mouth.cavity_colour", "must be a list of 3, got 2"),
        ("appearance.AU01.lines", 2.5, "appearance.AU01.lines", "must be an integer"),
        ("aus.AU12", {"landmarks": [61]}, "aus.AU12", "must be a list"),
        ("eyelids.AU45.closure_at_5", True, "eyelids.AU45.closure_at_5", "must be a number, got True"),
        ("mouth.open_gap", 0, "mouth.open_gap", "must be > 0, got 0"),
        ("eyelids.AU45.closure_at_5", 1.5, "eyelids.AU45.closure_at_5", "must be in [0, 1], got 1.5"),
        ("calibration.motion_gain.AU12", 11, "calibration.motion_gain.AU12", "must be in (0, 10], got 11"),
        ("appearance.AU14.at", [61, 478], "appearance.AU14.at", "landmark 478 outside 0..477"),
        ("shading.folds.full", 1.2, "shading.folds", "'full' (1.2) must exceed 'above' (1.3)"),
        ("appearance.AU04.kind", "frown", "appearance.AU04", "needs a 'kind' of brow_lines"),
        ("appearance.AU04.orientation", "diagonal", "appearance.AU04.orientation", "must be one of vertical"),
        ("appearance.AU99", {"kind": "dimple"}, "appearance", "unknown AU 'AU99'"),
        ("format", "miex.facs_motion.v1", "format", "must be one of miex.facs_motion.v2"),
    ],
)
def test_a_wrong_key_or_value_names_the_file_and_the_keys_path(
    tmp_path: Path, path: str, value: Any, field: str, reason: str
) -> None:
    file = tmp_path / "facs_motion.json"
    file.write_text(json.dumps(changed(path, value)))
    with pytest.raises(MiexInputError) as raised:
        WarpGenerator(file)
    assert raised.value.file == str(file) and raised.value.field == field
    assert reason in raised.value.reason


def test_a_missing_required_key_is_named() -> None:
    model = default_model_dict()
    del model["appearance"]["AU14"]["sigma"]
    with pytest.raises(MiexInputError, match="missing key 'sigma'") as raised:
        MotionModel.from_dict(model, source="mine.json")
    assert raised.value.field == "appearance.AU14.sigma" and raised.value.file == "mine.json"


def test_missing_sections_take_the_declared_defaults() -> None:
    """Keys a renderer reads default in the declaration, nowhere else: a model of motion alone renders with them."""
    motion = MotionModel.from_dict({"aus": {"AU12": [{"landmarks": [61], "shift": [-0.1, -0.1]}]}})
    assert motion.mouth is None and motion.eyelids.closing is None and motion.appearance == {}
    assert motion.eyelids.raising == LidRaising(lash_shadow=0.2, lash_shadow_width=0.03, shadow_band=0.04)
    assert motion.shading == ShadingSettings()
    assert motion.shading.folds.strength == 0.0 and motion.shading.tint == (1.0, 1.0, 1.0)
    assert motion.moving_aus() == ["AU12"]  # no blink settings: AU45 does nothing
    mouth = MotionModel.from_dict({"aus": {}, "mouth": {"open_gap": 0.05}}).mouth
    assert mouth == MouthSettings(open_gap=0.05) and mouth.tongue_colour is None


def test_the_built_in_model_reads_as_typed_settings() -> None:
    motion = MotionModel.load()
    assert motion.mouth is not None and motion.mouth.open_gap == 0.03
    assert motion.eyelids.closing is not None and motion.eyelids.closing.lash_darkening == 0.95
    assert {cue.kind for cue in motion.appearance.values()} <= set(CUE_KINDS)
    assert motion.appearance["AU04"].strength == pytest.approx(2.0 * motion.settings.appearance["AU04"].strength)


def test_the_reference_lists_every_declared_key() -> None:
    table = settings_markdown()
    assert table in (ROOT / "docs/reference.md").read_text(encoding="utf-8")
    keys = {line.split("`")[1] for line in table.splitlines()[2:]}
    assert {"mouth.open_gap", "eyelids.AU05.shadow_band", "shading.folds.full", "appearance.<AU>.kind"} <= keys
    assert {f"appearance.<AU>[{kind}].strength" for kind in CUE_KINDS} <= keys
