"""The classify tab's logic: load a trained recognizer (a `miex train` model folder or a Hub model repo) and give the
class probabilities of one onset/apex pair, prepared exactly as evaluation prepares a test clip.

Evaluation aligns a real clip on its onset face (128 px crops, :mod:`miex.train.aligned_clips`), then resizes and
centre-crops (:class:`miex.train.transforms.EvalTransform`) or computes optical flow; the sizes and the flow method
come from the run's ``recipe.yaml`` when it lies beside the model, else from the recipe defaults.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from miex.core.errors import MiexInputError


@dataclass(frozen=True)
class Preprocessing:
    """How a pair becomes model inputs (docs/reference.md §Recognizers): recipe ``data.image`` and ``data.flow``."""

    resize: int = 256
    crop_size: int = 224
    flow_method: str = "auto"
    align: bool = True
    source: str = "recipe defaults"

    def describe(self) -> str:
        return (
            f"resize {self.resize}, centre crop {self.crop_size}, flow {self.flow_method}, "
            f"{'aligned on the onset face' if self.align else 'frames as given'} ({self.source})"
        )


@dataclass
class Recognizer:
    """A loaded model in evaluation mode with its label names and preprocessing."""

    where: str
    model: Any  # a miex.train MiexPreTrainedModel
    preprocessing: Preprocessing

    @property
    def label_names(self) -> list[str]:
        return list(self.model.config.label_names)

    def describe(self) -> str:
        spec = self.model.config.input_spec()
        reads = ", ".join(spec.frames) + " frames" if spec.frames else f"optical flow ({spec.flow})"
        return (
            f"{self.model.config.model_type} from {self.where}: classes {', '.join(self.label_names)}; reads "
            f"{reads}; {self.preprocessing.describe()}"
        )


def read_preprocessing(folder: Path) -> Preprocessing:
    """Settings from ``recipe.yaml`` in the model folder or its parent (where `miex train` writes it)."""
    import yaml

    for candidate in (folder / "recipe.yaml", folder.parent / "recipe.yaml"):
        if not candidate.is_file():
            continue
        try:
            recipe = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise MiexInputError(f"cannot read the run's recipe: {error}", file=candidate) from error
        try:
            data = recipe.get("data") or {}
            image, flow, real = data.get("image") or {}, data.get("flow") or {}, data.get("real") or {}
            alignment = real.get("alignment", "onset-similarity")
            method = alignment.get("method", "onset-similarity") if isinstance(alignment, dict) else str(alignment)
            sizes = int(image.get("resize", 256)), int(image.get("crop_size", 224))
            return Preprocessing(*sizes, str(flow.get("method", "auto")), method == "onset-similarity", str(candidate))
        except (TypeError, ValueError, AttributeError) as error:
            raise MiexInputError(f"unexpected data.image / data.flow settings: {error}", file=candidate) from error
    return Preprocessing()


def load_recognizer(where: str) -> Recognizer:
    """A model folder written by `miex train` (``OUT/model``) or ``save_pretrained``, or a Hub model repo id."""
    where = str(where).strip()
    if not where:
        raise MiexInputError("give a model folder (`miex train` writes OUT/model) or a Hub model repo ORG/NAME")
    return _load(where)


@lru_cache(maxsize=4)
def _load(where: str) -> Recognizer:
    from transformers import AutoModelForImageClassification

    import miex.train.models  # noqa: F401  (registers the recognizers with the Auto classes)
    from miex.core.fileio import first_line

    local = Path(where).expanduser()
    if not local.is_dir():
        if local.exists() or where.startswith((".", "/", "~")):
            raise MiexInputError("model folder not found (`miex train` writes OUT/model)", file=where)
        from miex.data.hub import check_repo_id

        check_repo_id(where)
    try:
        model = AutoModelForImageClassification.from_pretrained(str(local) if local.is_dir() else where)
    except Exception as error:  # not a miex model, offline, missing repo: one line that says which
        raise MiexInputError(
            f"could not load a recognizer: {type(error).__name__}: {first_line(error)}", file=where
        ) from error
    if not hasattr(model.config, "input_spec"):
        raise MiexInputError(f"{model.config.model_type!r} is not a miex recognizer", file=where, field="model_type")
    spec = model.config.input_spec()
    if spec.sequence:
        raise MiexInputError(
            f"{model.config.model_type} reads an onset-to-apex frame sequence; this app classifies onset/apex pairs",
            file=where,
            field="model_type",
        )
    preprocessing = read_preprocessing(local) if local.is_dir() else Preprocessing(source="recipe defaults")
    return Recognizer(where, model.eval(), preprocessing)


_ALIGN_LOCK = threading.Lock()


def align_pair(onset: np.ndarray, apex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both frames aligned with the transform of the onset's face (128 px), as evaluation aligns a real clip."""
    from miex.data.faces.align import DEFAULT_SIZE, align_clip
    from miex.data.faces.landmarker import FaceAnalyzer

    with _ALIGN_LOCK, FaceAnalyzer(max_faces=1) as analyzer:
        found = analyzer.analyze(onset)
    if not found:
        raise MiexInputError("no face found in the onset frame: upload a face, or untick 'align'", field="onset")
    frames, _ = align_clip([onset, apex], found[0].landmarks, DEFAULT_SIZE)
    return frames[0], frames[1]


def classify(
    recognizer: Recognizer,
    onset: np.ndarray,
    apex: np.ndarray,
    *,
    align: bool | None = None,
    resize: int | None = None,
    crop_size: int | None = None,
) -> dict[str, float]:
    """Class name -> probability (softmax of the logits) for one onset/apex pair of uint8 RGB frames.

    ``align``, ``resize`` and ``crop_size`` override the recognizer's :class:`Preprocessing`."""
    import torch

    from miex.data.faces.image import as_rgb
    from miex.train.data import Collator, model_inputs

    if onset is None or apex is None:
        raise MiexInputError("upload both the onset and the apex frame", field="onset" if onset is None else "apex")
    first, last = as_rgb(np.asarray(onset)), as_rgb(np.asarray(apex))
    if first.shape != last.shape:
        raise MiexInputError(
            f"onset {first.shape[1]}x{first.shape[0]} and apex {last.shape[1]}x{last.shape[0]} "
            "differ in size: they must be two frames of one clip",
            field="apex",
        )
    settings = recognizer.preprocessing
    resize, crop_size = int(resize or settings.resize), int(crop_size or settings.crop_size)
    if crop_size > resize:
        raise MiexInputError(f"crop size {crop_size} is larger than resize {resize}", field="crop_size")
    if settings.align if align is None else align:
        first, last = align_pair(first, last)
    config = recognizer.model.config
    flow_fn = None
    if config.input_spec().flow:
        from miex.train.runner.run import FlowFunction

        flow_fn = FlowFunction(settings.flow_method)
    transform = model_inputs(config, train=False, resize=resize, crop_size=crop_size, flow_fn=flow_fn)
    columns = transform({"onset": [first], "apex": [last], "label": [0]})
    inputs = Collator()([{key: values[0] for key, values in columns.items()}])
    inputs.pop("labels")
    with torch.inference_mode():
        probabilities = torch.softmax(recognizer.model(**inputs).logits.float(), dim=-1)[0]
    return {name: float(p) for name, p in zip(recognizer.label_names, probabilities.tolist(), strict=True)}
