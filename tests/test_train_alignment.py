"""Real clips reach the recognizers aligned like MiE-X: one onset transform per clip, cached, flow on aligned crops.

The corpus is built from the one real face (scikit-image's astronaut) pasted off-centre into 640x480 noisy frames and
moved a pixel per frame, so an unaligned pipeline hands the model a small face far from where MiE-X puts it. The
checks run the MediaPipe landmarker on exactly what a model receives (the image before normalisation, or the frames
given to the flow function) and compare the eyes, nose and mouth with the alignment template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from face_fixtures import astronaut, save, shared_analyzer
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from miex.core.errors import MiexInputError
from miex.data.corpora.clips import Clip, clips_to_frame, write_clip_table
from miex.data.faces.align import TEMPLATE, align_clip, alignment_for, stable_points
from miex.train import aligned_clips
from miex.train.aligned_clips import AlignmentSettings, cache_stats, fit_square
from miex.train.data import model_inputs, with_model_inputs
from miex.train.models import create_config
from miex.train.runner import parse_recipe, run
from miex.train.runner.recipe import RealSpec
from miex.train.runner.run import FlowFunction
from miex.train.runner.sources import load_corpus
from miex.train.transforms import IMAGENET_MEAN, IMAGENET_STD

SIZE = 128
TOLERANCE_PX = 4.0
"""How far (pixels of the image checked) the landmarks of the model input may lie from the template."""
FACE = (slice(0, 300), slice(80, 340))
"""The astronaut's head and shoulders (300 x 260 px)."""
FRAMES = 5
STEP_PX = 2
"""The face moves this far right per frame: alignment must keep that motion (one transform), not absorb it."""


def frame(top: int, left: int, *, face: bool = True, seed: int = 0) -> np.ndarray:
    """A 640x480 noisy frame with the face's top-left corner at (top, left)."""
    canvas = np.random.default_rng(seed).integers(70, 130, (480, 640, 3), dtype=np.uint8)
    if face:
        crop = astronaut()[FACE]
        canvas[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    return canvas


def write_clip(
    root: Path,
    subject: str,
    name: str,
    top: int,
    left: int,
    *,
    face: bool = True,
    stem: str = "img",
    size: tuple[int, int] | None = None,
) -> Clip:
    """A clip of FRAMES frames, the face moving STEP_PX right per frame (onset first, apex last)."""
    paths = []
    for number in range(FRAMES):
        image = frame(top, left + STEP_PX * number, face=face, seed=number)
        if size is not None:
            image = image[top : top + size[0], left : left + size[1]]
        paths.append(str(save(root / subject / name / f"{stem}{number + 1}.png", image)))
    return Clip(
        dataset="toy",
        subject=subject,
        clip=name,
        frames=paths,
        frame_numbers=list(range(1, FRAMES + 1)),
        onset=0,
        apex=FRAMES - 1,
        offset=FRAMES - 1,
        emotion="happiness",
        label=1,
        fps=200.0,
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("aligned_corpus")
    faces = [write_clip(root, "sub01", "EP01", 120, 360), write_clip(root, "sub02", "EP02", 160, 30)]
    faceless = write_clip(root, "sub03", "EP03", 0, 0, face=False)
    cropped = write_clip(root, "sub04", "EP04", 0, 80, stem="reg_img", size=(300, 250))
    return {
        "clips": write_clip_table(clips_to_frame(faces), root / "clips.parquet"),
        "faceless": write_clip_table(clips_to_frame([*faces, faceless]), root / "faceless.parquet"),
        "cropped": write_clip_table(clips_to_frame([cropped]), root / "cropped.parquet"),
        "raw": root / "sub01" / "EP01",
        "root": root,
    }


def spec(corpus: dict[str, Path], cache: Path, table: str = "clips", **changes: Any) -> RealSpec:
    return RealSpec(clips=corpus[table], **{"alignment": AlignmentSettings(cache=cache), **changes})


def landmark_error(image: np.ndarray, expected: np.ndarray) -> float:
    """Largest distance (px) between the five stable points found in ``image`` and ``expected``."""
    faces = shared_analyzer().analyze(image)
    assert faces, "no face in the model input"
    return float(np.linalg.norm(stable_points(faces[0].landmarks) - expected, axis=1).max())


def unnormalise(tensor: torch.Tensor) -> np.ndarray:
    mean, std = (torch.tensor(v).view(3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    return (tensor * std + mean).clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()


def to_uint8(grey: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8)


class RecordingFlow(FlowFunction):
    """The runner's flow function, keeping every frame pair it was given."""

    def __init__(self) -> None:
        super().__init__("farneback")
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.pairs.append((onset, apex))
        return super().__call__(onset, apex)


def apex_motion(clip_folder: Path) -> np.ndarray:
    """Where the clip's onset -> apex motion (STEP_PX right per frame in the raw frames) lands in the aligned crop: the
    onset transform's linear part applied to it. Alignment must keep this motion, not absorb it."""
    onset = np.asarray(Image.open(clip_folder / "img1.png"))
    matrix = alignment_for(shared_analyzer().analyze(onset)[0].landmarks, SIZE).matrix
    return matrix[:, :2] @ np.array([STEP_PX * (FRAMES - 1.0), 0.0])


def test_image_models_receive_the_aligned_face(corpus: dict[str, Path], tmp_path: Path) -> None:
    """Branches' onset and apex inputs (resize 256, centre crop 224): the face on the template (the apex moved by
    exactly the clip's own motion), for both clips."""
    config = create_config("branches")
    scale, border = 256 / SIZE, (256 - 224) / 2
    real = load_corpus(spec(corpus, tmp_path / "cache"), "real").dataset
    inputs = with_model_inputs(real, config, train=False)
    for index, subject, name in ((0, "sub01", "EP01"), (1, "sub02", "EP02")):
        item = inputs[index]
        motion = apex_motion(corpus["root"] / subject / name)
        for key, moved in (("pixel_values_onset", 0.0), ("pixel_values_apex", motion)):
            assert item[key].shape == (3, 224, 224)
            expected = (TEMPLATE * SIZE + moved) * scale - border
            assert landmark_error(unnormalise(item[key]), expected) < TOLERANCE_PX * scale, (index, key)
    expected = TEMPLATE * SIZE * scale - border
    raw = load_corpus(spec(corpus, tmp_path / "cache", alignment=AlignmentSettings("none")), "real").dataset
    unaligned = with_model_inputs(raw, config, train=False)[0]["pixel_values_onset"]
    faces = shared_analyzer().analyze(unnormalise(unaligned))  # the old path: a small face far off the template
    assert not faces or np.linalg.norm(stable_points(faces[0].landmarks) - expected, axis=1).max() > 20


def test_flow_models_get_flow_of_the_aligned_crops(corpus: dict[str, Path], tmp_path: Path) -> None:
    """STSTNet: the flow function is handed the aligned onset and apex, identical to aligning the raw frames with
    the onset's transform by hand, and the face in them sits on the template."""
    flow = RecordingFlow()
    real = load_corpus(spec(corpus, tmp_path / "cache"), "real").dataset
    item = real.with_transform(model_inputs(create_config("ststnet"), train=False, flow_fn=flow))[0]
    assert item["pixel_values"].shape == (3, 28, 28) and len(flow.pairs) == 1
    onset, apex = flow.pairs[0]
    assert onset.shape == apex.shape == (SIZE, SIZE)
    assert landmark_error(to_uint8(onset), TEMPLATE * SIZE) < TOLERANCE_PX
    assert landmark_error(to_uint8(apex), TEMPLATE * SIZE + apex_motion(corpus["raw"])) < TOLERANCE_PX
    raw = [np.asarray(Image.open(corpus["raw"] / f"img{n}.png")) for n in (1, FRAMES)]
    by_hand, _ = align_clip(raw, shared_analyzer().analyze(raw[0])[0].landmarks, SIZE)
    for given_frame, reference in zip((onset, apex), by_hand, strict=True):  # greys are OpenCV's luminance
        grey = cv2.cvtColor(np.ascontiguousarray(reference), cv2.COLOR_RGB2GRAY).astype(int)
        assert np.abs(to_uint8(given_frame).astype(int) - grey).mean() < 2.0
    assert np.abs(flow(*flow.pairs[0])[0]).mean() > 0.1  # the motion survives alignment


def test_dtscnn_sequences_are_aligned(corpus: dict[str, Path], tmp_path: Path) -> None:
    """DTSCNN: every frame of the onset-to-apex sequence is an aligned crop, face on the template."""
    config = create_config("dtscnn", flow_size=16)
    flow = RecordingFlow()
    real = load_corpus(spec(corpus, tmp_path / "cache"), "real", sequence=config.sequence_length).dataset
    item = real.with_transform(model_inputs(config, train=False, flow_fn=flow))[0]
    assert item["pixel_values"].shape == (2, 9, 16, 16) and len(flow.pairs) == 9
    assert all(pair[0].shape == (SIZE, SIZE) for pair in flow.pairs)
    assert landmark_error(to_uint8(flow.pairs[0][0]), TEMPLATE * SIZE) < TOLERANCE_PX
    assert landmark_error(to_uint8(flow.pairs[-1][1]), TEMPLATE * SIZE + apex_motion(corpus["raw"])) < TOLERANCE_PX


def test_second_run_hits_the_cache(corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = cache_stats()
    first = load_corpus(spec(corpus, tmp_path / "cache"), "real")
    assert first.alignment is not None and first.alignment.stats.detections == 2
    assert cache_stats()["clip_misses"] - before["clip_misses"] == 2

    def no_detection(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the landmarker ran on a cached clip")

    monkeypatch.setattr("miex.data.faces.landmarker.FaceAnalyzer", no_detection)
    again = load_corpus(spec(corpus, tmp_path / "cache"), "real")
    assert again.alignment is not None
    stats = again.alignment.stats
    assert (stats.clip_hits, stats.clip_misses, stats.detections, stats.frames_warped) == (2, 0, 0, 0)
    assert again.dataset[0]["onset"].filename == first.dataset[0]["onset"].filename
    monkeypatch.undo()
    smaller = AlignmentSettings(size=64, cache=tmp_path / "cache")
    smaller = load_corpus(spec(corpus, tmp_path / "cache", alignment=smaller), "real")
    assert smaller.alignment is not None and smaller.alignment.stats.detections == 2  # settings are part of the key
    assert np.asarray(smaller.dataset[0]["onset"]).shape == (64, 64, 3)


def test_a_clip_without_a_face_is_named_or_skipped(corpus: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MiexInputError) as error:
        load_corpus(spec(corpus, tmp_path / "cache", "faceless"), "real")
    message = str(error.value)
    assert "1 clip(s) have no face" in message and "toy/sub03/EP03" in message
    assert str(Path(corpus["faceless"]).parent / "sub03" / "EP03" / "img1.png") in message
    assert "sub01" not in message and "on_missing_face: skip" in message
    skipped = load_corpus(spec(corpus, tmp_path / "cache", "faceless", on_missing_face="skip"), "real")
    assert sorted(skipped.dataset["clip"]) == ["EP01", "EP02"]
    assert skipped.alignment is not None and [c["clip"] for c in skipped.alignment.skipped] == ["EP03"]


def test_cropped_frames_skip_detection_but_get_the_crop_size(
    corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CASME II ``Cropped`` (``reg_img*``) frames: no landmarker, padded and resized to the same 128 px."""
    monkeypatch.setattr(aligned_clips.ClipAligner, "_detect", lambda *_: pytest.fail("detected a cropped clip"))
    cropped = load_corpus(spec(corpus, tmp_path / "cache", "cropped"), "real")
    assert np.asarray(cropped.dataset[0]["apex"]).shape == (SIZE, SIZE, 3)
    assert cropped.alignment is not None and cropped.alignment.precropped == 1


@given(height=st.integers(32, 900), width=st.integers(32, 900), size=st.sampled_from([64, 128, 224]))
def test_fit_square_keeps_the_whole_frame_centred(height: int, width: int, size: int) -> None:
    """The pre-cropped fit maps the frame's centre to the crop's centre and its longer side onto the crop."""
    alignment = fit_square(height, width, size)
    corners = alignment.points(np.array([[-0.5, -0.5], [width - 0.5, height - 0.5]]))
    assert np.allclose((corners[0] + corners[1]) / 2, (size - 1) / 2, atol=1e-3)
    assert np.isclose(max(corners[1] - corners[0]), size, atol=1e-3)


def test_recipe_states_alignment_and_results_record_it(corpus: dict[str, Path], tmp_path: Path) -> None:
    """`alignment: ...` and `on_missing_face: skip` in a recipe; results.json records both and the skipped clip."""
    recipe = {
        "name": "aligned",
        "model": {
            "name": "branches",
            "config": {
                "encoder": {"hidden_sizes": [4, 4, 4, 4], "depths": [1, 1, 1, 1], "embedding_size": 4},
                "head_hidden": [8],
            },
        },
        "data": {
            "real": {
                "clips": str(corpus["faceless"]),
                "on_missing_face": "skip",
                "alignment": {"method": "onset-similarity", "size": SIZE, "cache": str(tmp_path / "c")},
            },
            "image": {"resize": 72, "crop_size": 64},
        },
        "protocol": {"kind": "kfold", "k": 2, "seed": 0},
        "training": {"epochs": 1, "decay_epochs": 0, "batch_size": 2, "eval_batch_size": 2, "num_workers": 0},
        "seeds": [0],
        "output": {"dir": str(tmp_path / "out"), "final_model": False},
    }
    parsed = parse_recipe(recipe)
    assert parsed.data.real.alignment == AlignmentSettings("onset-similarity", SIZE, tmp_path / "c")
    run(parsed, progress=False)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    recorded = results["alignment"]["real"]
    assert recorded["method"] == "onset-similarity" and recorded["size"] == SIZE
    assert recorded["template"] == TEMPLATE.tolist() and recorded["clips"] == 2
    assert [c["clip"] for c in recorded["skipped_clips"]] == ["EP03"]
    legacy = parse_recipe({**recipe, "data": {"real": {"clips": "c.parquet", "alignment": "none"}}})
    assert legacy.data.real.alignment == AlignmentSettings("none")
    with pytest.raises(MiexInputError, match=r"data\.real\.alignment\.size"):
        parse_recipe({**recipe, "data": {"real": {"clips": "c.parquet", "alignment": {"size": 8}}}})
    with pytest.raises(MiexInputError, match=r"data\.real\.on_missing_face.*stop, skip"):
        parse_recipe({**recipe, "data": {"real": {"clips": "c.parquet", "on_missing_face": "ignore"}}})
