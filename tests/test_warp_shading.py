"""Warp rendering beyond geometry: a parting mouth splits instead of stretching, squeezed skin folds into shadow,
and shadow on skin is warm, not grey."""

from __future__ import annotations

import numpy as np
import torch

from miex.data.aus import au_vector
from miex.data.aus.motion import FoldShading
from miex.data.faces.mesh import LOWER_INNER_LIP, UPPER_INNER_LIP
from miex.data.generators.warp import WarpGenerator
from miex.data.generators.warp_render import fold_darkening

MIDDLE = 5  # the inner-lip landmarks' middle column (13 above, 14 below)


def _luminance(image: torch.Tensor, x: int, rows: range) -> float:
    return float(image[:, list(rows), x].mean())


def _bright_run(image: torch.Tensor, x: int, rows: range) -> int:
    """How many pixels of column ``x`` within ``rows`` are tooth-bright."""
    return int((image[:, list(rows), x].mean(0) > 0.6).sum())


def test_a_jaw_drop_keeps_the_upper_teeth_in_place_and_opens_the_cavity_below_them(
    face: torch.Tensor, landmarks: torch.Tensor
) -> None:
    """The astronaut smiles showing her upper teeth: a jaw drop leaves them where they were, as tall as they were
    (the warp alone stretches them with the lips), and the cavity opens between them and the dropped lower lip."""
    aus = torch.from_numpy(au_vector(AU26=5.0))[None]
    frame = WarpGenerator()(face, aus, landmarks=landmarks)[0]
    target = WarpGenerator().targets(landmarks, aus)[0].numpy()
    source = landmarks[0].numpy()
    top, bottom = source[UPPER_INNER_LIP[MIDDLE]], source[LOWER_INNER_LIP[MIDDLE]]
    new_bottom = target[LOWER_INNER_LIP[MIDDLE]]
    x = int(top[0])
    assert new_bottom[1] - top[1] > 2 * (bottom[1] - top[1])  # the opening more than doubles
    teeth = range(int(top[1]) + 1, int(bottom[1]))
    assert _bright_run(face[0], x, teeth) >= 4
    assert torch.allclose(
        frame[:, teeth.start : teeth.start + 3, x], face[0, :, teeth.start : teeth.start + 3, x], atol=0.03
    )
    below = range(int(top[1]) + 1, int(new_bottom[1]))
    assert abs(_bright_run(frame, x, below) - _bright_run(face[0], x, teeth)) <= 2  # not stretched
    assert _luminance(frame, x, range(int(bottom[1]) + 1, int(new_bottom[1]) - 1)) < 0.3  # the cavity


def test_a_closed_mouth_parts_onto_upper_teeth_and_the_cavity(face: torch.Tensor, landmarks: torch.Tensor) -> None:
    """Lips parting over a closed mouth show the upper incisors just under the upper lip (they reach a little below
    where the lips met), then the dark cavity."""
    closed = landmarks.clone()
    closed[:, list(LOWER_INNER_LIP)] = closed[:, list(UPPER_INNER_LIP)]  # lips together
    aus = torch.from_numpy(au_vector(AU25=5.0))[None]
    frame = WarpGenerator()(face, aus, landmarks=closed)[0]
    target = WarpGenerator().targets(closed, aus)[0].numpy()
    new_top, new_bottom = target[UPPER_INNER_LIP[MIDDLE]], target[LOWER_INNER_LIP[MIDDLE]]
    assert new_bottom[1] - new_top[1] > 2
    middle = (new_top[1] + new_bottom[1]) / 2
    assert _luminance(frame, int(new_top[0]), range(int(middle), int(middle) + 1)) < 0.3
    assert _luminance(frame, int(new_top[0]), range(int(new_top[1]) + 1, int(new_top[1]) + 2)) > 0.5


def _squeezing_grid(height: int, width: int, band: tuple[int, int], factor: float) -> torch.Tensor:
    """A backward grid that shows ``factor`` times the source rows inside ``band`` (and shifts the rest to fit)."""
    rows = np.arange(height, dtype=np.float64) + 0.5
    start, stop = band
    source_rows = np.where(rows < start, rows, start + (np.minimum(rows, stop) - start) * factor)
    source_rows = np.where(rows >= stop, rows + (stop - start) * (factor - 1), source_rows)
    ys = np.broadcast_to((source_rows / height * 2 - 1)[:, None], (height, width))
    xs = np.broadcast_to(((np.arange(width) + 0.5) / width * 2 - 1)[None, :], (height, width))
    return torch.from_numpy(np.stack([xs, ys], -1))[None].float()


def test_squeezed_skin_darkens_and_untouched_skin_does_not() -> None:
    settings = FoldShading(strength=0.3, above=1.3, full=2.5)
    identity = _squeezing_grid(64, 48, (20, 30), 1.0)
    assert float(fold_darkening(identity, settings).abs().max()) < 1e-6  # image edges included
    darkening = fold_darkening(_squeezing_grid(64, 48, (20, 30), 2.5), settings)[0, 0]
    assert abs(float(darkening[25].mean()) - 0.3) < 0.03  # full strength in the middle of the fold
    assert float(darkening[:12].max()) < 1e-6 and float(darkening[38:].max()) < 1e-6
    mild = fold_darkening(_squeezing_grid(64, 48, (20, 30), 1.9), settings)[0, 0]
    assert 0.0 < float(mild[25].mean()) < float(darkening[25].mean())  # deeper with the squeeze


def test_a_frown_shadows_the_skin_it_squeezes_in_warm_tones(face: torch.Tensor, landmarks: torch.Tensor) -> None:
    """AU04 squeezes the skin between and under the brows: with shading on, those pixels darken, blue more than
    red (skin in shadow reddens; a grey multiply would look bluish on warm skin)."""
    aus = torch.from_numpy(au_vector(AU04=5.0))[None]
    plain = WarpGenerator(appearance=False)(face, aus, landmarks=landmarks)[0]
    shaded = WarpGenerator()(face, aus, landmarks=landmarks)[0]
    loss = (plain - shaded).clamp_min(0)  # 3 x H x W
    darkened = loss.sum(0) > 0.05
    assert int(darkened.sum()) >= 20
    points = landmarks[0].numpy()
    ys, xs = torch.nonzero(darkened, as_tuple=True)
    brows = points[[70, 300, 9]]  # outer brow ends and the glabella: the frown's region
    assert float(ys.float().mean()) < points[[33, 263], 1].mean()  # above the eye corners
    assert brows[:, 0].min() <= float(xs.float().mean()) <= brows[:, 0].max()
    red, blue = loss[0][darkened].mean(), loss[2][darkened].mean()
    relative = (loss / plain.clamp_min(1e-3))[:, darkened].mean(1)
    assert float(relative[2]) > float(relative[0]) and float(blue) > 0 and float(red) > 0


def test_raised_brows_wrinkle_the_forehead_in_the_middle_or_at_the_sides(
    face: torch.Tensor, landmarks: torch.Tensor
) -> None:
    """FACS AU 1 wrinkles the middle of the forehead, AU 2 its sides: the ``brow_lines`` cue darkens the skin above
    the brows there (compared with the same model without the cue)."""
    import copy

    from miex.data.aus.motion import MotionModel

    points = landmarks[0].numpy()
    middle, iod = points[[9, 151], 0].mean(), float(np.linalg.norm(points[263] - points[33]))
    brow_top = points[[105, 66, 107, 336, 296, 334], 1].min()
    spread = {}
    for au in ("AU01", "AU02"):
        raw = MotionModel.load().raw
        without = copy.deepcopy(raw)
        del without["appearance"][au]
        aus = torch.from_numpy(au_vector(**{au: 5.0}))[None]
        plain = WarpGenerator(without)(face, aus, landmarks=landmarks)
        loss = plain - WarpGenerator(raw)(face, aus, landmarks=landmarks)
        darkened = loss[0].sum(0) > 0.03
        ys, xs = torch.nonzero(darkened, as_tuple=True)
        assert len(ys) >= 10, au
        assert float(ys.float().mean()) < brow_top  # above the brows
        spread[au] = float((xs.float() + 0.5 - middle).abs().mean()) / iod
    assert spread["AU01"] < 0.25 < spread["AU02"], spread


def test_a_raised_upper_lip_uncovers_upper_teeth_on_a_closed_mouth(face: torch.Tensor, landmarks: torch.Tensor) -> None:
    """AU10 lifts the upper lip off a closed mouth: what shows between the lifted lip and the old lip line is the
    upper teeth (light), not the dark cavity a model without ``mouth.teeth_colour`` draws there."""
    import copy

    from miex.data.aus.motion import MotionModel

    closed = landmarks.clone()
    closed[:, list(LOWER_INNER_LIP)] = closed[:, list(UPPER_INNER_LIP)]  # lips together
    aus = torch.from_numpy(au_vector(AU10=5.0))[None]
    raw = copy.deepcopy(MotionModel.load().raw)
    assert raw["mouth"]["teeth_colour"] is not None
    del raw["mouth"]["teeth_colour"]
    lifted = WarpGenerator().targets(closed, aus)[0, UPPER_INNER_LIP[MIDDLE]].numpy()
    line = closed[0, UPPER_INNER_LIP[MIDDLE]].numpy()
    rows, x = range(int(np.ceil(lifted[1])) + 1, int(line[1])), int(lifted[0])
    assert len(rows) >= 2
    teeth = WarpGenerator()(face, aus, landmarks=closed)[0]
    cavity = WarpGenerator(raw)(face, aus, landmarks=closed)[0]
    assert _luminance(teeth, x, rows) > 0.6 and _luminance(cavity, x, rows) < 0.2


def test_a_smile_carries_the_parted_lips_instead_of_opening_black_corners(
    face: torch.Tensor, landmarks: torch.Tensor
) -> None:
    """The astronaut's lips are parted over her teeth; AU12 lifts and widens the corners without parting the lips
    further, so the opening keeps showing what it showed (teeth, the lens's shade), not black wedges where the
    corners moved to columns the input's opening never reached."""
    from miex.data.generators.warp_render import LocalFrames, _interp

    aus = torch.from_numpy(au_vector(AU12=5.0))[None]
    frame = WarpGenerator()(face, aus, landmarks=landmarks)[0]
    target = WarpGenerator().targets(landmarks, aus)
    frames = LocalFrames(landmarks, 128, 128)
    upper, lower = frames.to_local(target[:, list(UPPER_INNER_LIP)]), frames.to_local(target[:, list(LOWER_INNER_LIP)])
    u, v = frames.pixel_local[..., 0], frames.pixel_local[..., 1]
    top, inside = _interp(u, upper[..., 0], upper[..., 1])
    bottom, _ = _interp(u, lower[..., 0], lower[..., 1])
    opening = ((v > top) & (v < bottom) & (inside > 0)).view(128, 128)
    assert int(opening.sum()) >= 80
    assert float((frame.mean(0)[opening] < 0.15).float().mean()) < 0.06
