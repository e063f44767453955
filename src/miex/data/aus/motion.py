"""The FACS motion model: what every AU does to the face, as landmark motion per unit intensity.

One data file (:file:`facs_motion.json`, replaceable by the user) serves both directions of the AU chain:

- the warp generator renders it (AUs -> landmark targets -> warped face), and
- the geometric AU extractor inverts it (measured landmark motion -> AUs, a bounded least-squares fit).

So "AU12 at 3" means the same physical motion on both ends, and the number behind it is documented once
(docs/reference.md §Motion model). Shifts are in the face frame of :mod:`miex.data.faces.mesh` (IOD units) at
intensity 5 and scale linearly with intensity. AU45 is not a shift: lids close by occlusion (``eyelids``).

Every key of the file is declared once, below (:class:`MotionSettings` and the sections it holds), with its type,
default and range; :meth:`MotionModel.load` checks a file against that declaration, so a wrong key or value is
reported with the file and the key's path before anything renders, and renderers read typed settings.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from dataclasses import MISSING, dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from miex.core.errors import MiexInputError
from miex.data.aus.schema import AU_INDEX, AU_NAMES, NUM_AUS

MOTION_FORMAT = "miex.facs_motion.v2"
DEFAULT_MODEL_NAME = "facs_motion.json"
LANDMARK_COUNT = 478
"""MediaPipe's face landmarks (468 mesh vertices and 10 iris points): the indices a model may name."""


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


def spec(
    *,
    doc: str,
    key: str | None = None,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    landmarks: bool = False,
) -> dict[str, Any]:
    """What a key of the motion model file means (``doc``), its bounds (``minimum`` and ``maximum`` inclusive,
    ``above`` exclusive; for lists, of every number), the allowed strings (``choices``), whether its integers are
    landmark indices, and its JSON ``key`` where that is not the field's name: a dataclass field's metadata."""
    return {
        "doc": doc,
        "key": key,
        "minimum": minimum,
        "above": above,
        "maximum": maximum,
        "choices": choices,
        "landmarks": landmarks,
    }


@dataclass(frozen=True, kw_only=True)
class MotionGroup:
    """Landmarks that move together by one shift."""

    landmarks: tuple[int, ...] = field(metadata=spec(doc="landmark indices that move", landmarks=True))
    shift: tuple[float, float] = field(metadata=spec(doc="their (x, y) shift at intensity 5 in the face frame, IOD"))
    mirror: bool = field(default=False, metadata=spec(doc="also move their partners in `mirror_pairs`, x negated"))


@dataclass(frozen=True, kw_only=True)
class CalibrationGains:
    """Per-AU factors that scale the FACS-shaped motion (``motion``) and appearance cues (``appearance``) so that
    an external AU judge reads the requested intensity (docs/reference.md §Motion model, calibration)."""

    description: str = field(default="", metadata=spec(doc="where the gains come from"))
    motion: dict[str, float] = field(
        default_factory=dict,
        metadata=spec(key="motion_gain", above=0, maximum=10, doc="per AU, factor on its shifts in `aus`"),
    )
    appearance: dict[str, float] = field(
        default_factory=dict,
        metadata=spec(
            key="appearance_gain", above=0, maximum=10, doc="per AU, factor on its appearance cue's `strength`"
        ),
    )


@dataclass(frozen=True, kw_only=True)
class LidClosing:
    """``eyelids.AU45``: a blink closes the eye by occlusion, the upper lid's skin sliding down over it."""

    closure_at_5: float = field(
        default=1.0, metadata=spec(minimum=0, maximum=1, doc="share of the lid opening covered at intensity 5")
    )
    skin_band: float = field(
        default=0.12, metadata=spec(above=0, doc="height of the upper lid's skin band that slides down, IOD")
    )
    lash_darkening: float = field(
        default=0.0, metadata=spec(minimum=0, maximum=1, doc="darkening of the closed lid's lash line")
    )
    lash_width: float = field(default=0.018, metadata=spec(above=0, doc="width of the lash line, IOD"))


@dataclass(frozen=True, kw_only=True)
class LidRaising:
    """``eyelids.AU05``: a raised lid uncovers the eye (the strip shows sclera and iris) instead of stretching it."""

    lash_shadow: float = field(
        default=0.2, metadata=spec(minimum=0, maximum=1, doc="darkening of the lashes' shadow on the eye")
    )
    lash_shadow_width: float = field(
        default=0.03, metadata=spec(above=0, doc="fall-off of that shadow below the lid, IOD")
    )
    shadow_band: float = field(
        default=0.04, metadata=spec(minimum=0, doc="lid margin (lashes and shadow) that rises with the lid, IOD")
    )


@dataclass(frozen=True, kw_only=True)
class EyelidSettings:
    """How lids are drawn where a smooth warp cannot: closing (AU45) and raising (AU05) by occlusion."""

    closing: LidClosing | None = field(
        default=None, metadata=spec(key="AU45", doc="blink settings; without them AU45 does nothing")
    )
    raising: LidRaising = field(default_factory=LidRaising, metadata=spec(key="AU05", doc="upper-lid raise settings"))


@dataclass(frozen=True, kw_only=True)
class MouthSettings:
    """The mouth opening, redrawn so that teeth move like teeth and the cavity shows where lips part."""

    open_gap: float = field(
        default=0.03, metadata=spec(above=0, doc="inner-lip gap from which a mouth counts as open, IOD")
    )
    edge: float = field(default=0.012, metadata=spec(above=0, doc="soft edge of the gap between the teeth rows, IOD"))
    cavity_colour: tuple[float, float, float] = field(
        default=(0.16, 0.06, 0.06), metadata=spec(minimum=0, maximum=1, doc="RGB of the cavity under the upper lip")
    )
    tongue_colour: tuple[float, float, float] | None = field(
        default=None,
        metadata=spec(
            minimum=0, maximum=1, doc="RGB towards the lower lip of a wide opening (default: the cavity colour)"
        ),
    )
    wide_opening: float = field(
        default=0.15, metadata=spec(above=0, doc="opening height at which the tongue colour shows fully, IOD")
    )
    teeth_colour: tuple[float, float, float] | None = field(
        default=None,
        metadata=spec(
            minimum=0,
            maximum=1,
            doc="RGB of the upper teeth a closed mouth shows once its lips part (default: none, cavity colour)",
        ),
    )


@dataclass(frozen=True, kw_only=True)
class FoldShading:
    """Shadow where the warp squeezes skin into a fold (the backward map's Jacobian determinant)."""

    strength: float = field(
        default=0.0, metadata=spec(minimum=0, maximum=1, doc="darkening at full squeeze (0: no fold shadow)")
    )
    above: float = field(
        default=1.3, metadata=spec(minimum=1, doc="squeeze (source area per output pixel) where shadow starts")
    )
    full: float = field(default=2.5, metadata=spec(minimum=1, doc="squeeze where shadow reaches `strength`"))

    def __post_init__(self) -> None:
        if self.full <= self.above:
            raise ValueError(f"'full' ({self.full:g}) must exceed 'above' ({self.above:g})")


@dataclass(frozen=True, kw_only=True)
class ShadingSettings:
    """How shadow is drawn: ``tint`` (per-channel weight of darkening) and ``folds`` (compression shading)."""

    tint: tuple[float, float, float] = field(
        default=(1.0, 1.0, 1.0),
        metadata=spec(minimum=0, doc="R, G, B weight of every darkening (skin in shadow turns warmer)"),
    )
    folds: FoldShading = field(default_factory=FoldShading, metadata=spec(doc="fold shadow"))


@dataclass(frozen=True, kw_only=True)
class BrowLines:
    """Horizontal forehead wrinkles along the arc of the brows (AU01 in the middle, AU02 at the sides)."""

    kind: ClassVar[str] = "brow_lines"
    strength: float = field(metadata=spec(minimum=0, doc="darkening at intensity 5"))
    brow: tuple[int, ...] = field(metadata=spec(doc="landmarks along both brows' upper edge", landmarks=True))
    centres: tuple[float, ...] = field(metadata=spec(doc="face-frame x of each window of wrinkles, IOD"))
    width: float = field(metadata=spec(above=0, doc="width of each window, IOD"))
    lines: int = field(metadata=spec(minimum=1, doc="wrinkles per window"))
    first: float = field(metadata=spec(minimum=0, doc="height of the first wrinkle above the brow, IOD"))
    spacing: float = field(metadata=spec(minimum=0, doc="distance between wrinkles, IOD"))


@dataclass(frozen=True, kw_only=True)
class Furrow:
    """Vertical furrows between landmark pairs (AU04's glabellar lines)."""

    kind: ClassVar[str] = "furrow"
    strength: float = field(metadata=spec(minimum=0, doc="darkening at intensity 5"))
    between: tuple[tuple[int, int], ...] = field(
        metadata=spec(doc="landmark pairs whose midpoint centres furrows", landmarks=True)
    )
    orientation: str = field(default="vertical", metadata=spec(choices=("vertical",), doc="direction of the furrows"))
    lines: int = field(metadata=spec(minimum=1, doc="furrows per pair"))
    length: float = field(metadata=spec(above=0, doc="length of a furrow, IOD"))
    spacing: float = field(metadata=spec(minimum=0, doc="distance between furrows, IOD"))


@dataclass(frozen=True, kw_only=True)
class CheekBulge:
    """Cheek bulk under the eye: declared with the cue, not drawn by the warp."""

    landmarks: tuple[int, ...] = field(metadata=spec(doc="landmarks of the bulge", landmarks=True))
    sigma: float = field(metadata=spec(above=0, doc="its radius, IOD"))
    strength: float = field(metadata=spec(minimum=0, doc="its strength"))


@dataclass(frozen=True, kw_only=True)
class CrowsFeet:
    """Fans of wrinkles at the outer eye corners (AU06)."""

    kind: ClassVar[str] = "crows_feet"
    strength: float = field(metadata=spec(minimum=0, doc="darkening at intensity 5"))
    at: tuple[int, ...] = field(metadata=spec(doc="eye-corner landmarks, the image-left one first", landmarks=True))
    lines: int = field(metadata=spec(minimum=1, doc="wrinkles per fan"))
    length: float = field(metadata=spec(above=0, doc="length of a wrinkle, IOD"))
    spread_degrees: float = field(metadata=spec(minimum=0, maximum=180, doc="opening angle of the fan"))
    bulge: CheekBulge | None = field(default=None, metadata=spec(doc="cheek bulk (not drawn)"))


@dataclass(frozen=True, kw_only=True)
class NoseWrinkle:
    """Horizontal wrinkles across the nose bridge (AU09)."""

    kind: ClassVar[str] = "nose_wrinkle"
    strength: float = field(metadata=spec(minimum=0, doc="darkening at intensity 5"))
    along: tuple[int, ...] = field(
        metadata=spec(doc="nose-bridge landmarks whose mean centres the wrinkles", landmarks=True)
    )
    lines: int = field(metadata=spec(minimum=1, doc="wrinkles"))
    length: float = field(metadata=spec(above=0, doc="length of a wrinkle, IOD"))
    spacing: float = field(metadata=spec(minimum=0, doc="distance between wrinkles, IOD"))


@dataclass(frozen=True, kw_only=True)
class Nasolabial:
    """The nasolabial fold from the nose wing past the lip corner (AU10, AU12)."""

    kind: ClassVar[str] = "nasolabial"
    strength: float = field(metadata=spec(minimum=0, doc="darkening at intensity 5"))
    start: tuple[int, ...] = field(
        metadata=spec(key="from", doc="landmark where each fold starts (nose wing)", landmarks=True)
    )
    end: tuple[int, ...] = field(metadata=spec(key="to", doc="landmark each fold passes (lip corner)", landmarks=True))
    width: float = field(metadata=spec(above=0, doc="width of the fold, IOD"))

    def __post_init__(self) -> None:
        if len(self.start) != len(self.end):
            raise ValueError("'from' and 'to' must name as many landmarks")


@dataclass(frozen=True, kw_only=True)
class Dimple:
    """Dimples beside the lip corners (AU14)."""

    kind: ClassVar[str] = "dimple"
    strength: float = field(metadata=spec(minimum=0, doc="darkening at intensity 5"))
    at: tuple[int, ...] = field(metadata=spec(doc="lip-corner landmarks, the image-left one first", landmarks=True))
    offset: float = field(metadata=spec(doc="distance of a dimple outward from its corner, IOD"))
    sigma: float = field(metadata=spec(above=0, doc="radius of a dimple, IOD"))


@dataclass(frozen=True, kw_only=True)
class ChinBoss:
    """Dimpling of the chin boss pushed up by the mentalis (AU17)."""

    kind: ClassVar[str] = "chin_boss"
    strength: float = field(metadata=spec(minimum=0, doc="darkening at intensity 5"))
    at: tuple[int, ...] = field(metadata=spec(doc="chin landmarks whose mean centres the dimpling", landmarks=True))
    sigma: float = field(metadata=spec(above=0, doc="radius of the chin boss, IOD"))
    dimples: int = field(metadata=spec(minimum=0, doc="pits in a ring on the boss (0: the mentolabial crease alone)"))


AppearanceCue = BrowLines | Furrow | CrowsFeet | NoseWrinkle | Nasolabial | Dimple | ChinBoss
"""An appearance cue; the ``kind`` key of its table picks the class."""
CUE_KINDS: dict[str, type[AppearanceCue]] = {cue.kind: cue for cue in typing.get_args(AppearanceCue)}


@dataclass(frozen=True, kw_only=True)
class MotionSettings:
    """The motion model file, every key declared. Tables keyed by name (``aus``, ``appearance``, ``couplings``, the
    gains) are keyed by AU."""

    format: str = field(default=MOTION_FORMAT, metadata=spec(choices=(MOTION_FORMAT,), doc="file format"))
    description: str = field(default="", metadata=spec(doc="what the model is"))
    version: int = field(default=2, metadata=spec(minimum=1, doc="the model's version"))
    anchors: tuple[int, ...] = field(
        default=(), metadata=spec(doc="landmarks that stay (they pin the spline)", landmarks=True)
    )
    mirror_pairs: tuple[tuple[int, int], ...] = field(
        default=(), metadata=spec(doc="left/right landmark partners", landmarks=True)
    )
    aus: dict[str, tuple[MotionGroup, ...]] = field(metadata=spec(doc="per AU, its groups of moving landmarks"))
    eyelids: EyelidSettings = field(default_factory=EyelidSettings, metadata=spec(doc="lid closing and raising"))
    mouth: MouthSettings | None = field(
        default=None, metadata=spec(doc="mouth redraw; without it the warp stretches the mouth")
    )
    couplings: dict[str, dict[str, str]] = field(
        default_factory=dict, metadata=spec(doc="per driver AU, the AUs it moves by anatomy, and why")
    )
    calibration: CalibrationGains = field(default_factory=CalibrationGains, metadata=spec(doc="per-AU gains"))
    appearance: dict[str, AppearanceCue] = field(default_factory=dict, metadata=spec(doc="per AU, its appearance cue"))
    shading: ShadingSettings = field(
        default_factory=ShadingSettings, metadata=spec(doc="shadow colour and fold shadow")
    )


def read_settings(raw: Any, where: str) -> MotionSettings:
    """``raw`` (a parsed motion model file) checked against :class:`MotionSettings`; a wrong key or value is a
    :class:`MiexInputError` naming ``where`` and the key's path."""
    return _read(raw, MotionSettings, where, "", {})


def _read(value: Any, kind: Any, where: str, path: str, meta: dict[str, Any]) -> Any:
    """``value`` read as the declared ``kind`` (a settings class, ``X | None``, a table keyed by AU, a list or a
    scalar); ``meta``: the declaring field's bounds, applied to every number inside."""

    def fail(reason: str) -> MiexInputError:
        return MiexInputError(reason, file=where, field=path or None)

    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind == AppearanceCue:
        if not isinstance(value, dict) or value.get("kind") not in CUE_KINDS:
            raise fail(f"an appearance cue needs a 'kind' of {', '.join(CUE_KINDS)}, got {value!r:.80}")
        return _read_table({k: v for k, v in value.items() if k != "kind"}, CUE_KINDS[value["kind"]], where, path)
    if origin is types.UnionType:  # X | None
        return None if value is None else _read(value, args[0], where, path, meta)
    if dataclasses.is_dataclass(kind):
        return _read_table(value, kind, where, path)
    if origin is dict:
        if not isinstance(value, dict):
            raise fail(f"must be a table keyed by AU, got {value!r:.80}")
        for name in value:
            if name not in AU_INDEX:
                raise fail(f"unknown AU {name!r}")
        return {name: _read(item, args[1], where, f"{path}.{name}", meta) for name, item in value.items()}
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise fail(f"must be a list, got {value!r:.80}")
        if args[-1] is not Ellipsis and len(value) != len(args):
            raise fail(f"must be a list of {len(args)}, got {len(value)}")
        elements = [args[0]] * len(value) if args[-1] is Ellipsis else list(args)
        return tuple(_read(item, element, where, path, meta) for item, element in zip(value, elements, strict=True))
    return _read_scalar(value, kind, meta, fail)


def _read_scalar(value: Any, kind: type, meta: dict[str, Any], fail: Any) -> Any:
    """A string, true/false, integer or number, within the field's choices or bounds (a bool is no number)."""
    if kind is bool or kind is str:
        if not isinstance(value, kind):
            raise fail(f"must be {'true or false' if kind is bool else 'a string'}, got {value!r:.80}")
        if meta.get("choices") and value not in meta["choices"]:
            raise fail(f"must be one of {', '.join(meta['choices'])}, got {value!r}")
        return value
    numeric = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, numeric):
        raise fail(f"must be {'an integer' if kind is int else 'a number'}, got {value!r:.80}")
    if meta.get("landmarks") and not 0 <= value < LANDMARK_COUNT:
        raise fail(f"landmark {value} outside 0..{LANDMARK_COUNT - 1}")
    low, floor, high = meta.get("minimum"), meta.get("above"), meta.get("maximum")
    too_low = (low is not None and value < low) or (floor is not None and value <= floor)
    if too_low or (high is not None and value > high):
        bounds = _range_text(meta)
        raise fail(f"must be {'in ' if bounds[0] in '[(' else ''}{bounds}, got {value!r}")
    return kind(value)


def _read_table(value: Any, kind: type, where: str, path: str) -> Any:
    """A settings class from its table: every key known, every required key present, the class's own checks."""
    if not isinstance(value, dict):
        raise MiexInputError(f"must be a table, got {value!r:.80}", file=where, field=path or None)
    fields = {_key(item): item for item in dataclasses.fields(kind)}
    unknown = [name for name in value if name not in fields]
    if unknown:
        known = ", ".join(fields)
        raise MiexInputError(f"unknown key {unknown[0]!r} (known: {known})", file=where, field=path or None)
    hints = typing.get_type_hints(kind)
    read = {}
    for name, item in fields.items():
        inner = f"{path}.{name}" if path else name
        if name in value:
            read[item.name] = _read(value[name], hints[item.name], where, inner, dict(item.metadata))
        elif item.default is MISSING and item.default_factory is MISSING:
            raise MiexInputError(f"missing key {name!r}", file=where, field=inner)
    try:
        return kind(**read)
    except ValueError as error:
        raise MiexInputError(str(error), file=where, field=path or None) from error


def _key(item: dataclasses.Field[Any]) -> str:
    return item.metadata.get("key") or item.name


def _range_text(meta: dict[str, Any]) -> str:
    """The bounds of a key as an interval (``[0, 1]``, ``(0, 10]``, ``≥ 1``, ``> 0``), or ``any``."""
    low, floor, high = meta.get("minimum"), meta.get("above"), meta.get("maximum")
    if meta.get("landmarks"):
        return f"[0, {LANDMARK_COUNT - 1}]"
    if high is not None:
        return f"{'[' if floor is None else '('}{low if floor is None else floor:g}, {high:g}]"
    if low is not None:
        return f"≥ {low:g}"
    return f"> {floor:g}" if floor is not None else "any"


def settings_markdown() -> str:
    """The motion model file's keys as a Markdown table (key, type, default, range, meaning): docs/reference.md
    §Motion model holds this table, and a test keeps it equal to the declaration."""
    rows = ["| key | type | default | range | meaning |", "|---|---|---|---|---|"]

    def walk(kind: type, prefix: str) -> None:
        hints = typing.get_type_hints(kind)
        for item in dataclasses.fields(kind):
            path, hint = f"{prefix}{_key(item)}", hints[item.name]
            tables = _tables(hint)
            if typing.get_args(hint)[-1:] == (AppearanceCue,):
                kinds = ", ".join(f"`{kind}`" for kind in CUE_KINDS)
                rows.append(f"| `{path}.<AU>.kind` | string | required | {kinds} | which cue; its keys follow |")
            for text, table in tables:
                walk(table, f"{path}{text}.")
            if tables:
                continue
            required = item.default is MISSING and item.default_factory is MISSING
            meta = dict(item.metadata)
            bounds = ", ".join(f"`{choice}`" for choice in meta["choices"]) or _range_text(meta)
            rows.append(
                f"| `{path}` | {_type_text(hint)} | {'required' if required else _shown(item)} | {bounds} "
                f"| {meta['doc']} |"
            )

    walk(MotionSettings, "")
    return "\n".join(rows)


def _tables(hint: Any) -> list[tuple[str, type]]:
    """The settings classes a key holds (nested tables), each with the path text between the key and its keys."""
    if hint == AppearanceCue:
        return [(f"[{cue.kind}]", cue) for cue in CUE_KINDS.values()]
    origin, args = typing.get_origin(hint), [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if origin is dict:
        return [(f".<AU>{text}", table) for text, table in _tables(args[1])]
    if origin is tuple and args[-1] is Ellipsis:
        return [(f"[]{text}", table) for text, table in _tables(args[0])]
    if origin is types.UnionType and len(args) == 1:
        return _tables(args[0])
    return [("", hint)] if isinstance(hint, type) and dataclasses.is_dataclass(hint) else []


def _shown(item: dataclasses.Field[Any]) -> str:
    value = item.default if item.default is not MISSING else item.default_factory()  # type: ignore[misc]
    return "none" if value is None else f"`{json.dumps(value)}`"


def _type_text(hint: Any, plural: bool = False) -> str:
    origin, args = typing.get_origin(hint), [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if origin is types.UnionType:
        return _type_text(args[0], plural)
    if origin is dict:
        return f"AU → {_type_text(args[1])}"
    if origin is tuple and args[-1] is Ellipsis:
        return f"list of {_type_text(args[0], plural=True)}"
    if origin is tuple:
        return f"{'lists' if plural else 'list'} of {len(args)} {_type_text(args[0], plural=True)}"
    name = {float: "number", int: "integer", str: "string", bool: "true/false"}[hint]
    return f"{name}s" if plural else name


@dataclass(frozen=True)
class MotionModel:
    """Parsed motion model: ``basis[au, k]`` is the (x, y) shift of landmark ``control[k]`` at intensity 5;
    ``settings`` is the whole file, checked and typed; ``raw`` the file as read (its digest names the model)."""

    raw: dict[str, Any] = field(repr=False)
    settings: MotionSettings = field(repr=False)
    control: tuple[int, ...]
    basis: np.ndarray  # (17, K, 2) float64, IOD units
    mirror: dict[int, int] = field(repr=False)
    source: str = DEFAULT_MODEL_NAME

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
        settings = read_settings(raw, source)
        gains = settings.calibration.motion
        mirror = dict(settings.mirror_pairs) | {b: a for a, b in settings.mirror_pairs}
        groups: list[tuple[int, tuple[int, ...], np.ndarray]] = []
        for au, entries in settings.aus.items():
            for entry in entries:
                shift = np.asarray(entry.shift, dtype=np.float64) * gains.get(au, 1.0)
                groups.append((AU_INDEX[au], entry.landmarks, shift))
                mirrored = tuple(mirror[i] for i in entry.landmarks if i in mirror)
                if entry.mirror and mirrored:
                    groups.append((AU_INDEX[au], mirrored, shift * np.array([-1.0, 1.0])))
        control = tuple(sorted({i for _, landmarks, _ in groups for i in landmarks} | set(settings.anchors)))
        position = {landmark: k for k, landmark in enumerate(control)}
        basis = np.zeros((NUM_AUS, len(control), 2))
        for au, landmarks, shift in groups:
            for landmark in landmarks:
                basis[au, position[landmark]] += shift
        return cls(raw, settings, control, basis, mirror, source)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.raw, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def eyelids(self) -> EyelidSettings:
        return self.settings.eyelids

    @property
    def mouth(self) -> MouthSettings | None:
        return self.settings.mouth

    @property
    def shading(self) -> ShadingSettings:
        return self.settings.shading

    @functools.cached_property
    def appearance(self) -> dict[str, AppearanceCue]:
        """Appearance cues per AU, their ``strength`` times the calibration's appearance gain."""
        gains = self.settings.calibration.appearance
        return {
            au: dataclasses.replace(cue, strength=cue.strength * gains.get(au, 1.0))
            for au, cue in self.settings.appearance.items()
        }

    def couplings(self) -> dict[str, dict[str, str]]:
        """Declared anatomical couplings ``{driver AU: {coupled AU: why}}``: motion shared by design, not a leak."""
        return {au: dict(coupled) for au, coupled in self.settings.couplings.items()}

    def coupled(self, driver: str, other: str) -> bool:
        return other in self.settings.couplings.get(driver, {})

    def moving_aus(self) -> list[str]:
        """AUs with landmark motion, plus AU45 when the model closes lids."""
        names = [au for a, au in enumerate(AU_NAMES) if np.abs(self.basis[a]).max() > 0]
        closes = self.eyelids.closing is not None
        return [*names, "AU45"] if closes and "AU45" not in names else names
