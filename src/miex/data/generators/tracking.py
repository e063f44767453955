"""Pixel-level motion between two frames, measured by tracking image patches: an instrument that shares nothing with
the face mesh.

Re-detecting landmarks on a generated frame mixes two things: how far the face content moved, and how far the
landmarker's shape prior lets its mesh follow (MediaPipe's mesh barely follows cheek, nose and outer-brow motion, so
it under-reads motion that is plainly in the pixels). Tracking a small patch around each point from the input frame
into the output frame measures the first alone: normalised cross-correlation over a search window, refined to
sub-pixel precision by a parabola through the peak and its neighbours (Lewis 1995, "Fast normalized
cross-correlation"). Its own blind spots: patches that deform strongly (stretched lip corners) or are covered
(closing lids, a painted mouth cavity) track less than their centre moved; uniform skin gives a flat peak (such
points are dropped by the peak-strength threshold) or a spurious one far off (dropped by the round-trip check).
"""

from __future__ import annotations

import numpy as np

from miex.core.pixels import luma

MIN_PEAK = 0.6
"""Correlation a match must reach to count: below it the patch is too uniform or changed too much to locate."""
ROUND_TRIP = 1.0
"""Pixels a forward match, tracked back, may miss its starting point by and still count."""


def track_points(
    before: np.ndarray, after: np.ndarray, points: np.ndarray, *, radius: int, search: int
) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (N x 2, pixels) of the patch of half-size ``radius`` around each point of ``before`` (grey or
    RGB uint8) into ``after``, searched within +-``search`` pixels; and a mask of the points located reliably.

    A match counts only if it is also consistent backwards: the patch of ``after`` at the match, tracked back into
    ``before``, lands within :data:`ROUND_TRIP` pixels of the start. On weakly textured skin a small patch can
    correlate well with an unrelated spot of a large search window; such a match rarely survives the round trip
    (forward-backward error, Kalal et al. 2010)."""
    grey = [luma(before), luma(after)]
    moved = np.zeros((len(points), 2))
    found = np.zeros(len(points), dtype=bool)
    for k, start in enumerate(np.asarray(points, np.float64)):
        forward = _match(grey[0], grey[1], start, radius, search)
        if forward is None:
            continue
        back = _match(grey[1], grey[0], start + forward, radius, search)
        if back is None or float(np.hypot(*(forward + back))) > ROUND_TRIP:
            continue
        moved[k] = forward
        found[k] = True
    return moved, found


def _match(before: np.ndarray, after: np.ndarray, point: np.ndarray, radius: int, search: int) -> np.ndarray | None:
    """Sub-pixel displacement of the patch at ``point`` of ``before`` into ``after``; None if not located."""
    import cv2

    side_t, side_w = 2 * radius + 1, 2 * (radius + search) + 1
    x, y = float(point[0]), float(point[1])
    template = cv2.getRectSubPix(before, (side_t, side_t), (x, y))
    if float(template.std()) < 1.0:  # a flat patch has no position
        return None
    window = cv2.getRectSubPix(after, (side_w, side_w), (x, y))
    score = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
    _, peak, _, (px, py) = cv2.minMaxLoc(score)
    if peak < MIN_PEAK:
        return None
    dx = _vertex(score[py, px - 1], peak, score[py, px + 1]) if 0 < px < score.shape[1] - 1 else 0.0
    dy = _vertex(score[py - 1, px], peak, score[py + 1, px]) if 0 < py < score.shape[0] - 1 else 0.0
    return np.array([px + dx - search, py + dy - search])


def delivered_ratio(want: np.ndarray, got: np.ndarray) -> float | None:
    """Least-squares gain of ``got`` along ``want`` (1.0 = the intended motion, all of it): sum(w.g) / sum(w.w)."""
    want, got = np.asarray(want, np.float64), np.asarray(got, np.float64)
    energy = float((want * want).sum())
    return None if energy <= 0 else float((want * got).sum() / energy)


def _vertex(left: float, centre: float, right: float) -> float:
    """Offset of a parabola's vertex through three equally spaced samples (in [-0.5, 0.5] for a true peak)."""
    curvature = left - 2 * centre + right
    return 0.0 if abs(curvature) < 1e-9 else float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
