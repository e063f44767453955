"""Recording nuisance between onset and apex: seeded, off by default, each component doing what it says, and the
``--nuisance`` option of synthesis (per-sample seeds: the bytes do not depend on batching or workers)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from miex.core.errors import MiexInputError
from miex.data.faces.flow import optical_flow
from miex.data.generators.nuisance import (
    NUISANCE_PRESETS,
    Nuisance,
    apply_nuisance,
    apply_nuisance_pair,
    apply_nuisance_sequence,
    nuisance_preset,
)
from miex.data.synthesis.config import SynthesisConfig
from miex.data.synthesis.shards import shard_files

SIZE = 128


def texture(seed: int = 0, size: int = SIZE) -> np.ndarray:
    """A smooth random RGB texture (blobs a few pixels wide): flow can track it everywhere."""
    noise = np.random.default_rng(seed).uniform(0, 255, (size, size, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min()) * 200 + 28
    return np.rint(smooth).astype(np.uint8)


def flat(level: int, size: int = SIZE) -> np.ndarray:
    return np.full((size, size, 3), level, dtype=np.uint8)


def drawn(seed: int, frames: int = 2) -> tuple[np.ndarray, float, np.ndarray]:
    """The per-pair draws in the module's documented order: seven normals (x, y shift, angle, zoom, gain, offset,
    slope), the gradient direction, one blur fraction per frame."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(7), float(rng.uniform(0.0, 2.0 * np.pi)), rng.uniform(0.0, 1.0, frames)


def test_same_rng_same_bytes_and_another_seed_differs() -> None:
    onset, apex = texture(1), texture(2)
    real = NUISANCE_PRESETS["real"]
    first = apply_nuisance_pair(onset, apex, real, np.random.default_rng(5))
    again = apply_nuisance_pair(onset, apex, real, np.random.default_rng(5))
    other = apply_nuisance_pair(onset, apex, real, np.random.default_rng(6))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, again, strict=True))
    assert first[1].tobytes() != other[1].tobytes() and first[0].tobytes() != other[0].tobytes()
    assert first[0].dtype == np.uint8 and first[0].shape == onset.shape


def test_off_returns_the_frames_and_leaves_the_rng_alone() -> None:
    onset, apex = texture(1), texture(2)
    rng = np.random.default_rng(3)
    state = json.dumps(rng.bit_generator.state)
    out = apply_nuisance_pair(onset, apex, Nuisance(), rng)
    assert np.array_equal(out[0], onset) and np.array_equal(out[1], apex)
    assert np.array_equal(apply_nuisance(apex, nuisance_preset("off"), rng), apex)
    assert json.dumps(rng.bit_generator.state) == state
    assert not Nuisance().active and NUISANCE_PRESETS["real"].active


def test_apex_alone_is_the_apex_of_the_pair() -> None:
    onset, apex = texture(1), texture(2)
    real = NUISANCE_PRESETS["real"]
    pair = apply_nuisance_pair(onset, apex, real, np.random.default_rng(9))
    alone = apply_nuisance(apex, real, np.random.default_rng(9))
    assert np.array_equal(pair[1], alone)


def test_head_motion_is_recovered_by_optical_flow() -> None:
    onset = texture(4)
    nuisance = Nuisance(translation=1.5, rotation=1.0, scale=0.01)
    _, apex = apply_nuisance_pair(onset, onset, nuisance, np.random.default_rng(11))
    normal, _, _ = drawn(11)
    centre = (SIZE - 1) / 2.0
    matrix = cv2.getRotationMatrix2D((centre, centre), float(normal[2]), 1.0 + float(normal[3]) * 0.01)
    matrix[:, 2] += normal[:2] * 1.5
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    expected = np.stack(
        [
            matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2] - xs,
            matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2] - ys,
        ],
        axis=-1,
    )
    assert np.abs(expected).max() > 1.0  # the draw moves the face by more than a pixel somewhere
    flow = optical_flow(onset, apex)  # onset(x) = apex(x + flow(x)): the content's displacement
    inner = (slice(16, -16), slice(16, -16))
    error = np.abs(flow[inner] - expected[inner])
    assert np.median(error) < 0.1 and np.percentile(error, 90) < 0.25


def test_sensor_noise_has_the_set_size_and_grows_with_the_signal() -> None:
    read = Nuisance(read_noise=3.0)
    onset, apex = apply_nuisance_pair(flat(128), flat(128), read, np.random.default_rng(0))
    rounding = 1 / 12  # variance added by rounding to grey levels
    assert np.std(apex.astype(float) - 128) == pytest.approx(np.sqrt(9 + rounding), rel=0.03)
    assert np.std(apex.astype(float) - onset.astype(float)) == pytest.approx(np.sqrt(2 * (9 + rounding)), rel=0.03)
    shot = Nuisance(shot_noise=6.0)
    sd = {
        level: np.std(apply_nuisance(flat(level), shot, np.random.default_rng(1)).astype(float) - level)
        for level in (20, 200)
    }
    assert sd[200] == pytest.approx(np.sqrt(36 * 200 / 255 + rounding), rel=0.04)
    assert sd[20] == pytest.approx(np.sqrt(36 * 20 / 255 + rounding), rel=0.06)


def test_blur_is_the_drawn_gaussian_and_removes_fine_detail() -> None:
    frame = texture(7)
    blur = Nuisance(blur=2.0)
    onset, apex = apply_nuisance_pair(frame, frame, blur, np.random.default_rng(2))
    _, _, fractions = drawn(2)
    for out, fraction in ((onset, fractions[0]), (apex, fractions[1])):
        expected = cv2.GaussianBlur(
            frame.astype(np.float32), (0, 0), float(fraction) * 2.0, borderType=cv2.BORDER_REFLECT_101
        )
        assert np.abs(out.astype(float) - expected).max() <= 0.5 + 1e-3

    def fine(image: np.ndarray) -> float:
        return float(cv2.Laplacian(image.astype(np.float64), cv2.CV_64F).var())

    for seed in range(6):  # the apex's sigma is drawn in 0..2 px; under about 0.25 px a Gaussian changes nothing
        left = fine(apply_nuisance(frame, blur, np.random.default_rng(seed))) / fine(frame)
        sigma = drawn(seed)[2][1] * 2.0
        assert left <= 1.0 and (left < 0.6 if sigma > 0.5 else True), (seed, sigma, left)
    assert fine(onset) != fine(apex)  # each frame has its own blur


def test_light_change_is_gain_offset_and_a_plane() -> None:
    nuisance = Nuisance(gain=0.05, offset=4.0, gradient=0.1)
    out = apply_nuisance(flat(100), nuisance, np.random.default_rng(8)).astype(float)
    normal, direction, _ = drawn(8)
    gain, offset, slope = normal[4] * 0.05, normal[5] * 4.0, normal[6] * 0.1
    x = np.linspace(-1, 1, SIZE)[None, :]
    y = np.linspace(-1, 1, SIZE)[:, None]
    expected = 100 * (1 + gain) * (1 + slope * (np.cos(direction) * x + np.sin(direction) * y)) + offset
    assert np.abs(out[..., 0] - expected).max() <= 0.5 + 1e-3
    assert np.ptp(out) > 5  # the plane is visible across the frame


def test_a_sequence_drifts_steadily_from_the_onset() -> None:
    frames = [texture(3)] * 4
    out = apply_nuisance_sequence(frames, Nuisance(translation=2.0), np.random.default_rng(4))
    assert np.array_equal(out[0], frames[0])  # the onset keeps its pose
    moved = [np.abs(frame.astype(float) - frames[0]).mean() for frame in out]
    assert moved[0] < moved[1] < moved[2] < moved[3]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(MiexInputError, match="read_noise"):
        Nuisance(read_noise=-1.0)
    with pytest.raises(MiexInputError, match="unknown nuisance preset"):
        nuisance_preset("loud")
    with pytest.raises(MiexInputError, match="--nuisance must be one of"):
        SynthesisConfig(nuisance="loud")
    with pytest.raises(MiexInputError, match="differ in size"):
        apply_nuisance_pair(flat(1, 8), flat(1, 16), NUISANCE_PRESETS["real"], np.random.default_rng(0))


@pytest.fixture
def default_plan(miex_cache: Path, monkeypatch: pytest.MonkeyPatch):
    from miex.core.report import ValidationReport
    from miex.data.generators import load_generator
    from miex.data.plan import PlanConfig
    from miex.data.synthesis import SynthesisInputs, resolve_plan
    from miex.data.synthesis.faces import check_faces

    monkeypatch.setenv("XDG_CACHE_HOME", str(miex_cache))
    resolved = resolve_plan(SynthesisInputs(plan_config=PlanConfig(samples_per_identity=6)))
    generator = load_generator("warp")
    plan, faces = check_faces(
        resolved.plan, size=SIZE, needs_landmarks=True, faces_dir=resolved.faces_dir, report=ValidationReport()
    )
    return plan, faces, generator


def test_the_renderer_keys_the_nuisance_on_each_sample_seed(default_plan) -> None:
    from miex.data.synthesis.render import Renderer

    plan, faces, generator = default_plan
    with Renderer(generator, faces, batch_size=6, nuisance="off") as renderer:
        clean = renderer.animate(plan)
    with Renderer(generator, faces, batch_size=6, nuisance="real") as renderer:
        whole = renderer.animate(plan)
        tail = renderer.animate(plan.iloc[3:])  # another batch cut (another rank's shard): the same frames
    with Renderer(generator, faces, batch_size=2, nuisance=NUISANCE_PRESETS["real"], encode_workers=2) as renderer:
        pieces = [frame for start in range(0, 6, 2) for frame in renderer.animate(plan.iloc[start : start + 2])]
    assert all(np.array_equal(a, b) for a, b in zip(whole, pieces, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(whole[3:], tail, strict=True))
    assert all(not np.array_equal(a, b) for a, b in zip(whole, clean, strict=True))
    assert len({sample[0].tobytes() for sample in clean}) == 1  # off: one face, neutral onsets, the same pixels
    assert len({sample[0].tobytes() for sample in whole}) == 6  # on: every onset has its own noise
    change = [np.abs(a.astype(int) - b).mean() for a, b in zip(whole, clean, strict=True)]
    assert max(change) < 8  # a few grey levels: a nuisance, not a new picture


def test_synthesize_records_the_nuisance_and_keeps_off_runs_as_they_were(
    tmp_path: Path, miex_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from miex.cli import main
    from miex.data.synthesis.engine import EngineConfig, _json_digest
    from miex.data.synthesis.render import Encoding

    monkeypatch.setenv("XDG_CACHE_HOME", str(miex_cache))
    small = ["--samples-per-identity", "6", "--shard-size", "3"]
    assert main(["synthesize", "--out", str(tmp_path / "a"), *small, "--batch-size", "2", "--nuisance", "real"]) == 0
    assert (
        main(
            [
                "synthesize",
                "--out",
                str(tmp_path / "b"),
                *small,
                "--batch-size",
                "3",
                "--nuisance",
                "real",
                "--encode-workers",
                "2",
            ]
        )
        == 0
    )
    assert main(["synthesize", "--out", str(tmp_path / "off"), *small, "--batch-size", "3"]) == 0
    rows = {
        name: [row for path in shard_files(tmp_path / name) for row in pq.read_table(path).to_pylist()]
        for name in ("a", "b", "off")
    }
    frames = {name: [(row["onset"]["bytes"], row["apex"]["bytes"]) for row in table] for name, table in rows.items()}
    assert frames["a"] == frames["b"]
    assert all(a != o and b != p for (a, b), (o, p) in zip(frames["a"], frames["off"], strict=True))
    run = json.loads((tmp_path / "a" / ".miex" / "run.json").read_text())
    assert run["engine"]["nuisance"] == {"preset": "real", **NUISANCE_PRESETS["real"].to_json()}
    assert '"preset": "real"' in (tmp_path / "a" / "README.md").read_text()
    off = json.loads((tmp_path / "off" / ".miex" / "run.json").read_text())
    assert off["engine"]["nuisance"]["preset"] == "off"
    before = {
        "shard_size": 3,
        "size": SIZE,
        "encoding": asdict(Encoding()),
        "video": False,
        "batch_size": 3,
        "device": "cpu",
    }  # the rendering options without the nuisance entry
    assert off["parts"]["options"] == _json_digest(before)  # preset off adds nothing to the options digest
    assert run["fingerprint"] != off["fingerprint"]
    with pytest.raises(MiexInputError, match="unknown nuisance preset"):
        EngineConfig(nuisance="loud")
