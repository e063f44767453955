"""What a smooth warp cannot do: occlusion at the lids and lips, and the skin cues FACS names.

- **Lids (AU45).** A closing lid covers the eye; it does not squeeze it. The upper lid's skin band slides down over
  the eye to a new lid line ``U + c (L - U)`` (``c`` = closure); below that line the eye is untouched. Monotone in
  ``c`` by construction, and the lid never crosses the lower lid (no fold-over).
- **Lids (AU05).** A raised lid uncovers the eye; it does not stretch it. The lid band rises (compressed under the
  fold by the mesh) with its lash margin; the eye stays where it was, and the strip it uncovers shows sclera (and
  iris inside the iris circle) in colours sampled from the visible eye.
- **Mouth (AU10, AU12, AU25, AU26, ...).** Teeth do not stretch with the lips: the upper teeth stay with the skull,
  the lower teeth drop with the jaw, and the cavity shows between them and wherever lips uncover a mouth that was
  closed.
- **Appearance.** Furrows and wrinkles as multiplicative shading laid out in the face frame around the moved
  landmarks: AU01/AU02 forehead wrinkles along the brows' arc, AU04 glabellar furrows, AU06 crow's feet, AU09
  nose-bridge wrinkles, AU10/AU12 nasolabial fold, AU14 dimples, AU17 chin-boss crease. Parameters live in the
  motion model's ``appearance`` section.

Every operation is per pixel, so results do not depend on batching. Reference: docs/reference.md §Warp generator.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from miex.core.pixels import LUMA_WEIGHTS
from miex.data.aus.motion import (
    AppearanceCue,
    BrowLines,
    ChinBoss,
    CrowsFeet,
    Dimple,
    FoldShading,
    Furrow,
    LidClosing,
    LidRaising,
    MouthSettings,
    Nasolabial,
    NoseWrinkle,
)
from miex.data.aus.schema import AU_INDEX, to_generator_scale
from miex.data.faces.mesh import LOWER_INNER_LIP, LOWER_LID, UPPER_INNER_LIP, UPPER_LID


class LocalFrames:
    """Per-sample face frames (origin, across, down, IOD in pixels) and the face-frame coordinates of the pixel
    centres of a box of the image (the whole image unless ``box = (y0, y1, x0, x1)``)."""

    def __init__(
        self, landmarks: torch.Tensor, height: int, width: int, box: tuple[int, int, int, int] | None = None
    ) -> None:
        left = landmarks[:, [33, 133]].mean(1)
        right = landmarks[:, [263, 362]].mean(1)
        axis = right - left
        self.iod = axis.norm(dim=-1).clamp_min(1e-6)  # N
        self.across = axis / self.iod[:, None]
        self.down = torch.stack([-self.across[:, 1], self.across[:, 0]], -1)
        self.origin = (left + right) / 2
        self.height, self.width = height, width
        self.box = box or (0, height, 0, width)
        self._landmarks = landmarks

    @property
    def box_shape(self) -> tuple[int, int]:
        y0, y1, x0, x1 = self.box
        return y1 - y0, x1 - x0

    @functools.cached_property
    def pixel_local(self) -> torch.Tensor:
        """N x P x 2 face-frame coordinates of the box's pixel centres (row-major)."""
        y0, y1, x0, x1 = self.box
        dtype, device = self._landmarks.dtype, self._landmarks.device
        ys = torch.arange(y0, y1, device=device, dtype=dtype) + 0.5
        xs = torch.arange(x0, x1, device=device, dtype=dtype) + 0.5
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        return self.to_local(torch.stack([grid_x, grid_y], -1).view(1, -1, 2))

    def around(self, points: torch.Tensor, margin: float) -> LocalFrames | None:
        """The same frames restricted to the box around ``points`` (N x M x 2 pixels) plus ``margin`` pixels;
        None when that box lies outside the image."""
        low = torch.floor(points.amin(dim=(0, 1)) - margin).long()
        high = torch.ceil(points.amax(dim=(0, 1)) + margin).long() + 1
        x0, y0 = max(int(low[0]), 0), max(int(low[1]), 0)
        x1, y1 = min(int(high[0]), self.width), min(int(high[1]), self.height)
        if x1 <= x0 or y1 <= y0:
            return None
        return LocalFrames(self._landmarks, self.height, self.width, (y0, y1, x0, x1))

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        y0, y1, x0, x1 = self.box
        return image[..., y0:y1, x0:x1]

    def to_local(self, points: torch.Tensor) -> torch.Tensor:
        centred = points - self.origin[:, None]
        u = (centred * self.across[:, None]).sum(-1)
        v = (centred * self.down[:, None]).sum(-1)
        return torch.stack([u, v], -1) / self.iod[:, None, None]

    def to_normalised(self, local: torch.Tensor) -> torch.Tensor:
        """Face-frame points (N x P x 2, IOD) -> ``grid_sample`` coordinates of the whole image."""
        scaled = local * self.iod[:, None, None]
        pixels = self.origin[:, None] + scaled[..., :1] * self.across[:, None] + scaled[..., 1:] * self.down[:, None]
        size = torch.tensor([self.width, self.height], device=local.device, dtype=local.dtype)
        return pixels / size * 2 - 1


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row-wise piecewise-linear interpolation (N x P at N x M knots); also whether x lies within the knots."""
    order = xp.argsort(dim=1)
    xp, fp = xp.gather(1, order), fp.gather(1, order)
    index = torch.searchsorted(xp.contiguous(), x.contiguous()).clamp(1, xp.shape[1] - 1)
    x0, x1 = xp.gather(1, index - 1), xp.gather(1, index)
    f0, f1 = fp.gather(1, index - 1), fp.gather(1, index)
    t = ((x - x0) / (x1 - x0).clamp_min(1e-9)).clamp(0, 1)
    inside = (x >= xp[:, :1]) & (x <= xp[:, -1:])
    return f0 + t * (f1 - f0), inside


def _slope(x: torch.Tensor, line: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """dy/dx of the polyline ``line`` (N x M x 2) at ``x`` (N x P), over ``step`` (N x 1) either side."""
    ahead, _ = _interp(x + step, line[..., 0], line[..., 1])
    behind, _ = _interp(x - step, line[..., 0], line[..., 1])
    return (ahead - behind) / (2 * step)


def _edge(distance: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """0..1 across an edge ``distance`` away (positive: inside), ramped over ``width`` centred on it."""
    return (distance / width + 0.5).clamp(0, 1)


def _smooth_step(value: torch.Tensor, width: float) -> torch.Tensor:
    return (value / width).clamp(0, 1)


def close_lids(
    image: torch.Tensor, target: torch.Tensor, frames: LocalFrames, closure: torch.Tensor, lids: LidClosing
) -> torch.Tensor:
    """Slide each upper lid down by ``closure`` (N, 0..1) of the lid opening; the eye below stays as it was."""
    band, lash, lash_width = lids.skin_band, lids.lash_darkening, lids.lash_width
    c = closure[:, None]
    result = image.clone()
    for side in ("left", "right"):
        upper_points, lower_points = target[:, list(UPPER_LID[side])], target[:, list(LOWER_LID[side])]
        margin = float(band * frames.iod.max()) + 2
        box = frames.around(torch.cat([upper_points, lower_points], 1), margin)
        if box is None:
            continue
        u, v = box.pixel_local[..., 0], box.pixel_local[..., 1]
        upper, lower = box.to_local(upper_points), box.to_local(lower_points)
        upper_v, inside = _interp(u, upper[..., 0], upper[..., 1])
        lower_v, _ = _interp(u, lower[..., 0], lower[..., 1])
        opening = (lower_v - upper_v).clamp_min(0)
        lid = upper_v + c * opening
        covered = inside & (v >= upper_v - band) & (v <= lid)
        stretched = upper_v - band + (v - upper_v + band) * band / (lid - upper_v + band)
        edge = torch.exp(-((v - lid) ** 2) / (2 * lash_width**2)) * inside
        shade = 1 - lash * (c * 3).clamp(max=1) * edge * (opening > 0)
        height, width = box.box_shape
        grid = box.to_normalised(torch.stack([u, stretched], -1)).view(-1, height, width, 2)
        slid = torch.nn.functional.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
        region = box.crop(result)
        mask = covered.view(-1, 1, height, width)
        region.copy_(torch.where(mask, slid, region) * shade.view(-1, 1, height, width))
    return result


SCLERA_FRACTIONS = (0.1, 0.25, 0.4, 0.55)
"""Where the sclera is sampled: these fractions of the way from the iris edge to each eye corner, on the midline."""
SCLERA_KEEP = 3
"""How many of the brightest sclera samples are averaged."""
IRISES = ((468, (469, 470, 471, 472)), (473, (474, 475, 476, 477)))
"""MediaPipe's iris landmarks: centre and the four boundary points, one iris per eye."""


def _sample(image: torch.Tensor, frames: LocalFrames, local: torch.Tensor) -> torch.Tensor:
    """Bilinear colours (N x 3 x K) of ``image`` at face-frame points (N x K x 2): a fixed handful per row."""
    grid = frames.to_normalised(local)[:, None]
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)[:, :, 0]


def raise_lids(
    image: torch.Tensor,
    eye: torch.Tensor,
    rest: torch.Tensor,
    target: torch.Tensor,
    frames: LocalFrames,
    lids: LidRaising,
) -> torch.Tensor:
    """Raise each upper lid from ``rest`` (the lid line without AU05) to ``target``'s lid line without moving the eye.

    ``image`` is the full warp (its lid band slid up and compressed under the fold); ``eye`` is the warp without the
    raise, whose eye interior is shown unmoved below its own lid line. The lid margin (``shadow_band`` IOD of lashes
    and their shadow just inside the lid line) moves up with the lid; the strip it uncovers shows the eyeball that
    was under the lid: sclera (colour sampled beside the iris) and, inside the iris circle, the iris (colour sampled
    from its visible sides), lightly shaded under the lashes."""
    lash, lash_width, shadow = lids.lash_shadow, lids.lash_shadow_width, lids.shadow_band
    result = image.clone()
    for side in ("left", "right"):
        upper_index, lower_index = list(UPPER_LID[side]), list(LOWER_LID[side])
        upper_points, lower_points = target[:, upper_index], target[:, lower_index]
        rest_points = rest[:, upper_index]
        box = frames.around(torch.cat([upper_points, lower_points, rest_points], 1), 2.0)
        if box is None:
            continue
        u, v = box.pixel_local[..., 0], box.pixel_local[..., 1]
        upper, lower, before = box.to_local(upper_points), box.to_local(lower_points), box.to_local(rest_points)
        lid_v, inside = _interp(u, upper[..., 0], upper[..., 1])
        rest_v, _ = _interp(u, before[..., 0], before[..., 1])
        lower_v, _ = _interp(u, lower[..., 0], lower[..., 1])
        rise = (rest_v - lid_v).clamp_min(0)
        margin = torch.full_like(rise, shadow)
        pixel = 1 / frames.iod[:, None]  # edges are anti-aliased over one pixel
        below_lid = _edge(v - lid_v, pixel) * _edge(lower_v - v, pixel) * inside
        # the lid margin (lashes and their shadow, just inside the lid line) rises with the lid; below it, the strip
        # the lid uncovered; then the unmoved eye. At rise 0 this is the unraised eye exactly.
        carried = _edge(lid_v + margin - v, pixel)
        strip = _edge(rest_v + margin - v, pixel) * (rise / pixel).clamp(max=1)
        # the iris of this eye: the one nearer the eye's centre (MediaPipe's iris order is not the image side)
        centre_eye = (upper[:, 0] + upper[:, -1]) / 2
        irises = [(box.to_local(target[:, [c]])[:, 0], box.to_local(target[:, list(ring)])) for c, ring in IRISES]
        near = ((irises[0][0] - centre_eye).norm(dim=-1) <= (irises[1][0] - centre_eye).norm(dim=-1))[:, None]
        iris_centre = torch.where(near, irises[0][0], irises[1][0])
        ring = torch.where(near[:, None], irises[0][1], irises[1][1])
        radius = (ring - iris_centre[:, None]).norm(dim=-1).mean(1)  # N (IOD)
        sclera, iris = _eye_colours(eye, box, (before, lower), iris_centre, radius)  # the unraised eye
        distance = (box.pixel_local - iris_centre[:, None]).norm(dim=-1)
        in_iris = _edge(radius[:, None] - distance, pixel)
        # the margin carries lashes, not the iris under them: the iris stays where it is
        lifted_from = torch.stack([u, v + rise], -1)
        from_iris = _edge(radius[:, None] - (lifted_from - iris_centre[:, None]).norm(dim=-1), pixel)
        carried = carried * (1 - from_iris)
        fill = sclera[..., None] + (iris - sclera)[..., None] * in_iris[:, None]
        shade = 1 - lash * torch.exp(-(v - lid_v - margin).clamp_min(0) / lash_width)  # the lashes' shadow
        fill = (fill * shade[:, None]).view(-1, 3, *box.box_shape)
        shape = (-1, 1, *box.box_shape)
        region, unraised = box.crop(result), box.crop(eye)
        lifted = _sample(eye, frames, lifted_from).view(-1, 3, *box.box_shape)
        # lerp is exact at weights 0 and 1: the unmoved eye stays the input, bit for bit
        content = torch.lerp(torch.lerp(unraised, fill, strip.view(shape)), lifted, carried.view(shape))
        region.copy_(torch.lerp(region, content, below_lid.view(shape)))
    return result


def _eye_colours(
    eye: torch.Tensor,
    box: LocalFrames,
    lids: tuple[torch.Tensor, torch.Tensor],
    centre: torch.Tensor,
    radius: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sclera and iris colours (N x 3 each) of the unraised eye, from a fixed handful of samples per row (so a row's
    colours never depend on its batch): the brightest few below the midline beside the iris, and the iris's sides."""
    upper, lower = lids
    corners_u = torch.stack([upper[:, 0, 0], upper[:, -1, 0]], 1)  # N x 2
    edges = centre[:, :1] + torch.where(corners_u > centre[:, :1], radius[:, None], -radius[:, None])
    fractions = torch.tensor(SCLERA_FRACTIONS, device=eye.device, dtype=centre.dtype)
    sclera_u = (edges[:, :, None] + fractions * (corners_u - edges)[:, :, None]).flatten(1)  # N x 2F
    top, _ = _interp(sclera_u, upper[..., 0], upper[..., 1])
    bottom, _ = _interp(sclera_u, lower[..., 0], lower[..., 1])
    samples = _sample(eye, box, torch.stack([sclera_u, top + 0.55 * (bottom - top)], -1))  # N x 3 x 2F
    # the sclera is the brightest thing on the eye's midline beside the iris (lashes and corners are darker)
    brightest = samples.sum(1).topk(SCLERA_KEEP, dim=1).indices
    sclera = samples.gather(2, brightest[:, None].expand(-1, 3, -1)).mean(-1)
    angles = torch.tensor([0.0, math.pi, 0.5, math.pi - 0.5], device=eye.device, dtype=centre.dtype)
    spots = centre[:, None] + 0.7 * radius[:, None, None] * torch.stack([angles.cos(), angles.sin()], -1)[None]
    iris = _sample(eye, box, spots).mean(-1)
    return sclera, iris


JAW = 152
"""The chin tip: it moves with the mandible, and so do the lower teeth."""
PROBES = 12
"""Samples per column of the middle of the input's mouth opening searched for the line where the teeth meet."""
CORRIDOR_DARKNESS = 0.8
"""How dark the opening gets at the corners of a mouth that widened (1: the cavity colour)."""
COLUMNS = 24
"""Columns across the mouth on which that line is found (and interpolated between)."""


def _teeth_line(
    face: torch.Tensor, box: LocalFrames, u: torch.Tensor, lips: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """Per pixel (at face-frame columns ``u``, N x P), the row where the upper and lower teeth meet in the input's
    mouth opening between its inner ``lips`` (N x M x 2 each): a dark gap clearly below the opening's typical
    brightness, searched in its middle (the lips' own shadows on the teeth are dark too) by a soft minimum over
    ``PROBES`` samples on each of ``COLUMNS`` columns; without such a gap only upper teeth show, and they meet the
    lower lip."""
    upper, lower = lips
    left = torch.minimum(upper[..., 0].amin(1), lower[..., 0].amin(1))
    right = torch.maximum(upper[..., 0].amax(1), lower[..., 0].amax(1))
    steps = torch.linspace(0, 1, COLUMNS, dtype=u.dtype, device=u.device)
    columns = left[:, None] + (right - left)[:, None] * steps  # N x C
    top, _ = _interp(columns, upper[..., 0], upper[..., 1])
    bottom, _ = _interp(columns, lower[..., 0], lower[..., 1])
    fractions = 1 / 3 + (torch.arange(PROBES, dtype=u.dtype, device=u.device) + 0.5) / PROBES / 2
    rows = top[..., None] + (bottom - top)[..., None] * fractions  # N x C x K
    points = torch.stack([columns[..., None].expand_as(rows), rows], -1).flatten(1, 2)
    grid = box.to_normalised(points)[:, None]
    samples = F.grid_sample(face, grid, mode="bilinear", padding_mode="border", align_corners=False)[:, :, 0]
    brightness = samples.mean(1).view(rows.shape)
    gap = (torch.softmax(-brightness / 0.03, dim=-1) * rows).sum(-1)
    depth = brightness.median(dim=-1).values - brightness.amin(dim=-1)
    clear = ((depth - 0.08) / 0.08).clamp(0, 1)  # how clearly a gap shows (0.08 to 0.16 darker than typical)
    line, _ = _interp(u, columns, torch.lerp(bottom, gap, clear))
    return line


def redraw_mouth(
    image: torch.Tensor,
    face: torch.Tensor,
    source: torch.Tensor,
    target: torch.Tensor,
    frames: LocalFrames,
    mouth: MouthSettings,
    colourful: torch.Tensor,
) -> torch.Tensor:
    """Redraw the mouth opening the way teeth move: the upper teeth stay with the skull, the lower teeth go down with
    the jaw (the chin's drop), and the mouth cavity fills the space that opens between them; lips parting over a
    mouth that was closed uncover drawn upper teeth (``mouth.teeth_colour``), then cavity. Under a raised upper lip
    the upper teeth show taller. Lips that move together (a smile, a stretch) carry the opening with them. ``image``
    is the warp (its lips are kept), ``face`` the input, whose interior this shows unstretched; the warp alone
    stretches teeth with the lips. ``colourful``: :func:`colourfulness` of each input face (a grey face gets a grey
    interior)."""
    upper_index, lower_index = list(UPPER_INNER_LIP), list(LOWER_INNER_LIP)
    box = frames.around(torch.cat([target[:, upper_index], target[:, lower_index]], 1), 2.0)
    if box is None:
        return image
    u, v = box.pixel_local[..., 0], box.pixel_local[..., 1]
    upper, lower = _rounded(box.to_local(target[:, upper_index])), _rounded(box.to_local(target[:, lower_index]))
    upper0, lower0 = box.to_local(source[:, upper_index]), box.to_local(source[:, lower_index])
    upper_v, inside = _interp(u, upper[..., 0], upper[..., 1])
    lower_v, _ = _interp(u, lower[..., 0], lower[..., 1])
    # the input's column under each output column: the opening stretched from the input's corners to the output's
    # (lips pulled sideways or up carry the parted lens with them; only parting lips uncover what the input hid)
    (left, right), (left0, right0) = _corners((upper, lower)), _corners((upper0, lower0))
    u0 = left0 + (u - left) * (right0 - left0) / (right - left).clamp_min(1e-6)
    # the teeth do not widen with the mouth: the opening beyond the input's half-width is the dark space between
    # the teeth and the cheeks (the buccal corridor of a broad smile), darker towards the corners
    half, half0 = (right - left) / 2, (right0 - left0) / 2
    middle = (left + right) / 2
    corridor = ((torch.abs(u - middle) - half0) / (half - half0).clamp_min(1e-6)).clamp(0, 1)
    upper0_v, _ = _interp(u0, upper0[..., 0], upper0[..., 1])
    lower0_v, _ = _interp(u0, lower0[..., 0], lower0[..., 1])
    # where both lips move the same way (a smile lifts, a stretch lowers the corners), the lens and what shows
    # in it go along by the smaller of the two motions; only the rest parts or closes the lips
    lift, drop = upper_v - upper0_v, lower_v - lower0_v
    along = torch.where(lift * drop > 0, torch.where(lift > 0, torch.minimum(lift, drop), torch.maximum(lift, drop)), 0)
    upper0_v, lower0_v = upper0_v + along, lower0_v + along
    jaw = (box.to_local(target[:, [JAW]]) - box.to_local(source[:, [JAW]]))[:, :, 1].clamp_min(0)  # N x 1
    pixel = 1 / frames.iod[:, None]
    teeth_meet = _teeth_line(face, box, u0, (upper0, lower0)) + along
    # open or closed is the whole mouth's state: decided per column, a parted lens flickers between the input's
    # teeth and drawn cavity column by column
    was_open = (((lower0_v - upper0_v) * inside).amax(1, keepdim=True) >= mouth.open_gap).to(v.dtype)
    # where each output pixel finds its content in the input. Upper teeth stay in place; under a raised upper lip
    # they are taller than the opening showed, so the part above the line where they meet is stretched up to the lip
    # (anchored at that line; a lowered lip just covers them). Lower teeth are shifted by the jaw.
    reach = (teeth_meet - upper_v).clamp_min(pixel)
    stretch = ((teeth_meet - upper0_v) / reach).clamp(0, 1)
    in_upper = v < teeth_meet + jaw / 2
    came_from = torch.where(in_upper, teeth_meet - (teeth_meet - v).clamp_min(0) * stretch, v - jaw)
    # below the input's lower lip line lie teeth it never showed (where the lower lip moved down at all, the last
    # 1.5 pixels above that line are its blurred edge, not teeth); over a mouth that was closed, all is cavity but
    # the upper teeth drawn below
    dropped = ((lower_v - lower0_v) / (0.2 * pixel)).clamp(0, 1)
    # both edges fade over a pixel, widened where the lip line is steep (a hard edge steps from column to column)
    above = _edge(upper0_v - v, pixel * (1 + _slope(u0, upper0, pixel).abs()))
    below = _edge(came_from - (lower0_v - 1.5 * pixel * dropped), pixel * (1 + _slope(u0, lower0, pixel).abs()))
    came_from = torch.minimum(came_from, lower0_v)
    edge = mouth.edge
    gap_band = _smooth_step(v - teeth_meet, edge) * _smooth_step(teeth_meet + jaw - v, edge)
    # what the input never showed is dark in proportion to how far the lips parted over it: a parting under two
    # pixels (the lens of a stretched mouth) shades its edge instead of opening a black slit
    parting = ((lower_v - upper_v - (lower0_v - upper0_v)) / (2 * pixel)).clamp(0, 1)
    hidden = torch.maximum(below, above * (1 - was_open)) * parting
    cavity = torch.maximum(torch.maximum(gap_band, hidden), CORRIDOR_DARKNESS * corridor * was_open)
    # the share of each pixel the opening covers: a parting thinner than a pixel darkens its pixels only by its
    # width (a lens-shaped sliver at the corners reads as a soft lip line, not black stair-steps), and a steep lip
    # edge fades over the rows it crosses within a pixel's width instead of stepping from row to row
    reach_up = pixel * (1 + _slope(u, upper, pixel).abs())
    reach_down = pixel * (1 + _slope(u, lower, pixel).abs())
    top, bottom = torch.maximum(upper_v, v - reach_up / 2), torch.minimum(lower_v, v + reach_down / 2)
    opening = (2 * (bottom - top) / (reach_up + reach_down)).clamp(0, 1) * inside
    height, width = box.box_shape
    grid = box.to_normalised(torch.stack([u0, came_from - along], -1)).view(-1, height, width, 2)
    teeth = F.grid_sample(face, grid, mode="bilinear", padding_mode="border", align_corners=False)
    shape = (-1, 1, height, width)
    colour = _cavity_colour(mouth, (v - upper_v, lower_v - upper_v), shape, image, colourful)
    interior = torch.lerp(teeth, colour, cavity.view(shape))
    if mouth.teeth_colour is not None:  # lips parting over a closed mouth uncover upper teeth the input never showed
        uncovered = (1 - was_open) * _edge(lower0_v + TEETH_SHOW - v, pixel) * _edge(v - upper_v, pixel)
        unseen = _unseen_teeth(mouth, (v - upper_v, u - middle), box.crop(face), shape, colourful)
        interior = torch.lerp(interior, unseen, uncovered.view(shape))
    result = image.clone()
    region = box.crop(result)
    region.copy_(torch.lerp(region, interior, opening.view(shape)))
    return result


TEETH_SHOW = 0.03
"""IOD: how far the upper incisors reach below the line where closed lips meet (about 2 mm at rest)."""
TOOTH_EDGES = (0.0, 0.085, 0.155, 0.215)
"""Where the upper teeth meet, IOD from the midline (central and lateral incisors, canines; about 8.5, 7 and 6 mm
wide at 63 mm IOD)."""


def _unseen_teeth(
    mouth: MouthSettings,
    where: tuple[torch.Tensor, torch.Tensor],
    around: torch.Tensor,
    shape: tuple[int, ...],
    colourful: torch.Tensor,
) -> torch.Tensor:
    """Upper teeth (N x 3 x H x W) for a mouth whose input showed none: ``mouth.teeth_colour`` as lit as the skin
    and lips ``around`` the mouth (teeth in a dim photograph are grey, not white), in the upper lip's shadow just
    below it and with a faint line where two teeth meet. ``where``: each pixel's depth below the upper inner lip
    and its distance from the mouth's midline (IOD)."""
    below_lip, across = where
    colour = in_face_colours(torch.tensor(mouth.teeth_colour, dtype=around.dtype, device=around.device), colourful)
    light = ((around * around.new_tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)).sum(1).mean((1, 2)) / 0.55).clamp(0.5, 1.1)
    shade = 1 - 0.6 * torch.exp(-below_lip.clamp_min(0) / (2 * mouth.edge))
    for edge in TOOTH_EDGES:
        for side in (-1.0, 1.0) if edge else (1.0,):
            shade = shade - 0.07 * _gauss(across - side * edge, mouth.edge)
    return (colour * light[:, None]).view(-1, 3, 1, 1) * shade.view(shape)


def _corners(lips: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Leftmost and rightmost face-frame column (N x 1) of the inner ``lips`` (upper, lower: N x M x 2 each)."""
    ends = torch.cat([lips[0][..., 0], lips[1][..., 0]], 1)
    return ends.amin(1, keepdim=True), ends.amax(1, keepdim=True)


def _rounded(polyline: torch.Tensor, passes: int = 2) -> torch.Tensor:
    """Corner cutting (Chaikin) of lip contours (N x M x 2), ends kept: an opening drawn between straight segments
    of 11 landmarks shows polygon corners at 128 px."""
    for _ in range(passes):
        a, b = polyline[:, :-1], polyline[:, 1:]
        cut = torch.stack([0.75 * a + 0.25 * b, 0.25 * a + 0.75 * b], 2).flatten(1, 2)
        polyline = torch.cat([polyline[:, :1], cut, polyline[:, -1:]], 1)
    return polyline


def _cavity_colour(
    mouth: MouthSettings,
    span: tuple[torch.Tensor, torch.Tensor],
    shape: tuple[int, ...],
    image: torch.Tensor,
    colourful: torch.Tensor,
) -> torch.Tensor:
    """The mouth interior (N x 3 x H x W): dark under the upper lip, where the lip shades it, turning towards the
    tongue's colour near the lower lip of a wide opening (a narrow parting stays dark); grey on a greyscale face
    (``colourful``, :func:`colourfulness`). ``span``: each pixel's depth below the upper inner lip and the opening's
    height there, in IOD."""
    below_upper, height = span
    dark = torch.tensor(mouth.cavity_colour, dtype=image.dtype, device=image.device)
    tongue = torch.tensor(mouth.tongue_colour or mouth.cavity_colour, dtype=image.dtype, device=image.device)
    depth = (below_upper / height.clamp_min(1e-6)).clamp(0, 1)
    wide = (height / mouth.wide_opening).clamp(0, 1)
    towards_tongue = (wide * ((depth - 0.5) * 2).clamp(0, 1) ** 1.5).view(shape)
    dark, tongue = in_face_colours(dark, colourful), in_face_colours(tongue, colourful)
    return torch.lerp(dark[:, :, None, None], tongue[:, :, None, None], towards_tongue)


def _gauss(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return torch.exp(-(x**2) / (2 * sigma**2))


def _distance_to_segment(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance of points p (N x P x 2) to segments a->b (N x 2)."""
    ab = (b - a)[:, None]
    t = (((p - a[:, None]) * ab).sum(-1) / (ab**2).sum(-1).clamp_min(1e-9)).clamp(0, 1)
    return (p - a[:, None] - t[..., None] * ab).norm(dim=-1)


Site = tuple[torch.Tensor, float, Callable[[torch.Tensor], torch.Tensor]]
"""Where a cue is drawn: landmarks (N x M x 2 pixels) bounding it, a margin (IOD) and the pattern as a function of
face-frame pixel coordinates (N x P x 2)."""


def appearance_shading(
    target: torch.Tensor, frames: LocalFrames, aus: torch.Tensor, cues: dict[str, AppearanceCue]
) -> torch.Tensor | None:
    """Darkening (N x 1 x H x W, for :func:`shade`) of the appearance cues of ``aus``; None when no cue is active.

    Each cue is drawn only in the box around its landmarks (a pattern is negligible beyond its margin)."""
    count, height, width = target.shape[0], frames.height, frames.width
    darkening = torch.zeros(count, height, width, dtype=target.dtype, device=target.device)
    line = (0.7 / frames.iod)[:, None]  # crease half-width: 0.7 px of the grid the shading is computed on
    active = False
    for au, cue in cues.items():
        weight = to_generator_scale(aus[:, AU_INDEX[au]])
        if not bool((weight > 0).any()):
            continue
        active = True
        for points, margin, draw in _CUES[type(cue)](cue, target, frames, line):
            box = frames.around(points, margin * float(frames.iod.max()))
            if box is None:
                continue
            y0, y1, x0, x1 = box.box
            pattern = draw(box.pixel_local).clamp(max=1).view(count, y1 - y0, x1 - x0)
            pattern = pattern * _own_box(points, margin * frames.iod, box)  # never the batch's union of boxes
            darkening[:, y0:y1, x0:x1] += cue.strength * weight[:, None, None] * pattern
    if not active:
        return None
    return darkening.view(-1, 1, height, width)


def fold_darkening(grid: torch.Tensor, folds: FoldShading) -> torch.Tensor:
    """Darkening (N x 1 x H x W) where the warp compresses skin: compressed skin bunches into a fold whose floor is
    in shadow (under a lowered brow, beside a smile's corners), instead of showing the compressed band's own
    highlight as a bright sliver. ``grid`` is the warp's backward ``grid_sample`` grid (N x H x W x 2); its
    Jacobian determinant is the source area each output pixel shows (1 where skin is untouched, 2 where skin is
    squeezed to half). From ``above`` to ``full`` it darkens linearly up to ``strength``; measured on every other
    pixel (of an even-sized frame), smoothed there by a 5-tap binomial filter (the determinant is constant per mesh
    triangle) and upsampled. Per-row arithmetic only, so a row's result never depends on its batch."""
    strength, above, full = folds.strength, folds.above, folds.full
    _, height, width, _ = grid.shape
    step = 2 if height % 2 == 0 and width % 2 == 0 else 1  # smooth: measured and blurred at half resolution
    coarse = grid[:, ::step, ::step]
    scale = torch.tensor([width / 2 / step, height / 2 / step], dtype=grid.dtype, device=grid.device)
    pixels = coarse * scale  # source pixels per coarse output pixel
    (down, across) = torch.gradient(pixels, dim=(1, 2))  # central, one-sided at the edges
    squeeze = across[..., 0] * down[..., 1] - across[..., 1] * down[..., 0]
    darkening = (strength * ((squeeze - above) / (full - above)).clamp(0, 1))[:, None]
    if not bool((darkening > 0).any()):
        return torch.zeros(len(grid), 1, height, width, dtype=grid.dtype, device=grid.device)
    for _ in range(3 - step):
        darkening = _binomial(_binomial(darkening, dim=2), dim=3)
    if step == 1:
        return darkening
    return F.interpolate(darkening, size=(height, width), mode="bilinear", align_corners=False)


def _binomial(values: torch.Tensor, dim: int) -> torch.Tensor:
    """A 5-tap [1, 4, 6, 4, 1] / 16 filter along ``dim`` (edges repeated), as a sum of shifted copies."""
    size = values.shape[dim]
    padded = torch.cat([values.narrow(dim, 0, 1)] * 2 + [values] + [values.narrow(dim, -1, 1)] * 2, dim)
    taps = (1.0, 4.0, 6.0, 4.0, 1.0)
    total = padded.narrow(dim, 0, size) * taps[0]
    for offset, weight in enumerate(taps[1:], 1):
        total = total + padded.narrow(dim, offset, size) * weight
    return total / 16


COLOURFUL_CHROMA = 0.15
"""Chroma (max - min over max of a face's mean RGB) from which a face counts as fully in colour; skin in colour
photos lies well above it, a greyscale face (SAMM, old photos) at 0."""


def colourfulness(faces: torch.Tensor) -> torch.Tensor:
    """Per face (N x 3 x H x W), 0 for greyscale up to 1 for a face in colour: how much of the skin's colour the
    shadows and the mouth interior may show. A grey face must not get red-brown shadows or a maroon mouth."""
    mean = faces.mean(dim=(2, 3))
    brightest = mean.amax(1)
    chroma = (brightest - mean.amin(1)) / brightest.clamp_min(1e-6)
    return (chroma / COLOURFUL_CHROMA).clamp(0, 1)


def in_face_colours(colours: torch.Tensor, colourful: torch.Tensor) -> torch.Tensor:
    """``colours`` (3 or N x 3) as a face of that ``colourfulness`` (N) shows them: their own grey (BT.601 luma)
    on a greyscale face, themselves on a face in colour (N x 3)."""
    grey = (colours * colours.new_tensor(LUMA_WEIGHTS)).sum(-1, keepdim=True).expand_as(colours)
    return torch.lerp(grey, colours, colourful[:, None].to(colours.dtype))


def shade(frames: torch.Tensor, darkening: torch.Tensor, tint: list[float], colourful: torch.Tensor) -> torch.Tensor:
    """Multiply ``frames`` (N x 3 x H x W) by ``1 - tint · darkening``: skin in shadow turns deeper and redder (light
    under the surface scatters back reddened), not grey, so blue darkens more than red (``tint`` per channel). On a
    greyscale face (``colourful`` 0, :func:`colourfulness`) every channel darkens alike, by the tint's mean."""
    weights = frames.new_tensor(tint)
    neutral = weights.mean().expand(3)
    per_face = torch.lerp(neutral[None], weights[None], colourful[:, None].to(frames.dtype)).view(-1, 3, 1, 1)
    return frames * (1 - darkening.clamp(max=0.6) * per_face)


def _own_box(points: torch.Tensor, margin: torch.Tensor, box: LocalFrames) -> torch.Tensor:
    """N x h x w mask of each row's own box inside the shared ``box``: a row's shading must not depend on which
    other rows share its batch (and so widen the shared box)."""
    y0, y1, x0, x1 = box.box
    low = points.amin(dim=1) - margin[:, None]
    high = points.amax(dim=1) + margin[:, None]
    xs = torch.arange(x0, x1, device=points.device, dtype=points.dtype) + 0.5
    ys = torch.arange(y0, y1, device=points.device, dtype=points.dtype) + 0.5
    inside_x = (xs[None] >= low[:, :1]) & (xs[None] <= high[:, :1])
    inside_y = (ys[None] >= low[:, 1:]) & (ys[None] <= high[:, 1:])
    return (inside_y[:, :, None] & inside_x[:, None, :]).to(points.dtype)


def _furrow(cue: Furrow, target: torch.Tensor, frames: LocalFrames, line: torch.Tensor) -> list[Site]:
    sites = []
    lines, spacing, length = cue.lines, cue.spacing, cue.length
    for a, b in cue.between:
        centre = frames.to_local(target[:, [a, b]]).mean(1)

        def draw(p: torch.Tensor, centre: torch.Tensor = centre) -> torch.Tensor:
            du, dv = p[..., 0] - centre[:, None, 0], p[..., 1] - centre[:, None, 1]
            offsets = [(k - (lines - 1) / 2) * spacing for k in range(lines)]
            return sum(_gauss(du - o, line) for o in offsets) * _gauss(dv, length / 2)

        sites.append((target[:, [a, b]], length + spacing * lines, draw))
    return sites


def _nose_wrinkle(cue: NoseWrinkle, target: torch.Tensor, frames: LocalFrames, line: torch.Tensor) -> list[Site]:
    lines, spacing, length = cue.lines, cue.spacing, cue.length
    centre = frames.to_local(target[:, list(cue.along)]).mean(1)

    def draw(p: torch.Tensor) -> torch.Tensor:
        du, dv = p[..., 0] - centre[:, None, 0], p[..., 1] - centre[:, None, 1]
        offsets = [(k - (lines - 1) / 2) * spacing for k in range(lines)]
        return sum(_gauss(dv - o, line) for o in offsets) * _gauss(du, length / 2)

    return [(target[:, list(cue.along)], length + spacing * lines, draw)]


def _crows_feet(cue: CrowsFeet, target: torch.Tensor, frames: LocalFrames, line: torch.Tensor) -> list[Site]:
    spread, length, lines = math.radians(cue.spread_degrees), cue.length, cue.lines
    sites = []
    for landmark in cue.at:
        corner = frames.to_local(target[:, [landmark]])[:, 0]
        outward = -1.0 if landmark == cue.at[0] else 1.0

        def draw(p: torch.Tensor, corner: torch.Tensor = corner, outward: float = outward) -> torch.Tensor:
            du, dv = (p[..., 0] - corner[:, None, 0]) * outward, p[..., 1] - corner[:, None, 1]
            pattern = torch.zeros_like(du)
            for k in range(lines):
                angle = -spread / 2 + spread * k / max(lines - 1, 1)
                along = du * math.cos(angle) + dv * math.sin(angle)
                across = -du * math.sin(angle) + dv * math.cos(angle)
                reach = _smooth_step(along - 0.02, 0.02) * _smooth_step(length - along, 0.03)
                pattern = pattern + _gauss(across, line) * reach
            return pattern

        sites.append((target[:, [landmark]], length + 0.05, draw))
    return sites


def _nasolabial(cue: Nasolabial, target: torch.Tensor, frames: LocalFrames, line: torch.Tensor) -> list[Site]:
    width = cue.width
    sites = []
    for start, end in zip(cue.start, cue.end, strict=True):
        a = frames.to_local(target[:, [start]])[:, 0]
        b = frames.to_local(target[:, [end]])[:, 0]
        outward = torch.sign(b[:, 0] - a[:, 0] + 1e-9)[:, None]
        mid = (a + b) / 2 + torch.cat([outward * 0.05, torch.zeros_like(outward)], -1)
        tail = b + torch.cat([outward * 0.04, torch.full_like(outward, 0.06)], -1)

        def draw(
            p: torch.Tensor,
            a: torch.Tensor = a,
            mid: torch.Tensor = mid,
            b: torch.Tensor = b,
            tail: torch.Tensor = tail,
        ) -> torch.Tensor:
            distance = torch.minimum(_distance_to_segment(p, a, mid), _distance_to_segment(p, mid, b))
            return _gauss(torch.minimum(distance, _distance_to_segment(p, b, tail)), width)

        sites.append((target[:, [start, end]], 0.1 + 3 * width, draw))
    return sites


def _dimple(cue: Dimple, target: torch.Tensor, frames: LocalFrames, line: torch.Tensor) -> list[Site]:
    sigma, offset = cue.sigma, cue.offset
    sites = []
    for landmark in cue.at:
        corner = frames.to_local(target[:, [landmark]])[:, 0]
        outward = -1.0 if landmark == cue.at[0] else 1.0
        centre = corner + torch.tensor([outward * offset, 0.0], device=target.device, dtype=target.dtype)

        def draw(p: torch.Tensor, centre: torch.Tensor = centre) -> torch.Tensor:
            return _gauss((p - centre[:, None]).norm(dim=-1), sigma)

        sites.append((target[:, [landmark]], offset + 3 * sigma, draw))
    return sites


def _chin_boss(cue: ChinBoss, target: torch.Tensor, frames: LocalFrames, line: torch.Tensor) -> list[Site]:
    centre = frames.to_local(target[:, list(cue.at)]).mean(1)
    sigma, dimples = cue.sigma, cue.dimples

    def draw(p: torch.Tensor) -> torch.Tensor:
        pattern = torch.zeros_like(p[..., 0])
        for k in range(dimples):  # a fixed ring of small pits: the peau d'orange of the mentalis (a dot at 128 px)
            angle = 2 * math.pi * k / dimples
            ring = torch.tensor([math.cos(angle), 0.6 * math.sin(angle)], device=p.device, dtype=p.dtype)
            pattern = pattern + _gauss((p - (centre + sigma * 0.6 * ring)[:, None]).norm(dim=-1), sigma * 0.22)
        furrow = _gauss(p[..., 1] - centre[:, None, 1] + sigma, 0.012) * _gauss(p[..., 0] - centre[:, None, 0], sigma)
        return pattern + 0.5 * furrow

    return [(target[:, list(cue.at)], 2.5 * sigma, draw)]


def _brow_lines(cue: BrowLines, target: torch.Tensor, frames: LocalFrames, line: torch.Tensor) -> list[Site]:
    """Horizontal forehead wrinkles that follow the arc of the brows (``brow``: landmarks along both brows' upper
    edge), ``lines`` of them from ``first`` IOD above the brow, ``spacing`` apart, in a window of ``width`` IOD
    around each of ``centres`` (face-frame u: AU01's in the middle, AU02's above the outer brows)."""
    brow = frames.to_local(target[:, list(cue.brow)])
    lines, spacing, first = cue.lines, cue.spacing, cue.first
    width, reach = cue.width, first + spacing * lines

    def draw(p: torch.Tensor, centre: float) -> torch.Tensor:
        above, _ = _interp(p[..., 0], brow[..., 0], brow[..., 1])
        height = above - p[..., 1]  # how far above the brow
        stripes = sum(_gauss(height - first - k * spacing, line) for k in range(lines))
        fade = _smooth_step(height, 0.02) * _smooth_step(reach - height, 0.03)
        return stripes * fade * _gauss(p[..., 0] - centre, width / 2)

    return [(target[:, list(cue.brow)], reach + 0.05, lambda p, c=c: draw(p, c)) for c in cue.centres]


_CUES: dict[type[AppearanceCue], Callable[..., list[Site]]] = {
    Furrow: _furrow,
    NoseWrinkle: _nose_wrinkle,
    CrowsFeet: _crows_feet,
    Nasolabial: _nasolabial,
    Dimple: _dimple,
    ChinBoss: _chin_boss,
    BrowLines: _brow_lines,
}
"""How each kind of appearance cue (:data:`~miex.data.aus.motion.CUE_KINDS`) is drawn."""
