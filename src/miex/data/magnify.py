"""Linear Eulerian motion magnification (EVM): make a micro-expression's sub-pixel motion visible.

Each frame is split into a Laplacian pyramid; the temporal change of every level (apex − onset for a pair, an ideal
FFT band-pass for a sequence) is multiplied by that level's amplification and added back before the pyramid is
collapsed. For a small displacement δ this moves image content by about (1 + α)·δ. Levels whose spatial
wavelengths are short get a smaller α so that (1 + α)·δ stays under λ/8, the bound under which the first-order
approximation holds; λ_c is the wavelength where the full α starts (docs/reference.md §Motion magnification).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from miex.core.errors import MiexInputError
from miex.core.pixels import luma, round_to_uint8

__all__ = [
    "DEFAULT_ALPHA",
    "Magnification",
    "level_alphas",
    "magnification_label",
    "magnify_pair",
    "magnify_sequence",
    "motion_image",
]

DEFAULT_ALPHA = 4.0
"""The one default amplification α, used by :class:`Magnification`, the recipe option, the API, dataset cards and the
app. MiE-X motions span pixels, not fractions of one: at α = 10 (Wu et al.'s ``baby`` setting) (1 + α)·δ passes
λ/8 on the mouth and brows and the result smears; α = 4 grows the motion about 1 + α = 5 times without that
(docs/reference.md §Motion magnification)."""


def magnification_label(alpha: float = DEFAULT_ALPHA) -> str:
    """How every figure, card and control names a magnification: ``magnification α = 4`` (α, never the factor
    1 + α by which motion grows, so "×5" and "4×" cannot both describe one setting)."""
    return f"magnification α = {alpha:g}"


@dataclass(frozen=True)
class Magnification:
    """Settings of linear EVM: α is :data:`DEFAULT_ALPHA`; levels, cutoff wavelength and pass band are the motion
    settings of Wu et al. 2012 (Table 1, ``baby``)."""

    alpha: float = DEFAULT_ALPHA  # amplification factor α
    levels: int = 4  # Laplacian band-pass levels (plus the low-pass residual)
    cutoff_wavelength: float = 16.0  # λ_c in pixels: shorter spatial wavelengths get an attenuated α
    low_hz: float = 0.4  # temporal pass band of magnify_sequence (Hz)
    high_hz: float = 3.0

    def __post_init__(self) -> None:
        for field in ("alpha", "cutoff_wavelength", "low_hz", "high_hz"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise MiexInputError(f"{value!r} is not a number", field=field)
        checks = (
            ("alpha", math.isfinite(self.alpha) and self.alpha >= 0, "must be a finite number ≥ 0 (0 = no change)"),
            (
                "levels",
                isinstance(self.levels, int) and not isinstance(self.levels, bool) and self.levels >= 1,
                "must be an integer ≥ 1",
            ),
            (
                "cutoff_wavelength",
                math.isfinite(self.cutoff_wavelength) and self.cutoff_wavelength > 0,
                "must be a wavelength in pixels > 0 (16 in Wu et al. 2012)",
            ),
            ("low_hz", math.isfinite(self.low_hz) and self.low_hz >= 0, "must be a frequency in Hz ≥ 0"),
            (
                "high_hz",
                math.isfinite(self.high_hz) and self.high_hz > self.low_hz,
                f"must be a frequency in Hz above low_hz ({self.low_hz})",
            ),
        )
        for field, ok, what in checks:
            if not ok:
                raise MiexInputError(f"{getattr(self, field)!r} {what}", field=field)

    def describe(self) -> dict:
        """A JSON-able record of the settings, for results.json and cards."""
        return {"method": "linear Eulerian video magnification (Wu et al. 2012)", **asdict(self)}


def level_wavelength(level: int) -> float:
    """Representative spatial wavelength (pixels of the input) of Laplacian level ``level`` (0 = finest).

    Level l is G_l − up(G_{l+1}): it holds wavelengths from 2·2^l pixels (G_l's Nyquist limit) to about 4·2^l,
    where the 5-tap Gaussian of the next level starts to pass them. The longer edge is used, because the soft
    Gaussian leaks much of a band's content into the next coarser band; with it a grating of 2·λ_c is amplified by
    about 0.9·(1 + α) (tests/test_magnify.py measures this).
    """
    return float(2 ** (level + 2))


def level_alphas(spec: Magnification, levels: int | None = None) -> list[float]:
    """α per pyramid level, finest first, the low-pass residual last (``levels + 1`` values).

    EVM's bound (1 + α)·δ < λ/8 with δ = λ_c / (8·(1 + α)) gives α_l = (1 + α)·λ_l/λ_c − 1, capped at α and ≥ 0.
    """
    count = spec.levels if levels is None else levels
    out = []
    for level in range(count + 1):
        bound = (1.0 + spec.alpha) * level_wavelength(level) / spec.cutoff_wavelength - 1.0
        out.append(float(min(spec.alpha, max(0.0, bound))))
    return out


def _usable_levels(shape: tuple[int, ...], levels: int) -> int:
    """Levels that fit the image: the residual keeps at least 2 pixels on its short side."""
    fit = max(1, math.floor(math.log2(max(2, min(shape[0], shape[1])))) - 1)
    return min(levels, fit)


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise MiexInputError(f"expected an HxW or HxWx3 image, got shape {array.shape}", field=name)
    if array.shape[0] < 2 or array.shape[1] < 2:
        raise MiexInputError(f"image of shape {array.shape} is too small to magnify", field=name)
    return array


def _check_pair(onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first, last = _check_image(onset, "onset"), _check_image(apex, "apex")
    if first.shape != last.shape:
        raise MiexInputError(
            f"onset {first.shape} and apex {last.shape} differ in shape; crop both alike", field="apex"
        )
    return first, last


def _pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Laplacian pyramid of a float32 image: ``levels`` band-pass images, then the low-pass residual."""
    bands = []
    current = image
    for _ in range(levels):
        down = cv2.pyrDown(current)
        up = cv2.pyrUp(down, dstsize=(current.shape[1], current.shape[0]))
        bands.append(current - up.reshape(current.shape))
        current = down.reshape(down.shape[0], down.shape[1], *current.shape[2:])
    bands.append(current)
    return bands


def _collapse(bands: list[np.ndarray]) -> np.ndarray:
    current = bands[-1]
    for band in reversed(bands[:-1]):
        current = cv2.pyrUp(current, dstsize=(band.shape[1], band.shape[0])).reshape(band.shape) + band
    return current


def magnify_pair(onset: np.ndarray, apex: np.ndarray, spec: Magnification = Magnification()) -> np.ndarray:
    """The apex with its change from the onset amplified (uint8, the apex's shape).

    With two frames the temporal filter is the difference apex − onset; the pyramid is linear, so the difference's
    pyramid is scaled per level and added to the apex: one pyramid instead of two.
    """
    first, last = _check_pair(onset, apex)
    if spec.alpha == 0:
        return last.astype(np.uint8, copy=True)
    levels = _usable_levels(last.shape, spec.levels)
    alphas = level_alphas(spec, levels)
    bands = _pyramid(last.astype(np.float32) - first.astype(np.float32), levels)
    boost = _collapse([band * alpha for band, alpha in zip(bands, alphas, strict=True)])
    return round_to_uint8(last.astype(np.float32) + boost)


def magnify_sequence(frames: np.ndarray, spec: Magnification = Magnification(), *, fps: float) -> np.ndarray:
    """Every frame with its motion in [low_hz, high_hz] amplified: an ideal (FFT) temporal band-pass per level.

    The ideal filter suits short clips held whole in memory, and its sharp edges keep motion just outside the band
    unamplified; frequencies outside the band, including the still face (0 Hz), are left as they are. A clip that
    is not a whole number of periods of a motion leaks some of it into neighbouring bins (as any FFT filter does).
    """
    video = np.asarray(frames)
    if video.ndim not in (3, 4) or video.shape[0] < 2:
        raise MiexInputError(f"expected (T, H, W[, 3]) frames with T ≥ 2, got shape {video.shape}", field="frames")
    if not (math.isfinite(fps) and fps > 0):
        raise MiexInputError(f"{fps!r} must be the clip's frame rate in Hz, > 0", field="fps")
    _check_image(video[0], "frames")
    if spec.alpha == 0:
        return video.astype(np.uint8, copy=True)
    levels = _usable_levels(video.shape[1:], spec.levels)
    alphas = level_alphas(spec, levels)
    data = video.astype(np.float32)
    pyramids = [_pyramid(frame, levels) for frame in data]
    band = _ideal_band_pass(len(video), fps, spec.low_hz, spec.high_hz)
    filtered = []
    for level, alpha in enumerate(alphas):
        stack = np.stack([pyramid[level] for pyramid in pyramids])
        if alpha == 0 or not band.any():
            filtered.append(np.zeros_like(stack))
            continue
        flat = stack.reshape(len(video), -1)
        filtered.append((band @ flat).reshape(stack.shape) * np.float32(alpha))
    out = np.empty_like(data)
    for index in range(len(video)):
        out[index] = data[index] + _collapse([level[index] for level in filtered])
    return round_to_uint8(out)


def _ideal_band_pass(frames: int, fps: float, low_hz: float, high_hz: float) -> np.ndarray:
    """The ideal temporal band-pass as a (T, T) matrix: FFT, keep the bins in [low_hz, high_hz], inverse FFT.

    Applied as one matrix product per level (float32 BLAS) instead of an FFT of every pixel's time series."""
    keep = (np.fft.rfftfreq(frames, d=1.0 / fps) >= low_hz) & (np.fft.rfftfreq(frames, d=1.0 / fps) <= high_hz)
    spectrum = np.fft.rfft(np.eye(frames), axis=0) * keep[:, None]
    return np.fft.irfft(spectrum, n=frames, axis=0).astype(np.float32)


def motion_image(onset: np.ndarray, apex: np.ndarray, *, gain: float | None = None) -> np.ndarray:
    """A figure of where the face changed: the onset faintly in grey, red where the apex is brighter, blue darker.

    The signed difference is what linear magnification amplifies, so this shows the magnified change directly.
    ``gain`` scales the difference (grey levels per unit of change); by default the 99.5th percentile of the
    change is drawn at full colour, so even a one-grey-level micro-expression is visible.
    """
    first, last = _check_pair(onset, apex)
    base = luma(first)
    change = cv2.GaussianBlur(luma(last) - base, (0, 0), sigmaX=1.0)
    if gain is None:
        peak = float(np.percentile(np.abs(change), 99.5))
        gain = 1.0 / peak if peak > 1e-3 else 0.0
    elif not (math.isfinite(gain) and gain >= 0):
        raise MiexInputError(f"{gain!r} must be a number ≥ 0 or None (automatic)", field="gain")
    strength = np.clip(change * gain, -1.0, 1.0)
    backdrop = 128.0 + 0.35 * (base - float(base.mean()))
    red = np.where(strength > 0, backdrop + strength * (255.0 - backdrop), backdrop * (1.0 + strength))
    blue = np.where(strength < 0, backdrop - strength * (255.0 - backdrop), backdrop * (1.0 - strength))
    green = backdrop * (1.0 - np.abs(strength))
    return round_to_uint8(np.stack([red, green, blue], axis=-1))
