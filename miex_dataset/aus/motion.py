"""The FACS motion model: what every AU does to the face, as landmark motion per unit intensity.

One data file (:file:`facs_motion.json`, replaceable by the user) serves both directions of the AU chain:

- the warp generator renders it (AUs -> landmark targets -> warped face), and
- the geometric AU extractor inverts it (measured landmark motion -> AUs, a bounded least-squares fit).

So "AU12 at 3" means the same physical motion on both ends, and the number behind it is documented once
(docs/reference.md §Motion model). Shifts are in the face frame of :mod:`miex_dataset.faces.mesh` (IOD units) at
intensity 5 and scale linearly with intensity. AU45 is not a shift: lids close by occlusion (``eyelids``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MiexInputError
from .schema import AU_INDEX, AU_NAMES, NUM_AUS

MOTION_FORMAT = "miex.facs_motion.v2"
DEFAULT_MODEL_NAME = "facs_motion.json"


def default_model_dict() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath(DEFAULT_MODEL_NAME).read_text(encoding="utf-8"))


def read_model_file(path: str | PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / DEFAULT_MODEL_NAME
    if not path.is_file():
        raise MiexInputError("motion model file not found", file=path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise MiexInputError(f"motion model is not readable JSON ({error})", file=path) from error


@dataclass(frozen=True)
class CalibrationGains:
    """Per-AU factors that scale the FACS-shaped motion (``motion``) and appearance cues (``appearance``) so that
    an external AU judge reads the requested intensity (docs/reference.md §Motion model, calibration)."""

    motion: dict[str, float]
    appearance: dict[str, float]

    @classmethod
    def read(cls, section: Any, where: str) -> CalibrationGains:
        if not isinstance(section, dict):
            raise MiexInputError("'calibration' must be a table", file=where, field="calibration")
        tables = {}
        for kind in ("motion", "appearance"):
            table = section.get(f"{kind}_gain", {})
            if not isinstance(table, dict):
                raise MiexInputError(
                    f"calibration.{kind}_gain must map AU names to numbers",
                    file=where,
                    field=f"calibration.{kind}_gain",
                )
            for au, gain in table.items():
                if au not in AU_INDEX:
                    raise MiexInputError(f"unknown AU {au!r}", file=where, field=f"calibration.{kind}_gain")
                if isinstance(gain, bool) or not isinstance(gain, int | float) or not 0 < gain <= 10:
                    raise MiexInputError(
                        f"gain of {au} must be a number in (0, 10], got {gain!r}",
                        file=where,
                        field=f"calibration.{kind}_gain.{au}",
                    )
            tables[kind] = {au: float(gain) for au, gain in table.items()}
        return cls(**tables)


@dataclass(frozen=True)
class MotionModel:
    """Parsed motion model: ``basis[au, k]`` is the (x, y) shift of landmark ``control[k]`` at intensity 5."""

    raw: dict[str, Any] = field(repr=False)
    control: tuple[int, ...]
    basis: np.ndarray  # (17, K, 2) float64, IOD units
    mirror: dict[int, int] = field(repr=False)
    source: str = DEFAULT_MODEL_NAME
    gains: CalibrationGains = field(default_factory=lambda: CalibrationGains({}, {}), repr=False)  # read once

    @classmethod
    def load(cls, model: dict[str, Any] | str | PathLike[str] | None = None) -> MotionModel:
        """The default model, a dict with the same keys, or a JSON file (or a folder holding ``facs_motion.json``)."""
        if model is None:
            raw, source = default_model_dict(), DEFAULT_MODEL_NAME
        elif isinstance(model, dict):
            raw, source = model, "<dict>"
        else:
            raw, source = read_model_file(model), str(model)
        return cls.from_dict(raw, source=source)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "<dict>") -> MotionModel:
        where = source
        if not isinstance(raw.get("aus"), dict):
            raise MiexInputError("motion model has no 'aus' table", file=where, field="aus")
        gains = CalibrationGains.read(raw.get("calibration", {}), where)
        pairs = {int(a): int(b) for a, b in raw.get("mirror_pairs", [])}
        mirror = pairs | {b: a for a, b in pairs.items()}
        groups: list[tuple[int, list[int], np.ndarray]] = []
        for au, entries in raw["aus"].items():
            if au not in AU_INDEX:
                raise MiexInputError(f"unknown AU {au!r} in the motion model", file=where, field="aus")
            for number, entry in enumerate(entries):
                try:
                    shift = np.asarray(entry["shift"], dtype=np.float64).reshape(2)
                    landmarks = [int(i) for i in entry["landmarks"]]
                except (KeyError, TypeError, ValueError) as error:
                    reason = f"group {number} of {au} needs 'landmarks' (ints) and 'shift' [x, y] ({error})"
                    raise MiexInputError(reason, file=where, field=f"aus.{au}") from error
                if any(not 0 <= i < 478 for i in landmarks):
                    raise MiexInputError(f"group {number} of {au}: landmark outside 0..477", file=where, field=au)
                shift = shift * gains.motion.get(au, 1.0)
                groups.append((AU_INDEX[au], landmarks, shift))
                mirrored = [mirror[i] for i in landmarks if i in mirror]
                if entry.get("mirror") and mirrored:
                    groups.append((AU_INDEX[au], mirrored, shift * np.array([-1.0, 1.0])))
        anchors = {int(i) for i in raw.get("anchors", [])}
        control = tuple(sorted({i for _, landmarks, _ in groups for i in landmarks} | anchors))
        position = {landmark: k for k, landmark in enumerate(control)}
        basis = np.zeros((NUM_AUS, len(control), 2))
        for au, landmarks, shift in groups:
            for landmark in landmarks:
                basis[au, position[landmark]] += shift
        return cls(raw, control, basis, mirror, source, gains)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def eyelids(self) -> dict[str, Any]:
        return dict(self.raw.get("eyelids", {}).get("AU45", {}))

    @property
    def appearance(self) -> dict[str, dict[str, Any]]:
        """Appearance cues per AU, their ``strength`` times the calibration's appearance gain."""
        cues = {}
        for au, cue in self.raw.get("appearance", {}).items():
            gain = self.gains.appearance.get(au, 1.0)
            cues[au] = dict(cue) | ({"strength": float(cue["strength"]) * gain} if "strength" in cue else {})
        return cues

    @property
    def shading(self) -> dict[str, Any]:
        """How shadow is drawn: ``tint`` (per-channel weight of darkening) and ``folds`` (compression shading)."""
        return dict(self.raw.get("shading", {}))

    @property
    def mouth(self) -> dict[str, Any]:
        return dict(self.raw.get("mouth", {}))

    def couplings(self) -> dict[str, dict[str, str]]:
        """Declared anatomical couplings ``{driver AU: {coupled AU: why}}``: motion shared by design, not a leak."""
        return {au: dict(v) for au, v in self.raw.get("couplings", {}).items()}

    def coupled(self, driver: str, other: str) -> bool:
        return other in self.raw.get("couplings", {}).get(driver, {})

    def moving_aus(self) -> list[str]:
        """AUs with landmark motion, plus AU45 when the model closes lids."""
        names = [au for a, au in enumerate(AU_NAMES) if np.abs(self.basis[a]).max() > 0]
        return [*names, "AU45"] if self.eyelids and "AU45" not in names else names
