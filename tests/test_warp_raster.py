"""The warp's rasteriser: testing only the columns near each triangle's span on a pixel row must cover exactly the
pixels, in the order and with the source points, that testing every pixel gives (the grid's bytes depend on it)."""

from __future__ import annotations

import numpy as np
import pytest

from miex.data.generators.mesh_warp import MeshWarp, _rasterize

SIZE = 48


def _every_pixel(
    target: np.ndarray, source: np.ndarray, images: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference: every pixel centre of each triangle's box tested with the barycentric coordinates."""
    pixels, xs, ys = [], [], []
    for corners, (s0, s1, s2), image, (left, top, right, bottom) in zip(target, source, images, boxes, strict=True):
        (x0, y0), (x1, y1), (x2, y2) = corners
        d = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
        if abs(d) <= 1e-12:
            continue
        a0, b0 = (y1 - y2) / d, (x2 - x1) / d
        c0 = -(a0 * x2 + b0 * y2)
        a1, b1 = (y2 - y0) / d, (x0 - x2) / d
        c1 = -(a1 * x2 + b1 * y2)
        py, px = np.mgrid[max(top, 0) : min(bottom, SIZE), max(left, 0) : min(right, SIZE)]
        px, py = px.ravel(), py.ravel()
        x, y = px + 0.5, py + 0.5
        l0 = a0 * x + b0 * y + c0
        l1 = a1 * x + b1 * y + c1
        inside = (l0 >= 0) & (l1 >= 0) & (l0 + l1 <= 1)
        l0, l1 = l0[inside], l1[inside]
        pixels.append((image * SIZE + py[inside]) * SIZE + px[inside])
        xs.append(s2[0] + l0 * (s0[0] - s2[0]) + l1 * (s1[0] - s2[0]))
        ys.append(s2[1] + l0 * (s0[1] - s2[1]) + l1 * (s1[1] - s2[1]))
    return np.concatenate(pixels), np.concatenate(xs), np.concatenate(ys)


def _awkward_triangles(rng: np.random.Generator) -> np.ndarray:
    """Triangles where a span is easy to get wrong: pixel centres exactly on edges, axis-parallel edges, slivers a
    hair's breadth wide, triangles nearly degenerate, larger than the image or partly outside it, either winding."""
    small = rng.uniform(0, SIZE, (300, 1, 2)) + rng.uniform(-4, 4, (300, 3, 2))
    on_centres = np.round(rng.uniform(-2, SIZE + 2, (200, 3, 2))) + 0.5  # vertices (and edges) through centres
    on_corners = np.round(rng.uniform(-2, SIZE + 2, (100, 3, 2)))
    axis = on_centres[:100].copy()
    axis[:50, 1, 1] = axis[:50, 0, 1]  # horizontal edges
    axis[50:, 1, 0] = axis[50:, 0, 0]  # vertical edges
    base = rng.uniform(0, SIZE, (100, 2, 2))
    along = base[:, :1] + rng.uniform(0, 1, (100, 1, 1)) * (base[:, 1:] - base[:, :1])
    slivers = np.concatenate([base, along + rng.choice([1e-9, 1e-6, 1e-3, 0.3], (100, 1, 1))], axis=1)
    big = rng.uniform(-3 * SIZE, 4 * SIZE, (20, 3, 2))
    flat = np.repeat(rng.uniform(0, SIZE, (10, 1, 2)), 3, axis=1)
    triangles = np.concatenate([small, on_centres, on_corners, axis, slivers, big, flat])
    return triangles[rng.permutation(len(triangles))]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_rasteriser_covers_exactly_what_testing_every_pixel_covers(seed: int) -> None:
    rng = np.random.default_rng(seed)
    target = _awkward_triangles(rng)
    source = target + rng.normal(0, 2, target.shape)
    images = rng.integers(0, 3, len(target))
    boxes = np.where(rng.random((len(target), 1)) < 0.5, [0, 0, SIZE, SIZE], [5, 9, 30, 40])
    pixels, (xs, ys) = _rasterize(target, source, SIZE, SIZE, images, boxes)
    expected = _every_pixel(target, source, images, boxes)
    assert len(pixels) > 10_000
    assert pixels.tobytes() == expected[0].tobytes()  # the same pixels in the same order: later triangles win
    assert xs.tobytes() == expected[1].tobytes() and ys.tobytes() == expected[2].tobytes()


def test_rows_mapped_together_get_the_grid_each_gets_alone() -> None:
    from miex.data.faces.canonical import canonical_face

    rng = np.random.default_rng(0)
    points = canonical_face()[:, :2] * 3.5 + 64  # the face mesh across most of a 128 px crop
    sources = points + rng.normal(0, 0.5, (4, 1, 2))
    targets = sources + rng.normal(0, 0.8, sources.shape) * (rng.random((4, len(points), 1)) < 0.3)
    targets[2] = sources[2]  # a row that does not move
    boxes = [None, (40, 30, 90, 70), None, (-5, -5, 200, 60)]
    mesh = MeshWarp()
    together = mesh.grids(sources, targets, 128, 128, boxes, quantum=4096.0)
    for row, box in enumerate(boxes):
        alone = MeshWarp().grid(sources[row], targets[row], 128, 128, box, quantum=4096.0)
        assert together[row].tobytes() == alone.tobytes()
    identity = MeshWarp().grid(sources[2], sources[2], 128, 128, quantum=4096.0)
    assert together[2].tobytes() == identity.tobytes()
    assert not np.array_equal(together[0], identity)
