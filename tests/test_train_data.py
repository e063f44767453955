"""Data: real clips and MiE-X as datasets, per-model inputs, transforms, collator, fold datasets."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from miex.core.errors import MiexInputError
from miex.data.aus.schema import LABEL_NAMES
from miex.data.corpora.clips import CLIP_COLUMNS
from miex.train.data import Collator, fold_datasets, load_miex, model_inputs, real_dataset, with_model_inputs
from miex.train.flow import flow_channels
from miex.train.models import create_config, model_class
from miex.train.protocols import make_fold
from miex.train.transforms import EvalTransform, TrainTransform, rotate

SIZES = {"resize": 36, "crop_size": 32}
SUBJECTS = [("casme2", "sub01"), ("casme2", "sub02"), ("samm", "006")]


def image(seed: int, size: tuple[int, int] = (40, 48)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8))


@pytest.fixture
def clips(tmp_path: Path) -> pd.DataFrame:
    rows = []
    for n, (dataset, subject) in enumerate(SUBJECTS * 2):
        frames = []
        for i in range(3):
            frames.append(str(tmp_path / f"{dataset}_{subject}_{n}_{i}.png"))
            image(100 * n + i).save(frames[-1])
        rows.append(
            {
                "dataset": dataset,
                "subject": subject,
                "clip": f"clip{n}",
                "frames": frames,
                "frame_numbers": [1, 2, 3],
                "onset": 0,
                "apex": 1,
                "offset": 2,
                "emotion": "happiness",
                "label": n % 3 if n != 5 else -1,
                "fps": 200.0,
                "aus": "",
                "expression": "micro",
            }
        )
    return pd.DataFrame(rows, columns=list(CLIP_COLUMNS))


def tiny_miex(size: int = 12) -> datasets.Dataset:
    """A tiny dataset in the MiE-X format that synthesis writes."""
    features = datasets.Features(
        {
            "onset": datasets.Image(),
            "apex": datasets.Image(),
            "label": datasets.ClassLabel(names=list(LABEL_NAMES)),
            "source": datasets.Value("string"),
            "source_dataset": datasets.Value("string"),
            "source_subject": datasets.Value("string"),
            "identity": datasets.Value("string"),
        }
    )
    rows = {
        "onset": [image(i) for i in range(size)],
        "apex": [image(1000 + i) for i in range(size)],
        "label": [i % 3 for i in range(size)],
        "source": ["mie" if i % 2 == 0 else "mae" for i in range(size)],
        "source_dataset": [SUBJECTS[i % 3][0] for i in range(size)],
        "source_subject": [SUBJECTS[i % 3][1] for i in range(size)],
        "identity": [f"id{i % 4}" for i in range(size)],
    }
    return datasets.Dataset.from_dict(rows, features=features)


def test_real_dataset_reads_onset_and_apex(clips: pd.DataFrame) -> None:
    real = real_dataset(clips)
    assert len(real) == 5  # the unlabelled clip is dropped (and logged)
    assert real.features["label"].names == list(LABEL_NAMES)
    first = real[0]
    assert np.array_equal(np.asarray(first["apex"]), np.asarray(Image.open(clips.frames[0][1])))
    with pytest.raises(MiexInputError, match="unlabelled"):
        real_dataset(clips, drop_unlabelled=False)
    Path(clips.frames[2][1]).unlink()
    with pytest.raises(MiexInputError, match="row 2, field 'apex'"):
        real_dataset(clips)


def test_eval_transform_is_deterministic_and_train_is_seeded() -> None:
    frame = torch.rand(3, 40, 48)
    evaluate = EvalTransform(**SIZES)
    assert torch.equal(evaluate([frame])[0], evaluate([frame])[0])
    first, second = TrainTransform(**SIZES, seed=3), TrainTransform(**SIZES, seed=3)
    draws = [first([frame, frame]) for _ in range(3)]
    assert all(torch.equal(a, b) for d in draws for a, b in zip(d, second([frame, frame]), strict=True))
    assert torch.equal(draws[0][0], draws[0][1])  # onset and apex share one draw
    assert not torch.equal(draws[0][0], draws[1][0])
    assert draws[0][0].shape == (3, 32, 32)


def test_train_transform_differs_between_dataloader_workers() -> None:
    frame = torch.rand(3, 40, 48)
    transform = TrainTransform(**SIZES, seed=3)
    loader = torch.utils.data.DataLoader(
        [frame] * 4,
        batch_size=None,
        num_workers=2,
        worker_init_fn=None,
        generator=torch.Generator().manual_seed(0),
        collate_fn=lambda sample: transform([sample])[0],
    )
    first, second = list(loader), list(loader)
    assert not torch.equal(first[0], first[1])  # workers 0 and 1 draw differently
    assert not torch.equal(first[0], second[0])  # and so do epochs


def test_rotation_keeps_the_centre() -> None:
    frame = torch.zeros(1, 9, 9)
    frame[0, 4, 4] = 1.0
    assert rotate(frame, 10.0)[0, 4, 4] > 0.9


def test_branches_inputs_and_collator(clips: pd.DataFrame) -> None:
    config = create_config("branches", encoder={"hidden_sizes": [8, 16, 16, 16], "embedding_size": 8})
    real = with_model_inputs(real_dataset(clips), config, train=True, seed=0, **SIZES)
    batch = Collator()([real[i] for i in range(4)])
    assert set(batch) == {"pixel_values_onset", "pixel_values_apex", "labels"}
    assert batch["pixel_values_apex"].shape == (4, 3, 32, 32) and batch["labels"].dtype == torch.int64
    assert model_class("branches")(config)(**batch).loss is not None


def test_flow_models_read_flow(clips: pd.DataFrame) -> None:
    def flow(onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return apex - onset, onset - apex

    config = create_config("ststnet")
    item = real_dataset(clips).with_transform(model_inputs(config, train=False, flow_fn=flow, **SIZES))[0]
    assert item["pixel_values"].shape == (3, 28, 28)
    with pytest.raises(MiexInputError, match="flow_fn"):
        model_inputs(config, train=True)
    calls: list[tuple[float, float]] = []

    def recording(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        calls.append((float(before.mean()), float(after.mean())))
        return flow(before, after)

    dtscnn = create_config("dtscnn", flow_size=16)
    sequences = real_dataset(clips, sequence=10)
    clip = clips.iloc[0]
    assert len(sequences[0]["frames"]) == 10 and sequences[0]["frames"][0].filename == str(clip.frames[clip.onset])
    assert sequences[0]["frames"][-1].filename == str(clip.frames[clip.apex])
    item = sequences.with_transform(model_inputs(dtscnn, train=False, flow_fn=recording, **SIZES))[0]
    assert item["pixel_values"].shape == (2, 9, 16, 16) and len(calls) == 9  # flow between consecutive frames
    assert model_class("dtscnn")(dtscnn)(pixel_values=item["pixel_values"][None]).logits.shape == (1, 3)
    u = torch.arange(16.0).view(4, 4)  # u = 4 y + x: u_x = 1, u_y = 4
    strain = flow_channels(u, torch.zeros(4, 4), "uv_strain")[2]  # STSTNet's third channel: the pipeline's strain
    assert strain.dtype == u.dtype and torch.allclose(strain, torch.full((4, 4), (1 + 0.5 * 16) ** 0.5))


def test_label_space_mismatch_is_an_error(clips: pd.DataFrame) -> None:
    config = create_config("apexme", num_labels=5)
    with pytest.raises(MiexInputError, match="label space mismatch"):
        with_model_inputs(real_dataset(clips), config, train=False)


def test_fold_datasets_drop_leaking_synthetic_rows(clips: pd.DataFrame) -> None:
    fold = make_fold("f", SUBJECTS[1:], SUBJECTS[:1])
    real, synthetic = real_dataset(clips), tiny_miex()
    train, test = fold_datasets(fold, real, synthetic)
    assert len(test) == 2 and set(test["subject"]) == {"sub01"} and set(test["dataset"]) == {"casme2"}
    leaking = sum(1 for i in range(12) if i % 3 == 0)  # the test subject's mie AND mae samples
    assert len(train) == 3 + 12 - leaking
    only_synthetic, _ = fold_datasets(fold, real, synthetic, real_train=False)
    assert len(only_synthetic) == 12 - leaking
    with pytest.raises(MiexInputError, match="provenance"):
        fold_datasets(fold, real, synthetic.remove_columns("source_subject"))


def test_load_miex_from_disk(tmp_path: Path) -> None:
    tiny_miex(3).save_to_disk(tmp_path / "miex")
    loaded = load_miex(tmp_path / "miex")
    assert len(loaded) == 3 and loaded.features["label"].names == list(LABEL_NAMES)
    tiny_miex(3).remove_columns("apex").save_to_disk(tmp_path / "broken")
    with pytest.raises(MiexInputError, match=r"missing columns \['apex'\]"):
        load_miex(tmp_path / "broken")
    with pytest.raises(MiexInputError, match="not found"):
        load_miex(tmp_path / "nothing")
