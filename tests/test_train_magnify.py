"""Motion magnification as a recognizer input option: the apex (or every frame of a sequence) is magnified relative
to the onset before augmentation or flow, identically for real clips and MiE-X, and only when asked."""

from __future__ import annotations

import pickle

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from miex.data.aus.schema import LABEL_NAMES
from miex.data.faces.flow import FlowParams, optical_flow
from miex.data.magnify import Magnification, magnify_pair
from miex.train.data import model_inputs
from miex.train.models import create_config
from miex.train.transforms import EvalTransform, to_tensor

SIZE = 64


def blob(centre_x: float) -> np.ndarray:
    """A smooth bright blob on a textured grey face-sized image; only its position changes between frames."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    base = 100 + 20 * np.sin(x / 5.0) * np.cos(y / 7.0)
    bump = 90 * np.exp(-((x - centre_x) ** 2 + (y - SIZE / 2) ** 2) / (2 * 6.0**2))
    return np.repeat(np.clip(base + bump, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)


def pairs(shift: float = 0.6) -> datasets.Dataset:
    onset, apex = blob(SIZE / 2), blob(SIZE / 2 + shift)
    features = datasets.Features(
        {"onset": datasets.Image(), "apex": datasets.Image(), "label": datasets.ClassLabel(names=list(LABEL_NAMES))}
    )
    return datasets.Dataset.from_dict(
        {"onset": [Image.fromarray(onset)], "apex": [Image.fromarray(apex)], "label": [1]}, features=features
    )


def flow(onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    onset, apex = ((np.asarray(g) * 255).round().astype(np.uint8) for g in (onset, apex))  # greys come in [0, 1]
    field = optical_flow(onset, apex, FlowParams(method="farneback"))
    return field[..., 0], field[..., 1]


def test_off_by_default_and_on_it_feeds_the_magnified_apex_through_the_same_transform() -> None:
    config = create_config("branches")
    sizes = {"resize": SIZE, "crop_size": SIZE}
    plain = pairs().with_transform(model_inputs(config, train=False, **sizes))[0]
    spec = Magnification(alpha=8)
    magnified = pairs().with_transform(model_inputs(config, train=False, magnify=spec, **sizes))[0]
    onset, apex = blob(SIZE / 2), blob(SIZE / 2 + 0.6)
    (expected_apex,) = EvalTransform(SIZE, SIZE)([to_tensor(magnify_pair(onset, apex, spec))])
    assert torch.equal(magnified["pixel_values_onset"], plain["pixel_values_onset"])  # the onset is never changed
    assert torch.allclose(magnified["pixel_values_apex"], expected_apex)
    change = (magnified["pixel_values_apex"] - plain["pixel_values_onset"]).abs().sum()
    assert change > 4 * (plain["pixel_values_apex"] - plain["pixel_values_onset"]).abs().sum()


@pytest.mark.parametrize("alpha", [4.0, 9.0])
def test_flow_models_see_the_motion_grown_by_about_one_plus_alpha(alpha: float) -> None:
    """The flow computed from the magnified pair is about (1 + alpha) times the plain pair's (the composite flow image
    then scales each channel to 0..255, so the growth is measured on the flow itself)."""
    config = create_config("ststnet")
    measured: list[np.ndarray] = []

    def recording(onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u, v = flow(onset, apex)
        measured.append(u)
        return u, v

    pairs().with_transform(model_inputs(config, train=False, flow_fn=recording))[0]
    magnify = Magnification(alpha=alpha, cutoff_wavelength=4)
    image = pairs().with_transform(model_inputs(config, train=False, flow_fn=recording, magnify=magnify))[0]
    assert image["pixel_values"].shape == (3, 28, 28) and float(image["pixel_values"].max()) == 255.0
    # u (horizontal flow): the blob moves right; compare the mean u over the blob's neighbourhood
    centre = slice(SIZE // 2 - 6, SIZE // 2 + 6)
    ratio = float(measured[1][centre, centre].mean() / measured[0][centre, centre].mean())
    assert 0.6 * (1 + alpha) < ratio < 1.4 * (1 + alpha)


def test_sequences_are_magnified_relative_to_their_first_frame() -> None:
    frames = [Image.fromarray(blob(SIZE / 2 + 0.2 * t)) for t in range(10)]
    features = datasets.Features(
        {"frames": datasets.List(datasets.Image()), "label": datasets.ClassLabel(names=list(LABEL_NAMES))}
    )
    clip = datasets.Dataset.from_dict({"frames": [frames], "label": [0]}, features=features)
    seen: list[np.ndarray] = []

    def recording(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append(after)
        return np.zeros_like(after), np.zeros_like(after)

    spec = Magnification(alpha=5)
    clip.with_transform(model_inputs(create_config("dtscnn"), train=False, flow_fn=recording, magnify=spec))[0]
    expected_last = magnify_pair(np.asarray(frames[0]), np.asarray(frames[-1]), spec).astype(np.float32).mean(2)
    assert np.allclose(seen[-1] * 255.0, expected_last, atol=0.6)


def test_the_transform_survives_pickling_for_spawned_workers() -> None:
    transform = model_inputs(create_config("branches"), train=True, magnify=Magnification(alpha=3))
    again = pickle.loads(pickle.dumps(transform))
    assert again.magnify == Magnification(alpha=3)
