"""Datasets for training and evaluation: real clips and MiE-X as ``datasets`` objects, per-model inputs, collator.

Both sources end up with the columns ``onset``, ``apex`` (Image) and ``label`` (ClassLabel); :func:`model_inputs`
then maps a batch to what a model's ``forward`` takes (``pixel_values_onset``/``pixel_values_apex`` for Branches,
``pixel_values`` for the one-input models, ``labels``), with training augmentation or the deterministic
evaluation transform. The transform runs on the fly (``Dataset.with_transform``), so a Trainer needs
``remove_unused_columns=False`` (docs/reference.md §Hugging Face stack) or it strips the image columns before the
transform sees them.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import torch
from PIL import Image

from miex.core.errors import MiexInputError
from miex.core.paths import absolute
from miex.core.pixels import grey_uint8
from miex.data.aus.schema import LABEL_NAMES, NO_LABEL
from miex.data.corpora.clips import read_clip_table
from miex.data.magnify import Magnification, magnify_pair
from miex.data.synthesis.verify import naming_damaged_shard, verify_shards
from miex.train.flow import FlowFn, flow_channels, resize_square
from miex.train.models.base import InputSpec, MiexConfig
from miex.train.protocols import Fold, real_split, trainable_synthetic
from miex.train.transforms import EvalTransform, TrainTransform, to_tensor

logger = logging.getLogger(__name__)

FRAME_COLUMNS: tuple[str, ...] = ("onset", "apex", "label")
"""What every training source provides; real and MiE-X rows are concatenated on these."""
SEQUENCE_COLUMNS: tuple[str, ...] = ("frames", "label")
"""The same for video recognizers: ``frames`` is the onset-to-apex sequence (the MiE-X video config's column)."""


def input_columns(spec: InputSpec) -> tuple[str, ...]:
    return SEQUENCE_COLUMNS if spec.sequence else FRAME_COLUMNS


def real_features(label_names: Sequence[str] = LABEL_NAMES, *, sequence: bool = False) -> datasets.Features:
    return datasets.Features(
        {
            "onset": datasets.Image(),
            "apex": datasets.Image(),
            **({"frames": datasets.List(datasets.Image())} if sequence else {}),
            "label": datasets.ClassLabel(names=list(label_names)),
            "dataset": datasets.Value("string"),
            "subject": datasets.Value("string"),
            "clip": datasets.Value("string"),
        }
    )


def sequence_indices(start: int, stop: int, count: int) -> list[int]:
    """``count`` frame indices evenly spaced from ``start`` to ``stop`` inclusive (repeats when the clip is short)."""
    return np.rint(np.linspace(start, stop, count)).astype(int).tolist()


def labelled_clips(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` without clips that have no 3-class label (-1), the count logged."""
    unlabelled = table["label"].astype(int) == NO_LABEL
    if unlabelled.any():
        logger.info("dropping %d clip(s) without a 3-class label (label -1)", int(unlabelled.sum()))
    return table[~unlabelled]


def used_frames(
    clip: Any, *, sequence: int = 0, row: int | None = None, table_file: str | PathLike[str] | None = None
) -> dict[str, list[int]]:
    """The frame indices a recognizer reads from one clip-table row: ``onset``, ``apex`` and, with ``sequence`` > 0,
    ``frames`` (that many from onset to apex). An index outside the clip or a missing file is an error naming the
    table file, the row, the field and the full path looked for."""
    used: dict[str, list[int]] = {}
    for column in ("onset", "apex"):
        index = int(getattr(clip, column))
        if not 0 <= index < len(clip.frames):
            raise MiexInputError(
                f"{column} index {index} is outside the clip's {len(clip.frames)} frames",
                file=table_file,
                row=row,
                field=column,
            )
        used[column] = [index]
    if sequence:
        used["frames"] = sequence_indices(int(clip.onset), int(clip.apex), sequence)
    for column, indices in used.items():
        missing = [clip.frames[i] for i in indices if not Path(clip.frames[i]).is_file()]
        if missing:
            raise MiexInputError(f"frame {absolute(missing[0])} not found", file=table_file, row=row, field=column)
    return used


def real_dataset(
    clips: pd.DataFrame | str | PathLike[str],
    *,
    drop_unlabelled: bool = True,
    sequence: int = 0,
    table_file: str | PathLike[str] | None = None,
) -> datasets.Dataset:
    """Clip table -> one row per clip with its onset and apex frame images (decoded lazily by Pillow); with
    ``sequence`` > 0 also ``frames``, that many frames from onset to apex (docs/reference.md §AU sources, video
    variant).

    The frames are read as the table names them: the recipe runner first swaps them for aligned crops
    (:func:`miex.train.aligned_clips.align_table`). Clips without a 3-class label (-1) are dropped by default and the
    count is logged; a missing frame file is an error naming the table file (``table_file`` when ``clips`` is a
    DataFrame read from it), the row, the field and the full path looked for.
    """
    source = table_file if isinstance(clips, pd.DataFrame) else clips
    table = clips if isinstance(clips, pd.DataFrame) else read_clip_table(clips)
    if drop_unlabelled:
        table = labelled_clips(table)
    elif (table["label"].astype(int) == NO_LABEL).any():
        raise MiexInputError("clip table has unlabelled (-1) clips; pass drop_unlabelled=True", file=source)
    features = real_features(sequence=sequence > 0)
    rows: dict[str, list[Any]] = {name: [] for name in features}
    for row, clip in zip(table.index, table.itertuples(index=False), strict=True):
        used = used_frames(clip, sequence=sequence, row=row, table_file=source)
        rows["onset"].append(str(clip.frames[used["onset"][0]]))
        rows["apex"].append(str(clip.frames[used["apex"][0]]))
        if sequence:
            rows["frames"].append([str(clip.frames[i]) for i in used["frames"]])
        rows["label"].append(int(clip.label))
        for column in ("dataset", "subject", "clip"):
            rows[column].append(str(getattr(clip, column)))
    return datasets.Dataset.from_dict(rows, features=features)


def load_miex(path: str | PathLike[str], *, split: str = "train") -> datasets.Dataset:
    """MiE-X written by synthesis: a ``save_to_disk`` folder, or a Hub-style folder of parquet shards + README."""
    path = Path(path)
    if not path.is_dir():
        raise MiexInputError("MiE-X folder not found (make one with `miex synthesize ...`)", file=path)
    if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
        loaded = datasets.load_from_disk(str(path))
        dataset = loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
    else:
        verify_shards(path)  # a damaged shard is named now, not as an image that fails to decode mid-training
        with naming_damaged_shard(path):  # no receipts to check: a parquet that does not read is still named
            dataset = datasets.load_dataset(str(path), split=split)
    has = set(dataset.column_names)
    missing = [c for c in ("label", *(() if "frames" in has else ("onset", "apex"))) if c not in has]
    if missing:
        raise MiexInputError(
            f"not a MiE-X dataset: missing columns {missing} (label and onset + apex, or the video config's frames)",
            file=path,
            field=missing[0],
        )
    label_names_of(dataset)
    return dataset


def label_names_of(dataset: datasets.Dataset) -> list[str]:
    feature = dataset.features.get("label")
    if not isinstance(feature, datasets.ClassLabel):
        raise MiexInputError("dataset needs a ClassLabel 'label' column", field="label")
    return list(feature.names)


def check_label_space(dataset: datasets.Dataset, config: MiexConfig) -> None:
    """The data's class names must be the model's, in the same order; else a clear error, never silent remapping."""
    names = label_names_of(dataset)
    if names != config.label_names:
        raise MiexInputError(
            f"label space mismatch: data classes {names} but model classes {config.label_names}; "
            "fine-tune with miex.train.models.load_for_finetuning(path, label_names=...) for a fresh head",
            field="label",
        )


def _rows(dataset: datasets.Dataset, indices: np.ndarray) -> datasets.Dataset:
    return dataset.select(indices.tolist()).select_columns(list(FRAME_COLUMNS))


def fold_datasets(
    fold: Fold,
    real: datasets.Dataset,
    synthetic: datasets.Dataset | None = None,
    *,
    real_train: bool = True,
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(train, test) of one fold: the fold's real training clips (unless ``real_train=False``: MiE-X only) plus the
    MiE-X rows not derived from its test subjects; test = the real clips of its test subjects, with every column
    kept (``dataset``, ``subject``, ``clip`` for per-dataset scores and submission logs)."""
    subjects = real.select_columns(["dataset", "subject"]).to_pandas()
    train_rows, test_rows = real_split(fold, subjects)
    parts = [_rows(real, train_rows)] if real_train else []
    if synthetic is not None:
        if label_names_of(synthetic) != label_names_of(real):
            raise MiexInputError(
                f"label space mismatch: MiE-X classes {label_names_of(synthetic)} vs real {label_names_of(real)}",
                field="label",
            )
        kept = trainable_synthetic(fold, synthetic)
        parts.append(_rows(synthetic, kept).cast(_rows(real, test_rows).features))
    if not parts:
        raise MiexInputError(f"fold {fold.name!r}: no training data (real_train=False and no MiE-X given)")
    return datasets.concatenate_datasets(parts), real.select(test_rows.tolist())


def model_inputs(
    config: MiexConfig,
    *,
    train: bool,
    resize: int = 256,
    crop_size: int = 224,
    seed: int = 0,
    flow_fn: FlowFn | None = None,
    magnify: Magnification | None = None,
) -> ModelInputs:
    """A ``Dataset.set_transform`` function: batch of rows -> the model's keyword inputs plus ``labels``.

    RGB inputs get :class:`TrainTransform` (seeded) when ``train`` else :class:`EvalTransform`. A flow pair becomes
    its composite flow image (docs/reference.md §Flow images) with ``flow_fn``'s flow; sequences become flow between
    consecutive frames; no augmentation (random crops would move the flow field). Training flow recognizers on many
    pairs goes through :mod:`miex.train.flow_inputs` instead, which computes each image once.
    ``magnify`` (off by default) replaces the apex, or every frame of a sequence, by its Eulerian magnification
    relative to the onset before anything else sees it, for real clips and MiE-X alike (docs/reference.md
    §Motion magnification).
    """
    spec = config.input_spec()
    if spec.flow and flow_fn is None:
        raise MiexInputError(f"{config.model_type} reads optical flow: pass flow_fn=(onset, apex) -> (u, v)")
    transform = (
        TrainTransform(resize=resize, crop_size=crop_size, seed=seed) if train else EvalTransform(resize, crop_size)
    )
    return ModelInputs(spec, transform, crop_size, flow_fn, magnify)


class ModelInputs:
    """The batch transform :func:`model_inputs` builds (a class, so a dataset holding it can be pickled)."""

    def __init__(
        self,
        spec: InputSpec,
        transform: TrainTransform | EvalTransform,
        crop_size: int,
        flow_fn: FlowFn | None,
        magnify: Magnification | None,
    ) -> None:
        self.spec, self.transform, self.crop_size = spec, transform, crop_size
        self.flow_fn, self.magnify = flow_fn, magnify

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, list[torch.Tensor]]:
        spec, flow_fn = self.spec, self.flow_fn
        out: dict[str, list[torch.Tensor]] = {"labels": [torch.tensor(int(v)) for v in batch["label"]]}
        if spec.sequence:
            out["pixel_values"] = [
                _flow_sequence(self._magnified_sequence(frames), flow_fn, spec, self.crop_size)
                for frames in batch["frames"]
            ]
            return out
        onsets = batch["onset"]
        apexes = [self._magnified(onset, apex) for onset, apex in zip(onsets, batch["apex"], strict=True)]
        if spec.frames:
            columns = {"onset": onsets, "apex": apexes} | {
                f: batch[f] for f in spec.frames if f not in ("onset", "apex")
            }
            keys = ["pixel_values"] if len(spec.frames) == 1 else [f"pixel_values_{f}" for f in spec.frames]
            for key in keys:
                out[key] = []
            for sample in zip(*(columns[f] for f in spec.frames), strict=True):
                for key, tensor in zip(keys, self.transform([to_tensor(image) for image in sample]), strict=True):
                    out[key].append(tensor)
        else:
            out["pixel_values"] = [
                _flow_input(onset, apex, flow_fn, spec, self.crop_size)
                for onset, apex in zip(onsets, apexes, strict=True)
            ]
        return out

    def _magnified(self, onset: Any, apex: Any) -> Any:
        if self.magnify is None:
            return apex
        return magnify_pair(_rgb(onset), _rgb(apex), self.magnify)

    def _magnified_sequence(self, frames: Sequence[Any]) -> Sequence[Any]:
        """Each frame magnified relative to the first (the onset): a sequence's motion grows, its timing stays."""
        if self.magnify is None:
            return frames
        onset = _rgb(frames[0])
        return [onset, *(magnify_pair(onset, _rgb(frame), self.magnify) for frame in frames[1:])]


def _rgb(image: Any) -> np.ndarray:
    """A decoded dataset image (PIL) or array -> H x W x 3 uint8."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image, dtype=np.uint8)
    return np.repeat(array[:, :, None], 3, axis=2) if array.ndim == 2 else array


def _flow_input(onset: Any, apex: Any, flow_fn: FlowFn, spec: InputSpec, default_size: int) -> torch.Tensor:
    """One pair -> its composite flow image as the model reads it (docs/reference.md §Flow images): the same
    representation the recipe runner and :func:`miex.train.train_recognizer` compute once per pair."""
    from miex.data.faces.flow_image import flow_to_image
    from miex.train.flow_inputs import model_tensor

    # the grey the cached path's optical_flow computes flow on: the pipeline's flow gives the same image
    onset_grey, apex_grey = (grey_uint8(_rgb(image)) / 255.0 for image in (onset, apex))
    u, v = flow_fn(onset_grey, apex_grey)
    image = flow_to_image(np.stack([np.asarray(u, dtype=np.float32), np.asarray(v, dtype=np.float32)], axis=-1))
    return model_tensor(image[None], spec, spec.flow_size or default_size)[0]


def _flow_sequence(frames: Sequence[Any], flow_fn: FlowFn, spec: InputSpec, default_size: int) -> torch.Tensor:
    """A frame sequence -> (channels, spec.sequence - 1, S, S): flow between consecutive frames, resized."""
    chosen = [frames[i] for i in sequence_indices(0, len(frames) - 1, spec.sequence)]
    greys = [grey_uint8(_rgb(image)) / 255.0 for image in chosen]  # the grey of `miex flow` and the pair inputs
    steps = []
    for before, after in itertools.pairwise(greys):
        u, v = (torch.as_tensor(np.asarray(c, dtype=np.float32)) for c in flow_fn(before, after))
        steps.append(resize_square(flow_channels(u, v, spec.flow), spec.flow_size or default_size))
    return torch.stack(steps, dim=1)


def with_model_inputs(dataset: datasets.Dataset, config: MiexConfig, **options: Any) -> datasets.Dataset:
    """``dataset`` with :func:`model_inputs` set as its on-the-fly transform, after checking the label space."""
    check_label_space(dataset, config)
    return dataset.with_transform(model_inputs(config, **options))


class Collator:
    """Stack ``pixel_values*`` tensors and ``labels`` into a batch; other fields (strings, ids) are left out."""

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise MiexInputError("empty batch")
        keys = [k for k in features[0] if k == "labels" or k.startswith("pixel_values")]
        return {key: torch.stack([torch.as_tensor(f[key]) for f in features]) for key in keys}
