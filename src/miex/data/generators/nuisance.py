"""Recording nuisance between onset and apex: what a camera adds to two frames of one still face
(docs/reference.md §Nuisance between onset and apex).

A generator renders the onset and the apex from one photo, so everything away from the moving features is exactly
equal in the two frames and their optical flow there is exactly zero. Two frames of a real recording, 0.1-0.5 s
apart, differ over the whole face: the head drifts a little, the light changes, the focus and motion blur differ, and
each frame carries its own sensor noise. :class:`Nuisance` holds the size of each of these (every magnitude zero:
off), and :func:`apply_nuisance_pair` applies them to a rendered pair:

- the apex gets the relative changes: a small similarity transform (head motion), a global gain and offset and a
  planar gain gradient (illumination), then its own blur and sensor noise;
- the onset gets its own, independent blur and sensor noise (the changes are relative, so the onset keeps its pose and
  light).

Every draw comes from the ``rng`` given, in a fixed order that does not depend on which components are on (seven
normals: x and y shift, angle, zoom, gain, offset, gradient slope; the gradient's direction; one blur fraction per
frame; then each frame's noise, only when noise is on), so the same rng gives the same bytes and turning one component
off leaves the others' draws as they were. Lengths are given for a 128 px frame and scale with the frame's width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

from miex.core.errors import MiexInputError
from miex.core.pixels import round_to_uint8

REFERENCE_WIDTH = 128
"""Frame width (px) at which the pixel magnitudes of :class:`Nuisance` hold; they scale with the actual width."""
SMALLEST_SIGMA = 0.05
"""Blur sigmas below this (px) leave the frame as it is: the Gaussian would change no grey level."""


@dataclass(frozen=True)
class Nuisance:
    """Magnitudes of the recording nuisance between two frames; zero turns a component off (all zero: off).

    Standard deviations of the per-pair draws unless said otherwise; pixel lengths are at a 128 px wide frame."""

    translation: float = 0.0
    """Head drift: shift of the apex ~ N(0, translation) px along each axis."""
    rotation: float = 0.0
    """Head roll: rotation of the apex about the frame centre ~ N(0, rotation) degrees."""
    scale: float = 0.0
    """Head moving to or from the camera: zoom of the apex 1 + N(0, scale)."""
    gain: float = 0.0
    """Global light change: the apex's grey levels times 1 + N(0, gain)."""
    offset: float = 0.0
    """Global light change: N(0, offset) grey levels added to the apex."""
    gradient: float = 0.0
    """Light moving to one side: the apex times a plane 1 + a·(x cos θ + y sin θ), x and y in -1..1 across the frame,
    a ~ N(0, gradient), θ uniform."""
    blur: float = 0.0
    """Defocus or motion blur: each frame (onset and apex alike, drawn apart) is blurred with a Gaussian of sigma
    ~ U(0, blur) px."""
    read_noise: float = 0.0
    """Signal-independent sensor noise: N(0, read_noise) grey levels per pixel and channel, in each frame."""
    shot_noise: float = 0.0
    """Signal-dependent (shot-like) noise: its standard deviation is shot_noise grey levels at white (255) and
    grows as the square root of the grey level, in each frame."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise MiexInputError(f"a nuisance magnitude is a finite number >= 0, got {value!r}", field=item.name)

    @property
    def active(self) -> bool:
        """Whether any component is on (all off: frames are returned as they are)."""
        return any(getattr(self, item.name) for item in fields(self))

    def to_json(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}


REAL = Nuisance(
    translation=0.5,
    rotation=0.05,
    scale=0.001,
    gain=0.015,
    offset=0.5,
    gradient=0.005,
    blur=0.6,
    read_noise=1.0,
    shot_noise=1.5,
)
"""The ``real`` preset (docs/reference.md §Nuisance between onset and apex gives the figures behind each value)."""
NUISANCE_PRESETS: dict[str, Nuisance] = {"off": Nuisance(), "real": REAL}
"""Named settings of ``miex synthesize --nuisance``. ``real`` is calibrated so that MiE-X's composite flow images
move towards the summary statistics of the public MEGC2019 composite flow release (docs/reference.md §Nuisance between
onset and apex, which gives the figures and the command that measures them)."""


def nuisance_preset(name: str | Nuisance) -> Nuisance:
    """The :class:`Nuisance` called ``name`` (a :class:`Nuisance` is returned as it is)."""
    if isinstance(name, Nuisance):
        return name
    if name not in NUISANCE_PRESETS:
        raise MiexInputError(
            f"unknown nuisance preset {name!r} (choose from {', '.join(NUISANCE_PRESETS)})", field="nuisance"
        )
    return NUISANCE_PRESETS[name]


@dataclass(frozen=True)
class _Draws:
    """The random part of one pair (or sequence), drawn once in a fixed order."""

    shift: tuple[float, float]
    angle: float
    zoom: float
    gain: float
    offset: float
    slope: float
    direction: float


def _draw(nuisance: Nuisance, rng: np.random.Generator, width: int) -> _Draws:
    # always the same eight numbers, whatever is on: one component's setting never moves another's draws
    normal = rng.standard_normal(7)
    direction = float(rng.uniform(0.0, 2.0 * math.pi))
    step = nuisance.translation * width / REFERENCE_WIDTH
    return _Draws(
        shift=(float(normal[0] * step), float(normal[1] * step)),
        angle=float(normal[2] * nuisance.rotation),
        zoom=float(normal[3] * nuisance.scale),
        gain=float(normal[4] * nuisance.gain),
        offset=float(normal[5] * nuisance.offset),
        slope=float(normal[6] * nuisance.gradient),
        direction=direction,
    )


def _move(frame: np.ndarray, draws: _Draws, share: float) -> np.ndarray:
    """The similarity transform (``share`` of the drawn one) about the frame centre, bilinear, borders reflected."""
    import cv2

    angle, zoom = draws.angle * share, 1.0 + draws.zoom * share
    shift_x, shift_y = draws.shift[0] * share, draws.shift[1] * share
    if angle == 0.0 and zoom == 1.0 and shift_x == 0.0 and shift_y == 0.0:
        return frame
    height, width = frame.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2.0, (height - 1) / 2.0), angle, zoom)
    matrix[:, 2] += (shift_x, shift_y)
    moved = cv2.warpAffine(
        np.ascontiguousarray(frame, dtype=np.float32),
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    return moved.reshape(frame.shape)


def _light(frame: np.ndarray, draws: _Draws, share: float) -> np.ndarray:
    """Gain, offset and a planar gain gradient (``share`` of the drawn ones)."""
    gain, offset, slope = draws.gain * share, draws.offset * share, draws.slope * share
    if gain == 0.0 and offset == 0.0 and slope == 0.0:
        return frame
    height, width = frame.shape[:2]
    x = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :]
    y = np.linspace(-1.0, 1.0, height, dtype=np.float32)[:, None]
    plane = (1.0 + gain) * (
        1.0 + slope * (np.float32(math.cos(draws.direction)) * x + np.float32(math.sin(draws.direction)) * y)
    )
    plane = plane.astype(np.float32)
    return frame * (plane[..., None] if frame.ndim == 3 else plane) + np.float32(offset)


def _blur(frame: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    if sigma < SMALLEST_SIGMA:
        return frame
    blurred = cv2.GaussianBlur(
        np.ascontiguousarray(frame, dtype=np.float32),
        (0, 0),
        sigmaX=sigma,
        sigmaY=sigma,
        borderType=cv2.BORDER_REFLECT_101,
    )
    return blurred.reshape(frame.shape)


def _sensor(frame: np.ndarray, nuisance: Nuisance, rng: np.random.Generator) -> np.ndarray:
    """Read noise plus shot-like noise (variance read² + shot² · level / 255), drawn per pixel and channel."""
    if nuisance.read_noise == 0.0 and nuisance.shot_noise == 0.0:
        return frame
    level = np.clip(frame, 0.0, 255.0)
    sd = np.sqrt(np.float32(nuisance.read_noise) ** 2 + np.float32(nuisance.shot_noise) ** 2 * (level / 255.0))
    return frame + sd * rng.standard_normal(frame.shape, dtype=np.float32)


def _check(frames: Sequence[np.ndarray]) -> list[np.ndarray]:
    arrays = [np.asarray(frame) for frame in frames]
    for index, array in enumerate(arrays):
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise MiexInputError(
                f"frames are uint8 H x W (x C), got {array.dtype} {array.shape}", row=index, field="frame"
            )
        if array.shape != arrays[0].shape:
            raise MiexInputError(
                f"frames differ in size: {arrays[0].shape} and {array.shape}", row=index, field="frame"
            )
    return arrays


def apply_nuisance_sequence(
    frames: Sequence[np.ndarray], nuisance: Nuisance, rng: np.random.Generator
) -> list[np.ndarray]:
    """Recording nuisance over a sequence of uint8 frames from onset (first) to apex (last).

    Frame ``t`` of ``T`` gets ``t / (T - 1)`` of the drawn head motion and light change (a steady drift from the
    onset, which keeps its pose and light), and every frame its own blur and sensor noise. A pair is a sequence of
    two. All off: the frames come back unchanged (copies) and ``rng`` is not used."""
    arrays = _check(frames)
    if not nuisance.active or not arrays:
        return [array.copy() for array in arrays]
    width = arrays[0].shape[1]
    unit = width / REFERENCE_WIDTH
    draws = _draw(nuisance, rng, width)
    sigmas = rng.uniform(0.0, 1.0, len(arrays)) * nuisance.blur * unit
    steps = max(len(arrays) - 1, 1)
    out = []
    for index, array in enumerate(arrays):
        share = index / steps
        frame = _move(array.astype(np.float32), draws, share)
        frame = _light(frame, draws, share)
        frame = _blur(frame, float(sigmas[index]))
        out.append(round_to_uint8(_sensor(frame, nuisance, rng)))
    return out


def apply_nuisance_pair(
    onset: np.ndarray, apex: np.ndarray, nuisance: Nuisance, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """An onset/apex pair (uint8, H x W x 3 or H x W) as a camera records it: the apex moved, relit, blurred and
    noisy; the onset blurred and noisy on its own. Deterministic given ``rng``."""
    first, last = apply_nuisance_sequence([onset, apex], nuisance, rng)
    return first, last


def apply_nuisance(apex: np.ndarray, nuisance: Nuisance, rng: np.random.Generator) -> np.ndarray:
    """The apex alone, every component applied to it (head motion, light, blur, sensor noise) and the onset left as
    rendered. Uses ``rng`` as :func:`apply_nuisance_pair` does, so it gives that function's apex."""
    arrays = _check([apex])
    if not nuisance.active:
        return arrays[0].copy()
    width = arrays[0].shape[1]
    draws = _draw(nuisance, rng, width)
    sigmas = rng.uniform(0.0, 1.0, 2) * nuisance.blur * width / REFERENCE_WIDTH
    if nuisance.read_noise or nuisance.shot_noise:  # the onset's noise: drawn and dropped, to stay in step
        rng.standard_normal(arrays[0].shape, dtype=np.float32)
    frame = _light(_move(arrays[0].astype(np.float32), draws, 1.0), draws, 1.0)
    return round_to_uint8(_sensor(_blur(frame, float(sigmas[1])), nuisance, rng))


__all__ = [
    "NUISANCE_PRESETS",
    "REAL",
    "REFERENCE_WIDTH",
    "Nuisance",
    "apply_nuisance",
    "apply_nuisance_pair",
    "apply_nuisance_sequence",
    "nuisance_preset",
]
