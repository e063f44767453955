"""A tiny MiE-X folder in the exact format synthesis writes (docs/reference.md §AU sources, §Hugging Face stack), built
here with ``datasets``.

``<dir>/data/train-00000-of-00001.parquet`` + ``<dir>/README.md`` whose YAML (``configs`` + ``dataset_info``) is
generated from the written shard with ``DatasetInfo`` / ``DatasetInfosDict.to_dataset_card_data`` /
``MetadataConfigs``, so ``datasets.load_dataset(<dir>)`` loads it like the real thing. ``mie`` rows carry the real
dataset / subject / clip they came from; ``mae`` and ``expert`` rows do not point at a test-corpus subject.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCardData
from PIL import Image

LABELS = ["negative", "positive", "surprise"]
SOURCES = ["mie", "mae", "expert"]
NUM_AUS = 17
VIDEO_FRAMES = 10
TORCHRUN_TWO_RANKS = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
"""The start of a 2-rank CPU launch, torchrun as a module (nothing depends on PATH)."""
TINY_GANIMATION = [
    "--image-size",
    "32",
    "--width",
    "8",
    "--residual-blocks",
    "1",
    "--critic-width",
    "8",
    "--critic-layers",
    "5",
]
"""``miex train-generator`` options for a GANimation that trains a step in well under a second on a CPU (a table:
option, value)."""


def miex_features(*, video: bool = False) -> datasets.Features:
    au = datasets.List(datasets.Value("float32"), length=NUM_AUS)
    frames = (
        {"frames": datasets.List(datasets.Image()), "frames_au": datasets.List(au, length=VIDEO_FRAMES)}
        if video
        else {"onset": datasets.Image(), "apex": datasets.Image()}
    )
    return datasets.Features(
        {
            **frames,
            "label": datasets.ClassLabel(names=LABELS),
            "source": datasets.ClassLabel(names=SOURCES),
            "emotion": datasets.Value("string"),
            "onset_au": au,
            "apex_au": au,
            "identity": datasets.Value("string"),
            "source_dataset": datasets.Value("string"),
            "source_subject": datasets.Value("string"),
            "source_clip": datasets.Value("string"),
            "generator": datasets.Value("string"),
            "sample_id": datasets.Value("string"),
            "seed": datasets.Value("int64"),
        }
    )


def _face(rng: np.random.Generator, size: int, label: int) -> Image.Image:
    """Noise plus a class-dependent bright band, so a tiny model can learn something."""
    pixels = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
    band = slice(label * size // 3, (label + 1) * size // 3)
    pixels[band, :, :] += 120
    return Image.fromarray(pixels)


def miex_rows(
    mie_subjects: Sequence[tuple[str, str]], *, identities: int = 2, size: int = 40, seed: int = 0
) -> dict[str, list]:
    """For each identity x class: one mie sample per entry of ``mie_subjects`` (cycled), one mae, one expert."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list] = {name: [] for name in miex_features()}
    index = mie = 0
    for identity in range(identities):
        for label in range(len(LABELS)):
            for source in SOURCES:
                dataset, subject = ("", "")
                if source == "mie":
                    dataset, subject = mie_subjects[mie % len(mie_subjects)]
                    mie += 1
                if source == "mae":
                    dataset, subject = "ckplus", f"S{100 + identity:03d}"
                rows["onset"].append(_face(rng, size, label))
                rows["apex"].append(_face(rng, size, label))
                rows["label"].append(label)
                rows["source"].append(SOURCES.index(source))
                rows["emotion"].append(LABELS[label])
                rows["onset_au"].append([0.0] * NUM_AUS)
                rows["apex_au"].append(rng.uniform(0, 5, NUM_AUS).astype(np.float32).tolist())
                rows["identity"].append(f"celeba-{identity:05d}")
                rows["source_dataset"].append(dataset)
                rows["source_subject"].append(subject)
                rows["source_clip"].append(f"{subject}_clip{index}" if source != "expert" else "")
                rows["generator"].append("warp")
                rows["sample_id"].append(f"{identity:05d}-{label}-{source}")
                rows["seed"].append(seed + index)
                index += 1
    return rows


def write_miex(folder: Path, rows: dict[str, list], features: datasets.Features | None = None) -> Path:
    """Write ``rows`` as one parquet shard + a README whose YAML is generated from the shard."""
    features = features or datasets.Features({k: v for k, v in miex_features().items() if k in rows})
    shard = folder / "data" / "train-00000-of-00001.parquet"
    shard.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(shard))
    metadata = pq.ParquetFile(shard).metadata
    size = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    splits = datasets.SplitDict(dataset_name="miex")
    splits.add(datasets.SplitInfo(name="train", num_bytes=size, num_examples=metadata.num_rows, dataset_name="miex"))
    info = datasets.DatasetInfo(features=features, splits=splits, dataset_name="miex", config_name="miex")
    card = DatasetCardData(pretty_name="MiE-X test fixture", license="other")
    DatasetInfosDict({"miex": info}).to_dataset_card_data(card)
    configs = {"miex": {"data_files": [{"split": "train", "path": "data/train-*"}], "default": True}}
    MetadataConfigs(configs).to_dataset_card_data(card)
    (folder / "README.md").write_text(f"---\n{card.to_yaml()}\n---\n\n# MiE-X fixture\n", encoding="utf-8")
    return folder


def build_miex(folder: Path, mie_subjects: Sequence[tuple[str, str]], *, drop: Sequence[str] = (), **options) -> Path:
    """A MiE-X folder; ``drop`` removes columns (e.g. the provenance columns, to test the refusal of a folder
    without them)."""
    rows = {k: v for k, v in miex_rows(mie_subjects, **options).items() if k not in drop}
    return write_miex(folder, rows)


def folder_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path: what a command must leave untouched, byte for byte."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def one_error_line(text: str) -> str:
    """The one error line of a failed command (progress bars around it are fine), never a traceback."""
    lines = [line for line in text.splitlines() if line.startswith("miex ")]
    assert "Traceback" not in text, text
    assert len(lines) == 1, text
    return lines[0]
