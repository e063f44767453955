"""The one source of truth for the Action Unit (AU) vocabulary used everywhere in miex.

An AU vector is 17 intensities in OpenFace 2.x order, on OpenFace's 0 to 5 scale (docs/reference.md §Action units).
Data files always store the 0 to 5 scale; only a generator (and the FACS motion model it shares with the geometric
AU estimator) sees intensities divided by 5, through :func:`to_generator_scale` and back through
:func:`from_generator_scale`, so there is exactly one place where the scaling happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

AU_NAMES: tuple[str, ...] = (
    "AU01",
    "AU02",
    "AU04",
    "AU05",
    "AU06",
    "AU07",
    "AU09",
    "AU10",
    "AU12",
    "AU14",
    "AU15",
    "AU17",
    "AU20",
    "AU23",
    "AU25",
    "AU26",
    "AU45",
)
"""The 17 intensity AUs that OpenFace 2.x estimates, in its column order."""

ScaledT = TypeVar("ScaledT")
"""An AU array: NumPy (validated on the way in) or a torch tensor (kept on its device)."""

NUM_AUS: int = len(AU_NAMES)
AU_INDEX: dict[str, int] = {name: i for i, name in enumerate(AU_NAMES)}

AU_MIN: float = 0.0
AU_MAX: float = 5.0
"""OpenFace intensity scale (``AUxx_r``): 0 (absent) to 5 (maximum)."""

AU_DESCRIPTIONS: dict[str, str] = {
    "AU01": "inner brow raiser",
    "AU02": "outer brow raiser",
    "AU04": "brow lowerer",
    "AU05": "upper lid raiser",
    "AU06": "cheek raiser",
    "AU07": "lid tightener",
    "AU09": "nose wrinkler",
    "AU10": "upper lip raiser",
    "AU12": "lip corner puller",
    "AU14": "dimpler",
    "AU15": "lip corner depressor",
    "AU17": "chin raiser",
    "AU20": "lip stretcher",
    "AU23": "lip tightener",
    "AU25": "lips part",
    "AU26": "jaw drop",
    "AU45": "blink",
}

LABEL_NAMES: tuple[str, ...] = ("negative", "positive", "surprise")
"""The MEGC2019 3-class label space that MiE-X uses: 0 negative, 1 positive, 2 surprise."""
NO_LABEL: int = -1
"""Label of a clip whose native emotion has no 3-class counterpart (e.g. 'others')."""


def normalize_au_name(name: str) -> str:
    """Map spellings seen in the wild (``AU1``, ``au01_r``, `` AU01_r``) to the canonical ``AU01``."""
    text = name.strip().upper()
    for suffix in ("_R", "_C"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    if not text.startswith("AU") or not text[2:].isdigit():
        raise ValueError(f"{name!r} is not an Action Unit name (expected e.g. 'AU12')")
    canonical = f"AU{int(text[2:]):02d}"
    if canonical not in AU_INDEX:
        raise ValueError(f"{name!r} is not one of the 17 OpenFace intensity AUs: {', '.join(AU_NAMES)}")
    return canonical


def validate_au_array(values: np.ndarray | Sequence[float], *, where: str = "AU vector") -> np.ndarray:
    """Return ``values`` as float32 of shape (..., 17) on the 0 to 5 scale, or raise naming ``where``.

    Small numeric overshoot (OpenFace occasionally writes 5.0000001) is clipped; anything clearly out of range,
    NaN or of the wrong length is an error, because a silently wrong AU vector becomes a mislabelled sample.
    """
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 0 or array.shape[-1] != NUM_AUS:
        raise ValueError(f"{where}: expected {NUM_AUS} AU intensities ({', '.join(AU_NAMES)}), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{where}: AU intensities contain NaN or infinity")
    tolerance = 1e-3
    if array.size and (array.min() < AU_MIN - tolerance or array.max() > AU_MAX + tolerance):
        raise ValueError(
            f"{where}: AU intensities must lie on the 0 to 5 scale; got min {array.min():.3f}, max {array.max():.3f}"
            " (values in 0..1 are already divided by 5: multiply them by 5)"
        )
    return np.clip(array, AU_MIN, AU_MAX)


def to_generator_scale(aus: ScaledT) -> ScaledT:
    """0-5 intensities -> the 0-1 conditioning that generators and the motion model read (docs/reference.md §Action
    units). The one place AUs are divided by 5.

    A NumPy array or sequence is validated first (:func:`validate_au_array`) and comes back float32, or float64 when
    it was float64 (fits keep their precision); a torch tensor is scaled as it is, on its device and in its dtype,
    because it has already been validated at the generator boundary (``generators.base.as_au_batch``). A plain number
    is scaled unchecked (a bound, not an AU vector)."""
    if isinstance(aus, np.ndarray | list | tuple):
        checked = validate_au_array(aus)
        if isinstance(aus, np.ndarray) and aus.dtype == np.float64:
            return np.clip(aus, AU_MIN, AU_MAX) / AU_MAX  # type: ignore[return-value]
        return checked / AU_MAX  # type: ignore[return-value]
    return aus / AU_MAX


def from_generator_scale(conditioning: ScaledT) -> ScaledT:
    """Inverse of :func:`to_generator_scale`: 0-1 conditioning (or a 0-1 score such as a blendshape, or a fraction
    of the motion at intensity 5) -> 0-5 intensities, unclipped. NumPy floats keep their precision; other NumPy
    input becomes float32; a tensor stays on its device."""
    if isinstance(conditioning, np.ndarray | list | tuple | float | int):
        array = np.asarray(conditioning)
        return (array if array.dtype.kind == "f" else array.astype(np.float32)) * AU_MAX  # type: ignore[return-value]
    return conditioning * AU_MAX


def au_vector(**intensities: float) -> np.ndarray:
    """Build a 17-vector from keyword intensities, e.g. ``au_vector(AU12=1.5, AU06=0.8)``."""
    vector = np.zeros(NUM_AUS, dtype=np.float32)
    for name, value in intensities.items():
        vector[AU_INDEX[normalize_au_name(name)]] = value
    return validate_au_array(vector)
