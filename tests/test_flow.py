"""Optical flow, optical strain, saved outputs, and the ``miex flow`` command on a toy clip table."""

from __future__ import annotations

import json
from pathlib import Path

import face_fixtures as ff
import numpy as np
import pandas as pd
import pytest

from miex.cli import main
from miex.data.faces import FlowParams, optical_flow, optical_strain, save_flow
from miex.data.faces.flow import flow_image, tvl1_available

INNER = (slice(20, -20), slice(20, -20))


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray]:
    """A smooth texture and the same texture moved by (2, 1) px: apex(x) = onset(x - (2, 1))."""
    texture = ff.smooth_texture()
    return texture[16:144, 16:144], texture[15:143, 14:142]


@pytest.mark.parametrize("method", ["tvl1", "farneback"])
def test_flow_recovers_a_translation_and_strain_vanishes(pair: tuple[np.ndarray, np.ndarray], method: str) -> None:
    if method == "tvl1" and not tvl1_available():
        pytest.skip("opencv-contrib not installed")
    flow = optical_flow(*pair, FlowParams(method=method))
    assert flow.shape == (128, 128, 2) and flow.dtype == np.float32
    np.testing.assert_allclose(flow[INNER].mean(axis=(0, 1)), [2.0, 1.0], atol=0.1)
    assert np.abs(flow[INNER] - [2.0, 1.0]).max() < 0.5
    assert optical_strain(flow)[INNER].mean() < 0.02


def test_flow_is_deterministic_and_rgb_matches_gray(pair: tuple[np.ndarray, np.ndarray]) -> None:
    rgb = [np.dstack([image] * 3) for image in pair]
    params = FlowParams(method="farneback")
    first = optical_flow(*pair, params)
    np.testing.assert_array_equal(first, optical_flow(*pair, params))
    np.testing.assert_array_equal(first, optical_flow(*rgb, params))


def test_strain_of_a_known_field() -> None:
    y, x = np.mgrid[0:32, 0:32].astype(np.float32)
    stretch = np.stack([0.1 * x, np.zeros_like(x)], axis=-1)  # u_x = 0.1, everything else 0
    np.testing.assert_allclose(optical_strain(stretch), 0.1, atol=1e-6)
    shear = np.stack([0.2 * y, np.zeros_like(x)], axis=-1)  # u_y = 0.2 -> sqrt(0.5 * 0.04)
    np.testing.assert_allclose(optical_strain(shear), np.sqrt(0.02), atol=1e-6)


def test_mismatched_sizes_and_unknown_method_are_refused(pair: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="differ in size"):
        optical_flow(pair[0], pair[1][:-2])
    with pytest.raises(ValueError, match="unknown flow method"):
        optical_flow(*pair, FlowParams(method="lucas"))  # type: ignore[arg-type]


def test_save_flow_writes_npz_and_png(tmp_path: Path, pair: tuple[np.ndarray, np.ndarray]) -> None:
    flow = optical_flow(*pair, FlowParams(method="farneback"))
    path = save_flow(tmp_path / "a" / "clip.npz", flow, optical_strain(flow))
    with np.load(path) as saved:
        assert set(saved.files) == {"u", "v", "strain"} and saved["u"].dtype == np.float32
        np.testing.assert_array_equal(saved["v"], flow[..., 1])
    assert path.with_suffix(".png").is_file()
    image = flow_image(np.zeros((4, 4, 2), np.float32), np.zeros((4, 4), np.float32))
    assert image[0, 0].tolist() == [128, 128, 0]


def test_flow_command_is_resumable_and_reports_bad_clips(tmp_path: Path) -> None:
    table = ff.build_clip_table(tmp_path / "data", shifts=[(0, 0), (2, 1)])
    clips = pd.read_parquet(table)
    broken = clips.iloc[[0]].assign(clip="EP02", frames=[[clips.frames[0][0], str(tmp_path / "gone.png")]])
    pd.concat([clips, broken]).to_parquet(table)
    out = tmp_path / "flow"
    assert main(["flow", str(table), "--out", str(out), "--method", "farneback", "--workers", "1"]) == 0
    index = pd.read_parquet(out / "index.parquet")
    assert index[["clip", "onset_frame", "apex_frame", "method"]].values.tolist() == [["EP01", 10, 11, "farneback"]]
    npz = out / index.file[0]
    with np.load(npz) as saved:
        assert saved["u"].shape == (128, 128) and np.abs(saved["u"]).mean() > 0.3  # the face moved
    assert json.loads((out / "flow_params.json").read_text())["method"] == "farneback"
    before = npz.stat().st_mtime_ns
    assert main(["flow", str(table), "--out", str(out), "--method", "farneback", "--workers", "1"]) == 0
    assert npz.stat().st_mtime_ns == before
    assert main(["flow", str(table), "--out", str(out), "--method", "tvl1", "--workers", "1"]) == 2  # other options


def test_flow_command_that_computes_nothing_fails_and_writes_no_index(tmp_path: Path, capsys) -> None:
    table = ff.build_clip_table(tmp_path / "data", shifts=[(0, 0), (2, 1)])
    clips = pd.read_parquet(table)
    clips.assign(frames=[[f[0], str(tmp_path / "gone.png")] for f in clips.frames]).to_parquet(table)
    out = tmp_path / "flow"
    assert main(["flow", str(table), "--out", str(out), "--method", "farneback", "--workers", "1"]) == 2
    assert "0 clip flows computed, no index written: every clip failed" in capsys.readouterr().err
    assert not (out / "index.parquet").exists()


def test_flow_command_writes_the_shared_release_format(tmp_path: Path) -> None:
    """`--release`: the clips' composite flow images (docs/reference.md §Flow images), read back by the reader."""
    from miex.data.corpora import READERS
    from miex.data.faces.flow_image import flow_to_image, read_flow_png

    table = ff.build_clip_table(tmp_path / "data", shifts=[(0, 0), (2, 1)])
    out = tmp_path / "flow"
    argv = ["flow", str(table), "--out", str(out), "--method", "farneback", "--workers", "1", "--release"]
    assert main(argv) == 0
    corpus = READERS["flow-images"](out / "release", labels=out / "release" / "labels.csv")
    assert not corpus.report.skipped and [c.clip for c in corpus.clips] == ["EP01"]
    with np.load(out / pd.read_parquet(out / "index.parquet").file[0]) as saved:
        expected = flow_to_image(np.stack([saved["u"], saved["v"]], axis=-1))
    assert np.array_equal(read_flow_png(corpus.clips[0].frames[0]), expected)


def test_flow_params_record_only_the_settings_of_the_method_used() -> None:
    farneback, tvl1 = FlowParams(method="farneback").to_json(), FlowParams(method="tvl1").to_json()
    assert farneback["method"] == "farneback" and "winsize" in farneback and "tau" not in farneback
    assert tvl1["method"] == "tvl1" and "tau" in tvl1 and "winsize" not in tvl1
    assert "opencv" in farneback and "opencv" in tvl1
