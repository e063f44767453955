"""The warp's geometry: dense landmark motion and a piecewise-affine backward map over MediaPipe's face mesh.

- :func:`dense_basis` extends the motion model from its control landmarks to all 468 mesh vertices once per model,
  with a thin-plate spline in the canonical face's frame (so every vertex, not only the listed ones, moves smoothly
  with its neighbours);
- :class:`MeshWarp` turns (source landmarks, target landmarks) into the ``grid_sample`` grid: every pixel of a target
  triangle samples the same barycentric point of its source triangle. Exact at every landmark by construction, no
  linear solve per frame, and per pixel (so a frame never depends on its batch). The face mesh is the canonical
  tessellation; a ring of triangles joins the face oval to the crop border, which stays fixed.
- :func:`foreshortening` scales each vertex's across-the-face motion by how turned the face is there: a lip corner
  on the far side of a three-quarter view has little room before the cheek's silhouette, and the canonical motion
  would carry it over that silhouette (a stair-step fold);
- :func:`untangle` removes folds first (the caller's step, batched over faces): where a strongly moving feature
  would pass over thin skin beside it (lip corners at AU12/AU15, the brow over the lid fold at AU04), the lagging
  skin is dragged along, so no triangle turns over (a fold shows as a mirrored sliver with stair-step edges).
Reference: docs/reference.md §Warp generator.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from miex.data.aus.motion import MotionModel
from miex.data.aus.schema import NUM_AUS
from miex.data.faces.mesh import face_frame
from miex.data.generators.tps import evaluate_spline, fit_spline

MESH_VERTICES = 468
STILL = 1e-3
"""Dense shifts below this (IOD at intensity 5; 0.04 px on a 128 px crop) are set to exactly zero, so triangles far
from the motion are recognised as still and skipped."""
CACHE_FACES = 64
FOLD_ROUNDS = 200
"""Most rounds :func:`untangle` drags lagging vertices for, a safety bound: on four astronaut-derived faces at 128
and 256 px, every single AU and seven AU combinations at 5 took 6.6 rounds on average and 40 at most."""
MIN_AREA_RATIO = 0.05
"""A target triangle must keep this fraction of its source area, with its orientation (skin may compress to a
crease, never turn over)."""
SETTLE = 0.1
"""Per round, how far every corner of a folding triangle moves towards the triangle's mean shift."""
VISIBLE_AREA = 0.25
"""Pixels²: a triangle smaller than this both in the source and in the target is not untangled."""
CROSSED_SETTLE = 0.5
"""The same for a fold no drag can open (its corners cross each other)."""


_DENSE: dict[str, np.ndarray] = {}


def dense_basis(model: MotionModel) -> np.ndarray:
    """(17, 468, 2) shift of every mesh vertex at intensity 5 (face frame, IOD units); cached per model content."""
    if model.digest not in _DENSE:
        _DENSE[model.digest] = _extend_to_mesh(model)
    return _DENSE[model.digest]


def _extend_to_mesh(model: MotionModel) -> np.ndarray:
    from miex.data.faces.canonical import canonical_face

    canonical = canonical_face()[:, :2]
    local = face_frame(canonical).to_local(canonical)
    control = [i for i in model.control if i < MESH_VERTICES]
    index = [model.control.index(i) for i in control]
    values = model.basis[:, index].transpose(1, 0, 2).reshape(len(control), NUM_AUS * 2)  # K x (17 * 2)
    weights = fit_spline(local[control], values, regularization=1e-8)
    dense = evaluate_spline(local[control], weights, local).reshape(MESH_VERTICES, NUM_AUS, 2).transpose(1, 0, 2)
    dense[:, control] = model.basis[:, index]  # the listed landmarks move exactly as the model says
    dense[np.abs(dense).max(axis=-1) < STILL] = 0.0
    for au in range(NUM_AUS):  # the face outline moves only where an AU says so (AU17/AU25/AU26 move the chin)
        listed = {model.control[k] for k in np.flatnonzero(np.abs(model.basis[au]).max(axis=1) > 0)}
        still = [v for v in face_oval() if v not in listed]
        dense[au, still] = 0.0
    dense.setflags(write=False)
    return dense


@lru_cache(maxsize=1)
def face_oval() -> tuple[int, ...]:
    """The mesh's boundary loop (the face oval), ordered around the face."""
    from miex.data.faces.canonical import canonical_triangles

    triangles = canonical_triangles()
    edges: dict[tuple[int, int], int] = {}
    for a, b, c in triangles:
        for edge in ((a, b), (b, c), (c, a)):
            key = (min(edge), max(edge))
            edges[key] = edges.get(key, 0) + 1
    neighbours: dict[int, list[int]] = {}
    for (a, b), count in edges.items():
        if count == 1:
            neighbours.setdefault(int(a), []).append(int(b))
            neighbours.setdefault(int(b), []).append(int(a))
    start = min(neighbours)
    loop, previous = [start], None
    while True:
        step = next(n for n in neighbours[loop[-1]] if n != previous)
        if step == start:
            return tuple(loop)
        previous = loop[-1]
        loop.append(step)


FORESHORTENING_FULL = 0.85
"""A vertex keeps its full across motion while its room to the face's outline is at least this fraction of its
mirror partner's (both relative to the canonical face): a frontal face's two sides differ by up to about 15 %."""
FORESHORTENING_FLOOR = 0.15
"""The least fraction of across motion a vertex keeps, on a face turned so far that its outline crosses it."""
FORESHORTENING_SMOOTHING = 3
"""Passes of 1-ring averaging, so that neighbouring vertices (measured against different outline vertices) scale
alike."""


@dataclass(frozen=True)
class _Outline:
    """The canonical mesh's per-vertex tables :func:`foreshortening` measures against."""

    mirror: torch.Tensor  # 468: the vertex's mirror partner
    outline: torch.Tensor  # 468: the face-outline vertex on its side at its height
    room: torch.Tensor  # 468: its horizontal room to that outline vertex (IOD)
    side: torch.Tensor  # 468: -1 left, +1 right, 0 on the midline
    measurable: torch.Tensor  # 468: both rooms wide enough to compare and off the midline
    source: torch.Tensor  # E: the mesh's edges, both ways
    neighbour: torch.Tensor  # E
    ring_size: torch.Tensor  # 468: 1 + the number of neighbours (the 1-ring average's divisor)


@lru_cache(maxsize=1)
def _outline() -> _Outline:
    from miex.data.faces.canonical import canonical_face, canonical_triangles

    canonical = canonical_face()[:, :2]
    local = face_frame(canonical).to_local(canonical)
    mirrored = local * np.array([-1.0, 1.0])
    mirror = np.argmin(((local[None] - mirrored[:, None]) ** 2).sum(-1), axis=1)
    oval = np.array(face_oval())
    side = np.sign(local[:, 0])
    outline = np.arange(MESH_VERTICES)
    for vertex in range(MESH_VERTICES):
        candidates = oval[np.sign(local[oval, 0]) == side[vertex]] if side[vertex] else oval
        outline[vertex] = candidates[np.argmin(np.abs(local[candidates, 1] - local[vertex, 1]))]
    room = np.abs(local[outline, 0] - local[:, 0])
    measurable = (room >= 0.1) & (room[mirror] >= 0.1) & (np.abs(local[:, 0]) > 0.02)
    edges = {(int(a), int(b)) for tri in canonical_triangles() for a, b in zip(tri, np.roll(tri, 1), strict=True)}
    edges |= {(b, a) for a, b in edges}
    pairs = np.array(sorted(edges))
    ring_size = 1.0 + np.bincount(pairs[:, 0], minlength=MESH_VERTICES)
    return _Outline(
        *(torch.from_numpy(t) for t in (mirror, outline, room, side, measurable)),
        torch.from_numpy(pairs[:, 0]),
        torch.from_numpy(pairs[:, 1]),
        torch.from_numpy(ring_size),
    )


def foreshortening(local: torch.Tensor) -> torch.Tensor:
    """N x 468 factors for the across component of each vertex's motion; ``local``: the face's own mesh vertices in
    its face frame (N x 468 x 2, IOD units).

    The motion model is drawn on a frontal face. Turned by yaw, a vertex's horizontal room to the outline on its
    side shrinks on the far side and grows on the near one, in the ratio in which skin there is foreshortened; so
    a vertex keeps the fraction ``2a / (a + b)`` (over :data:`FORESHORTENING_FULL`, at most 1) of its across motion,
    ``a`` its room and ``b`` its mirror partner's, each over the canonical face's. A symmetric face keeps all of
    it; vertices on the midline or next to the outline are not measured (their neighbours' factors reach them by
    smoothing). Per-row arithmetic only."""
    tables = _outline()
    dtype = local.dtype
    room_here = (local[:, tables.outline, 0] - local[..., 0]) * tables.side.to(dtype) / tables.room.to(dtype)
    room_there = room_here[:, tables.mirror]
    total = room_here + room_there
    balance = torch.where(total > 1e-6, 2 * room_here / total.clamp_min(1e-6), (room_here > room_there).to(dtype) * 2)
    factor = (balance / FORESHORTENING_FULL).clamp(FORESHORTENING_FLOOR, 1.0)
    factor = torch.where(tables.measurable[None], factor, torch.ones_like(factor))
    for _ in range(FORESHORTENING_SMOOTHING):
        summed = torch.zeros_like(factor).index_add_(1, tables.source, factor[:, tables.neighbour])
        factor = (factor + summed) / tables.ring_size.to(dtype)
    return factor


class MeshWarp:
    """Backward sampling grids from source and target landmarks (pixels); topology cached per face."""

    def __init__(self) -> None:
        from miex.data.faces.canonical import canonical_triangles

        self.face_triangles = np.asarray(canonical_triangles(), dtype=np.int64)
        self._rings: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def grid(
        self,
        source: np.ndarray,
        target: np.ndarray,
        height: int,
        width: int,
        within: tuple[int, int, int, int] | None = None,
        quantum: float | None = None,
    ) -> np.ndarray:
        """(H, W, 2) normalised source position (``grid_sample`` convention) of every output pixel centre; with
        ``within = (x0, y0, x1, y1)`` only the pixels of that box are mapped (the rest keep their own position):
        a cheaper grid for a caller that reads only that box. ``quantum``: positions rounded to multiples of
        1 / quantum."""
        return self.grids(source[None], target[None], height, width, [within], quantum)[0]

    def grids(
        self,
        sources: np.ndarray,
        targets: np.ndarray,
        height: int,
        width: int,
        within: Sequence[tuple[int, int, int, int] | None] | None = None,
        quantum: float | None = None,
    ) -> np.ndarray:
        """:meth:`grid` of N rows (sources, targets: N x V x 2; ``within``: a box or None per row) -> N x H x W x 2.
        One rasterisation for all rows is cheaper than one per row; each row's grid is the same bytes as alone."""
        count = len(sources)
        boxes = np.array([(0, 0, width, height) if box is None else box for box in within or [None] * count])
        corners, images = [], []
        for image, (source, target) in enumerate(zip(sources, targets, strict=True)):
            border, triangles = self._ring(source, height, width)
            src = np.concatenate([source[:MESH_VERTICES], border])  # the border points never move
            dst = np.concatenate([target[:MESH_VERTICES], border])
            moved = np.abs(dst - src).max(axis=1) > 0
            chosen = triangles[moved[triangles].any(axis=1)]  # a still triangle maps every pixel to itself
            corners.append((dst[chosen], src[chosen]))
            images.append(np.full(len(chosen), image))
        grid = np.tile(_identity_grid(height, width, quantum), (count, 1))
        image_of = np.concatenate(images)  # per triangle to draw
        if len(image_of):
            target = np.concatenate([dst for dst, _ in corners])
            source = np.concatenate([src for _, src in corners])
            pixels, where = _rasterize(target, source, height, width, image_of, boxes[image_of])
            for axis, size in enumerate((width, height)):
                grid[pixels, axis] = _quantised(where[axis] / size * 2 - 1, quantum)
        return grid.reshape(count, height, width, 2)

    def _ring(self, source: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Border points (one per oval vertex, where the ray from the face centre through it meets the crop edge,
        plus the four corners) and all triangles: the face mesh, then the ring joining the oval to the border."""
        key = hashlib.sha1(np.ascontiguousarray(source[:MESH_VERTICES], np.float64).tobytes())
        key.update(np.array([height, width]).tobytes())
        cached = self._rings.get(key.digest())
        if cached is not None:
            self._rings.move_to_end(key.digest())
            return cached
        oval = np.asarray(face_oval())
        contour = source[oval].astype(np.float64)
        centre = source[:MESH_VERTICES].mean(axis=0)
        border = _to_border(centre, contour, height, width)
        corners = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
        base, count = MESH_VERTICES, len(oval)  # border point k of oval vertex k has index base + k; corners follow
        here, after = np.arange(count), (np.arange(count) + 1) % count
        a, b, ba, bb = oval, oval[after], base + here, base + after
        ring = np.stack([a, b, bb, a, bb, ba], 1).reshape(count, 2, 3)
        # a corner between two consecutive rays closes the gap: one triangle per such corner, after the pair
        closing = np.stack(np.broadcast_arrays(ba[:, None], bb[:, None], base + count + np.arange(4)), -1)
        drawn = np.concatenate([np.ones((count, 2), bool), _between(centre, border, border[after], corners)], 1)
        triangles = [self.face_triangles, np.concatenate([ring, closing], 1)[drawn]]
        result = (np.concatenate([border, corners]), np.concatenate(triangles))
        self._rings[key.digest()] = result
        if len(self._rings) > CACHE_FACES:
            self._rings.popitem(last=False)
        return result


def _quantised(values: np.ndarray, quantum: float | None) -> np.ndarray:
    return values if quantum is None else np.round(values * quantum) / quantum


@lru_cache(maxsize=8)
def _identity_grid(height: int, width: int, quantum: float | None) -> np.ndarray:
    """(H * W, 2) normalised positions of the pixel centres (read-only: callers copy it)."""
    xs = (np.arange(width) + 0.5) / width * 2 - 1
    ys = (np.arange(height) + 0.5) / height * 2 - 1
    grid = _quantised(np.stack(np.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2), quantum)
    grid.setflags(write=False)
    return grid


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed area of each triangle (T x 3 vertex indices) of ``points`` (V x 2, or N x V x 2 for N meshes)."""
    a, b, c = points[..., triangles[:, 0], :], points[..., triangles[:, 1], :], points[..., triangles[:, 2], :]
    return 0.5 * ((b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0]))


def untangle(source: np.ndarray, target: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """``target`` mesh vertices (V x 2, or N x V x 2 for N faces) with every fold removed: while a triangle keeps
    less than ``MIN_AREA_RATIO`` of its source area (or turns over), its corner that moves least is dragged towards
    the other two corners' mean shift just far enough to reopen it, and all three settle ``SETTLE`` towards their
    mean. Skin beside a strongly moving feature is carried with it; the feature itself keeps (nearly) all its
    motion. Unchanged when nothing folds. Faces are untangled together (cheaper) but independently: each face's
    result is the same bytes whichever faces share its call."""
    if source.ndim == 2:
        return untangle(source[None], target[None], triangles)[0]
    faces, vertices, _ = source.shape
    # flat indexing: face f's vertex v is row f * V + v of ``shift``, its triangle t is entry f * T + t of ``areas``
    corners_of = (np.arange(faces)[:, None, None] * vertices + triangles).reshape(-1, 3)
    before = signed_areas(source, triangles).ravel()
    usable = np.abs(before) > 1e-9
    reference = np.where(usable, before, 1.0)
    shift = (target - source).reshape(-1, 2)
    origin = source.reshape(-1, 2)
    placed = (origin + shift).T.copy()  # x, y where ``shift`` puts each vertex, kept up to date
    areas = signed_areas(target, triangles).ravel()
    around = _Incidence(triangles, vertices)
    for _ in range(FOLD_ROUNDS):
        # a sliver under a quarter pixel before and after cannot show: leave it (at the lip corners they are many)
        visible = np.maximum(np.abs(before), np.abs(areas)) >= VISIBLE_AREA
        folding = np.flatnonzero(usable & visible & (areas / reference < MIN_AREA_RATIO))  # per face, in order
        if not len(folding):
            break
        corners = corners_of[folding]  # F x 3 rows of ``shift``
        moves = shift[corners]  # F x 3 x 2
        rows = np.arange(len(corners))
        laggard = np.argmin(np.linalg.norm(moves, axis=-1), axis=1)
        towards = (moves.sum(axis=1) - moves[rows, laggard]) / 2 - moves[rows, laggard]
        # the area is linear in the laggard's position: step along the pull far enough to restore four times the
        # minimum area ratio (at most all the way; twice let neighbours fold it again, and the calibrated motions
        # took twice the rounds); a pull that cannot open the triangle is left to settling
        points = origin[corners] + moves
        edge = points[rows, (laggard + 2) % 3] - points[rows, (laggard + 1) % 3]
        rate = 0.5 * (edge[:, 0] * towards[:, 1] - edge[:, 1] * towards[:, 0])
        wanted = 4 * MIN_AREA_RATIO * before[folding] - areas[folding]
        draggable = rate * wanted > 0
        step = np.where(draggable, wanted / np.where(rate == 0, 1.0, rate), 0.0)
        pulls = np.zeros_like(moves)
        pulls[rows, laggard] = np.clip(step, 0.0, 1.0)[:, None] * towards
        # every corner also settles towards the triangle's mean shift: a little where the drag works, by half where
        # the corners cross each other (a lip corner going down past an upper-lip point going up) and no drag can
        settle = np.where(draggable, SETTLE, CROSSED_SETTLE)[:, None, None]
        pulls += settle * (moves.mean(axis=1, keepdims=True) - moves)
        flat, size = corners.ravel(), len(shift)
        count = np.bincount(flat, minlength=size)
        touched = np.flatnonzero(count)
        for axis in (0, 1):  # each vertex moves by the mean of its folding triangles' pulls
            total = np.bincount(flat, weights=pulls[..., axis].ravel(), minlength=size)
            shift[touched, axis] += total[touched] / count[touched]
        placed[:, touched] = (origin[touched] + shift[touched]).T
        changed = around.triangles_of(touched, faces)  # only these triangles' areas moved
        ends = corners_of[changed].T
        (ax, bx, cx), (ay, by, cy) = placed[0].take(ends), placed[1].take(ends)
        areas[changed] = 0.5 * ((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))
    return source + shift.reshape(faces, vertices, 2)


class _Incidence:
    """Which triangles (T x 3 vertex indices) use each of ``vertices`` vertices, for N faces of the same mesh."""

    def __init__(self, triangles: np.ndarray, vertices: int) -> None:
        self.count = len(triangles)
        corners = triangles.ravel()
        self.order = np.argsort(corners, kind="stable") // 3  # triangles grouped by vertex
        self.degree = np.bincount(corners, minlength=vertices)
        self.start = np.cumsum(self.degree) - self.degree
        self.vertices = vertices

    def triangles_of(self, rows: np.ndarray, faces: int) -> np.ndarray:
        """Sorted entries f * T + t of the triangles that use any of the vertex rows f * V + v (``rows``)."""
        face, vertex = np.divmod(rows, self.vertices)
        degree = self.degree[vertex]
        runs = np.cumsum(degree) - degree
        entries = self.order[np.arange(degree.sum()) + np.repeat(self.start[vertex] - runs, degree)]
        hit = np.zeros(faces * self.count, dtype=bool)
        hit[np.repeat(face, degree) * self.count + entries] = True
        return np.flatnonzero(hit)


def _to_border(centre: np.ndarray, points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Where each ray centre -> point (P x 2) leaves the crop rectangle [0, W] x [0, H] (the point itself if
    outside)."""
    direction = points - centre
    steps = []
    for axis, limit in ((0, width), (1, height)):
        toward = direction[:, axis]
        safe = np.where(np.abs(toward) > 1e-9, toward, 1.0)
        out = np.where(toward > 1e-9, (limit - centre[axis]) / safe, -centre[axis] / safe)
        steps.append(np.where(np.abs(toward) > 1e-9, out, np.inf))
    step = np.minimum(steps[0], steps[1])
    step = np.where(np.isinf(step), 1.0, step)  # a point at the centre stays
    return centre + direction * np.maximum(step, 1.0)[:, None]


def _between(centre: np.ndarray, first: np.ndarray, second: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """P x C: whether each of ``corners`` (C x 2) lies strictly inside the angle first-centre-second (P x 2 each,
    taken the short way round)."""

    def cross(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]

    a, b, c = (first - centre)[:, None], (second - centre)[:, None], (corners - centre)[None]
    turn = cross(a, b)
    sign = np.sign(turn)
    return (np.abs(turn) >= 1e-12) & (cross(a, c) * sign > 0) & (cross(c, b) * sign > 0)


def _rasterize(
    target: np.ndarray, source: np.ndarray, height: int, width: int, images: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Pixel centres covered by each target triangle (T x 3 x 2) and the matching source points (x, y: the
    triangle's affine map target -> source applied to them), as indices into N stacked H x W images (triangle k
    drawn in image ``images[k]``, only inside ``boxes[k]`` = (x0, y0, x1, y1)). Triangle by triangle, each in rows then
    columns: a pixel two triangles cover appears twice, the later triangle last."""
    (x0, y0), (x1, y1), (x2, y2) = target[:, 0].T, target[:, 1].T, target[:, 2].T
    left = np.maximum(np.ceil(np.minimum(np.minimum(x0, x1), x2) - 0.5).astype(np.int64), np.maximum(boxes[:, 0], 0))
    top = np.maximum(np.ceil(np.minimum(np.minimum(y0, y1), y2) - 0.5).astype(np.int64), np.maximum(boxes[:, 1], 0))
    right = np.minimum(
        np.floor(np.maximum(np.maximum(x0, x1), x2) - 0.5).astype(np.int64), boxes[:, 2].clip(max=width) - 1
    )
    bottom = np.minimum(
        np.floor(np.maximum(np.maximum(y0, y1), y2) - 0.5).astype(np.int64), boxes[:, 3].clip(max=height) - 1
    )
    # per triangle: barycentric coordinates l0, l1 as affine functions of (x, y), and the target -> source map
    denominator = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
    keep = (np.abs(denominator) > 1e-12) & (right >= left) & (bottom >= top)
    if not keep.any():
        return np.zeros(0, dtype=np.int64), (np.zeros(0), np.zeros(0))
    source, images = source[keep], images[keep]
    left, top, right, bottom = left[keep], top[keep], right[keep], bottom[keep]
    x0, y0, x1, y1, x2, y2, d = x0[keep], y0[keep], x1[keep], y1[keep], x2[keep], y2[keep], denominator[keep]
    a0, b0 = (y1 - y2) / d, (x2 - x1) / d
    c0 = -(a0 * x2 + b0 * y2)
    a1, b1 = (y2 - y0) / d, (x0 - x2) / d
    c1 = -(a1 * x2 + b1 * y2)
    # each pixel row of a triangle's box: only the columns near the triangle's span on it are tested
    lines = bottom - top + 1
    line_owner = np.repeat(np.arange(len(lines)), lines)
    line_y = np.arange(len(line_owner)) + np.repeat(top - (np.cumsum(lines) - lines), lines)
    first, last = _columns_on_line((a0, b0, c0), (a1, b1, c1), line_owner, line_y + 0.5, width, height)
    first = np.maximum(first, left[line_owner])
    last = np.minimum(last, right[line_owner])
    counts = np.maximum(last - first + 1, 0)
    owner = np.repeat(line_owner, counts)
    px = np.arange(len(owner)) + np.repeat(first - (np.cumsum(counts) - counts), counts)
    py = np.repeat(line_y, counts)
    x, y = px + 0.5, py + 0.5
    l0 = a0[owner] * x + b0[owner] * y + c0[owner]
    l1 = a1[owner] * x + b1[owner] * y + c1[owner]
    inside = (l0 >= 0) & (l1 >= 0) & (l0 + l1 <= 1)
    owner, l0, l1 = owner[inside], l0[inside], l1[inside]
    pixels = (images[owner] * height + py[inside]) * width + px[inside]
    # source = l0 * s0 + l1 * s1 + (1 - l0 - l1) * s2 = s2 + l0 (s0 - s2) + l1 (s1 - s2)
    where = []
    for axis in (0, 1):
        s0, s1, s2 = source[:, 0, axis], source[:, 1, axis], source[:, 2, axis]
        where.append(s2[owner] + l0 * (s0 - s2)[owner] + l1 * (s1 - s2)[owner])
    return pixels, (where[0], where[1])


SPAN_TOLERANCE = 1e-9
"""Relative to a triangle's barycentric scale: far above float64 rounding (1e-16), so a column the exact test could
pass is never skipped."""
_FAR = 1e9
"""A column bound that bounds nothing (finite, unlike infinity, so that ``0 * y + _FAR`` stays far)."""


def _columns_on_line(
    first: tuple[np.ndarray, np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray, np.ndarray],
    owner: np.ndarray,
    y: np.ndarray,
    width: int,
    height: int,
) -> tuple[np.ndarray, np.ndarray]:
    """First and last pixel column whose centre may lie in triangle ``owner`` on the pixel row at ``y``, from the
    triangles' barycentric coordinates ``a x + b y + c`` (``first``, ``second``; the third is one minus both). Along
    a row each coordinate is linear in x and bounds x on one side; the bound is widened far beyond the rounding of
    the exact test, and a coordinate nearly constant along the row bounds nothing."""
    (a0, b0, c0), (a1, b1, c1) = first, second
    scale = np.abs(a0) * width + np.abs(b0) * height + np.abs(c0) + np.abs(a1) * width + np.abs(b1) * height
    scale += np.abs(c1) + 1
    lower, upper = np.full(len(owner), -_FAR), np.full(len(owner), _FAR)
    for slope, step, level in ((a0, b0, c0), (a1, b1, c1), (-(a0 + a1), -(b0 + b1), 1 - c0 - c1)):
        steep = np.abs(slope) * (width + height) > SPAN_TOLERANCE * scale
        safe = np.where(steep, slope, 1.0)
        slack = SPAN_TOLERANCE * scale / np.abs(safe)
        # x >= (or <=) -(b y + c) / a on the row at y, widened by the slack: the line x = along * y + at
        along, at = -step / safe, -level / safe
        for bound, side, widen, pick in ((lower, slope > 0, -1, np.maximum), (upper, slope < 0, 1, np.minimum)):
            here = steep & side
            edge = np.where(here, along, 0.0).take(owner) * y
            edge += np.where(here, at + widen * slack, widen * _FAR).take(owner)
            pick(bound, edge, out=bound)
    bounds = np.clip(lower, -1.0, width + 1.0), np.clip(upper, -1.0, width + 1.0)
    return np.ceil(bounds[0] - 0.5).astype(np.int64), np.floor(bounds[1] - 0.5).astype(np.int64)
