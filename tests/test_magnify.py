"""Linear Eulerian magnification measured on sinusoidal gratings whose sub-pixel shift is known exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from miex.core.errors import MiexInputError
from miex.data.magnify import Magnification, level_alphas, magnify_pair, magnify_sequence, motion_image

SIZE = 128
MARGIN = 16  # columns left out of the fit: the pyramid reflects at the border


def grating(wavelength: float, shift: float, *, colour: bool = True, amplitude: float = 60.0) -> np.ndarray:
    """A vertical sinusoidal grating moved right by ``shift`` pixels, as a uint8 image."""
    x = np.arange(SIZE)
    row = 128.0 + amplitude * np.sin(2 * np.pi * (x - shift) / wavelength)
    image = np.rint(np.tile(row, (SIZE, 1))).astype(np.uint8)
    return np.repeat(image[..., None], 3, axis=2) if colour else image


def measured_shift(image: np.ndarray, wavelength: float) -> float:
    """The grating's position from the least-squares phase of its mean row (sub-pixel)."""
    grey = image.astype(np.float64)
    if grey.ndim == 3:
        grey = grey.mean(axis=2)
    xs = np.arange(SIZE)[MARGIN:-MARGIN]
    row = grey[:, MARGIN:-MARGIN].mean(axis=0)
    design = np.stack([np.sin(2 * np.pi * xs / wavelength), np.cos(2 * np.pi * xs / wavelength), np.ones_like(xs)], 1)
    sin_part, cos_part, _ = np.linalg.lstsq(design, row, rcond=None)[0]
    return float(-np.arctan2(cos_part, sin_part) * wavelength / (2 * np.pi))


def gain_of_pair(wavelength: float, spec: Magnification, delta: float = 0.25) -> float:
    onset, apex = grating(wavelength, 0.0), grating(wavelength, delta)
    out = magnify_pair(onset, apex, spec)
    return (measured_shift(out, wavelength) - measured_shift(onset, wavelength)) / delta


def test_pair_amplifies_long_wavelengths_by_one_plus_alpha() -> None:
    spec = Magnification(alpha=10.0, cutoff_wavelength=16.0)
    for wavelength in (64.0, 96.0):
        assert gain_of_pair(wavelength, spec) == pytest.approx(1 + spec.alpha, rel=0.12)
    assert gain_of_pair(2 * spec.cutoff_wavelength, spec) > 0.8 * (1 + spec.alpha)  # level_wavelength's promise
    smaller = Magnification(alpha=4.0, cutoff_wavelength=16.0)
    assert gain_of_pair(64.0, smaller) == pytest.approx(1 + smaller.alpha, rel=0.12)


def test_pair_attenuates_wavelengths_below_the_cutoff() -> None:
    spec = Magnification(alpha=10.0, cutoff_wavelength=16.0)
    long_gain, short_gain = gain_of_pair(64.0, spec), gain_of_pair(6.0, spec)
    assert 1.5 < short_gain < 0.5 * long_gain
    # a larger cutoff attenuates a wavelength that a small cutoff amplifies fully
    wide, narrow = Magnification(cutoff_wavelength=64.0), Magnification(cutoff_wavelength=4.0)
    assert gain_of_pair(32.0, wide) < 0.7 * gain_of_pair(32.0, narrow)


def test_level_alphas_follow_the_cutoff_bound() -> None:
    alphas = level_alphas(Magnification(alpha=10.0, levels=4, cutoff_wavelength=16.0))
    assert len(alphas) == 5
    assert alphas == sorted(alphas) and alphas[-1] == 10.0 and 0 <= alphas[0] < 10.0
    assert level_alphas(Magnification(alpha=10.0, cutoff_wavelength=1.0)) == [10.0] * 5


def test_alpha_zero_is_identity_and_shape_dtype_kept() -> None:
    rng = np.random.default_rng(0)
    onset = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    apex = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    assert np.array_equal(magnify_pair(onset, apex, Magnification(alpha=0.0)), apex)
    out = magnify_pair(onset, apex)
    assert out.shape == apex.shape and out.dtype == np.uint8
    assert np.array_equal(magnify_pair(apex, apex), apex)  # nothing changed, nothing to amplify


def test_greyscale_pair_matches_colour_channels() -> None:
    onset, apex = grating(64.0, 0.0, colour=False), grating(64.0, 0.25, colour=False)
    grey = magnify_pair(onset, apex)
    colour = magnify_pair(np.repeat(onset[..., None], 3, 2), np.repeat(apex[..., None], 3, 2))
    assert grey.shape == onset.shape and grey.dtype == np.uint8
    assert np.array_equal(grey, colour[..., 0])
    assert not np.array_equal(grey, apex)


def oscillating(wavelength: float, hz: float, *, fps: float, frames: int, delta: float) -> np.ndarray:
    return np.stack([grating(wavelength, delta * np.sin(2 * np.pi * hz * t / fps)) for t in range(frames)])


def shift_amplitude(video: np.ndarray, wavelength: float, hz: float, fps: float) -> float:
    """Amplitude of the grating's position over time at ``hz`` (least squares on sin/cos of time)."""
    positions = np.array([measured_shift(frame, wavelength) for frame in video])
    t = np.arange(len(video)) / fps
    design = np.stack([np.sin(2 * np.pi * hz * t), np.cos(2 * np.pi * hz * t), np.ones_like(t)], 1)
    sin_part, cos_part, _ = np.linalg.lstsq(design, positions, rcond=None)[0]
    return float(np.hypot(sin_part, cos_part))


def test_sequence_amplifies_only_the_pass_band() -> None:
    fps, frames, delta, wavelength = 30.0, 60, 0.25, 64.0
    spec = Magnification(alpha=10.0, low_hz=0.4, high_hz=3.0)
    inside = oscillating(wavelength, 1.0, fps=fps, frames=frames, delta=delta)
    outside = oscillating(wavelength, 6.0, fps=fps, frames=frames, delta=delta)
    inside_out, outside_out = magnify_sequence(inside, spec, fps=fps), magnify_sequence(outside, spec, fps=fps)
    assert inside_out.shape == inside.shape and inside_out.dtype == np.uint8
    assert shift_amplitude(inside_out, wavelength, 1.0, fps) == pytest.approx((1 + spec.alpha) * delta, rel=0.15)
    assert shift_amplitude(outside_out, wavelength, 6.0, fps) == pytest.approx(delta, rel=0.15)
    # moving the band onto 6 Hz amplifies that motion instead
    wide = Magnification(alpha=10.0, low_hz=4.0, high_hz=8.0)
    assert shift_amplitude(magnify_sequence(outside, wide, fps=fps), wavelength, 6.0, fps) > 8 * delta


def test_sequence_alpha_zero_and_greyscale() -> None:
    video = oscillating(64.0, 1.0, fps=30.0, frames=20, delta=0.5)
    assert np.array_equal(magnify_sequence(video, Magnification(alpha=0.0), fps=30.0), video)
    grey = video[..., 0]
    out = magnify_sequence(grey, fps=30.0)
    assert out.shape == grey.shape and out.dtype == np.uint8


def test_motion_image_shows_where_the_change_is() -> None:
    onset = np.full((64, 64, 3), 100, np.uint8)
    apex = onset.copy()
    apex[10:20, 10:20] += 2  # brighter patch: a two-grey-level change
    apex[40:50, 40:50] -= 2  # darker patch
    image = motion_image(onset, apex)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    brighter, darker, still = image[15, 15].astype(int), image[45, 45].astype(int), image[2, 60].astype(int)
    assert brighter[0] - brighter[2] > 150  # red
    assert darker[2] - darker[0] > 150  # blue
    assert np.abs(still - 128).max() <= 2  # untouched skin stays grey
    assert np.abs(motion_image(onset, onset).astype(int) - 128).max() <= 1
    quiet = motion_image(onset, apex, gain=0.01)
    assert abs(int(quiet[15, 15, 0]) - int(quiet[15, 15, 2])) < 20


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("alpha", {"alpha": -1.0}),
        ("alpha", {"alpha": float("nan")}),
        ("alpha", {"alpha": "10"}),
        ("levels", {"levels": 0}),
        ("levels", {"levels": 2.5}),
        ("cutoff_wavelength", {"cutoff_wavelength": 0.0}),
        ("low_hz", {"low_hz": -0.1}),
        ("high_hz", {"low_hz": 3.0, "high_hz": 1.0}),
    ],
)
def test_bad_spec_is_refused_naming_the_field(field: str, kwargs: dict) -> None:
    with pytest.raises(MiexInputError) as caught:
        Magnification(**kwargs)
    assert caught.value.field == field


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(MiexInputError, match="differ in shape"):
        magnify_pair(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(MiexInputError) as caught:
        magnify_sequence(np.zeros((4, 8, 8, 3), np.uint8), fps=0.0)
    assert caught.value.field == "fps"


def test_describe_is_json_and_complete() -> None:
    record = json.loads(json.dumps(Magnification(alpha=5.0).describe()))
    assert record["alpha"] == 5.0 and record["levels"] == 4 and record["cutoff_wavelength"] == 16.0
    assert (record["low_hz"], record["high_hz"]) == (0.4, 3.0)
