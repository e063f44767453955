"""The generator interface and registry, and the train-generator CLI end to end on GANimation's data layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from miex_fixtures import TINY_GANIMATION
from PIL import Image

from miex.cli import main
from miex.core.errors import MiexInputError
from miex.data.aus import write_ganimation_aus, write_ganimation_ids
from miex.data.generators import GENERATORS, as_face_batch, load_generator


def test_registry_names_both_generators_and_rejects_others() -> None:
    assert set(GENERATORS) == {"warp", "ganimation"}
    warp = load_generator("warp")
    assert warp.name == "warp" and json.loads(json.dumps(warp.config)) == warp.config
    with pytest.raises(MiexInputError, match="unknown generator"):
        load_generator("stylegan")


def test_faces_accept_uint8_and_reject_out_of_range_floats() -> None:
    batch = as_face_batch(np.full((1, 3, 8, 8), 255, np.uint8))
    assert batch.dtype == torch.float32 and batch.max() == 1
    with pytest.raises(MiexInputError, match=r"\[0, 1\]"):
        as_face_batch(torch.full((1, 3, 8, 8), 255.0))
    with pytest.raises(MiexInputError, match="float"):
        as_face_batch(torch.zeros((1, 3, 8, 8), dtype=torch.int32))


def test_train_generator_cli_writes_a_loadable_generator(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    (tmp_path / "data" / "imgs").mkdir(parents=True)
    names = []
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "data" / "imgs" / f"{i}.png")
        names.append(f"{i}.png")
    write_ganimation_aus({str(i): rng.uniform(0, 5, 17) for i in range(4)}, tmp_path / "data" / "aus_openface.pkl")
    write_ganimation_ids(names, tmp_path / "data" / "train_ids.csv")
    out = tmp_path / "run"
    args = [
        "train-generator",
        str(tmp_path / "data"),
        "--out",
        str(out),
        "--preset",
        "replicate",
        *TINY_GANIMATION,
        "--batch-size",
        "2",
        "--max-steps",
        "4",
        "--critic-steps",
        "2",
        "--save-every",
        "2",
    ]
    assert main(args) == 0
    assert (out / "checkpoints" / "step_4").is_dir()
    generator = load_generator("ganimation", checkpoint=out / "generator", device="cpu")
    assert generator.config["architecture"]["conv_bias"] is True  # the replicate variant
    assert generator(torch.rand(2, 3, 32, 32), np.zeros((2, 17))).shape == (2, 3, 32, 32)
