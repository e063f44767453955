"""Patch tracking, the pixel-level instrument of `miex eval-generator`: it must recover known motion."""

from __future__ import annotations

import numpy as np
import pytest
from face_fixtures import shifted, smooth_texture

from miex.data.generators.tracking import delivered_ratio, track_points


@pytest.mark.parametrize(("dx", "dy"), [(3.0, -2.0), (-5.5, 1.25), (0.0, 0.0)])
def test_a_translated_texture_is_tracked_to_a_fraction_of_a_pixel(dx: float, dy: float) -> None:
    before = smooth_texture(160, seed=3)
    after = shifted(before, dx, dy)
    points = np.array([[50.0, 60.0], [80.0, 80.0], [110.0, 95.0]])
    moved, found = track_points(before, after, points, radius=6, search=8)
    assert found.all()
    np.testing.assert_allclose(moved, [[dx, dy]] * 3, atol=0.35)


def test_flat_patches_and_changed_content_are_not_located() -> None:
    before = np.full((64, 64), 128, np.uint8)
    moved, found = track_points(before, before, np.array([[32.0, 32.0]]), radius=5, search=4)
    assert not found.any() and not moved.any()
    texture = smooth_texture(96, seed=1)
    other = smooth_texture(96, seed=2)
    _, found = track_points(texture, other, np.array([[48.0, 48.0]]), radius=5, search=4)
    assert not found.any()


def test_delivered_ratio_is_the_gain_along_the_intended_motion() -> None:
    want = np.array([[0.0, -2.0], [1.0, 0.0]])
    assert delivered_ratio(want, want) == pytest.approx(1.0)
    assert delivered_ratio(want, 0.5 * want) == pytest.approx(0.5)
    assert delivered_ratio(want, want + np.array([[3.0, 0.0], [0.0, 3.0]])) == pytest.approx(1.0)  # across: no gain
    assert delivered_ratio(np.zeros((2, 2)), want) is None
