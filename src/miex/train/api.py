"""Train and evaluate a recognizer straight from ``datasets.Dataset`` objects, without a recipe or a clip table.

:func:`train_recognizer` is one stage of the recipe runner (the same :func:`miex.train.runner.stages.train_stage`:
Adam with L2 on every weight, gradient clipping, constant then linearly decaying learning rate;
docs/reference.md §Recognizers), then one prediction of ``eval`` scored with the project's UF1/UAR
(:func:`miex.train.metrics.uf1_uar`).
Cross-validation, pre-training stages, seeds and model cards are the runner's (``miex train --recipe``).

Both dataset layouts the project writes work: MiE-X (:mod:`miex.data.synthesis.schema`: ``onset``, ``apex``
images, ``label``, provenance columns) and the real clips of a clip table (:func:`miex.train.data.real_dataset`:
``onset``, ``apex``, ``label``, ``dataset``, ``subject``, ``clip``); video recognizers read ``frames`` instead of
onset and apex. ``label`` must be a ``ClassLabel``: its names are the model's classes. Frames are used as they are:
MiE-X frames are aligned crops already, raw corpus frames are best aligned first
(:func:`miex.train.aligned_clips.align_table`, which the runner applies).

Example (the folders of the README's flow)::

    import miex
    from miex.train.data import load_miex, real_dataset
    train, test = load_miex("miex"), real_dataset("clips.parquet")    # MiE-X; real clips, same 3 classes
    result = miex.train_recognizer(train, test, model="branches", backbone="microsoft/resnet-18", epochs=10)
    print(result.scores["uf1"], result.scores["uar"])                 # pooled UF1 / UAR on the real clips
    result.model.save_pretrained("my-recognizer")
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from os import PathLike
from pathlib import Path
from typing import Any

import datasets
import numpy as np
from transformers import set_seed

from miex.core.errors import MiexInputError
from miex.data.magnify import Magnification
from miex.train.data import input_columns, label_names_of, with_model_inputs
from miex.train.flow_inputs import dataset_flow_images, model_tensor
from miex.train.memory import bound_heap
from miex.train.metrics import ABSENT_CHOICES, uf1_uar
from miex.train.models import create_config
from miex.train.runner.checks import FlowFunction, check_flow_method, model_config_keys, new_recognizer
from miex.train.runner.schema import Reader, did_you_mean
from miex.train.runner.specs import TrainingSpec
from miex.train.runner.stages import predict, train_stage
from miex.train.runner.tensor_stage import predict_tensors, train_on_tensors
from miex.train.train_result import TrainResult

__all__ = ["API_ONLY", "RECIPE_KEYS", "TrainResult", "train_recognizer"]

RECIPE_KEYS: dict[str, str] = {
    "backbone": "model.backbone",
    "epochs": "training.epochs",
    "decay_epochs": "training.decay_epochs",
    "batch_size": "training.batch_size",
    "learning_rate": "training.learning_rate",
    "weight_decay": "training.weight_decay",
    "optimizer": "training.optimizer",
    "max_grad_norm": "training.max_grad_norm",
    "precision": "training.precision",
    "activation_checkpointing": "training.activation_checkpointing",
    "resize": "data.image.resize",
    "crop_size": "data.image.crop_size",
    "flow_method": "data.flow.method",
    "magnify": "data.magnify",
    "num_workers": "training.num_workers",
    "absent": "protocol.absent",
}
"""The keywords of :func:`train_recognizer` that are recipe keys (:mod:`miex.train.runner.specs`): each defaults to
what the recipe declares (``None`` where the recipe computes its default, such as ``num_workers``), so a recipe and a
call with the same settings train the same model. Every ``training`` key is one, except ``eval_batch_size``: the
API predicts in batches of ``batch_size``."""
API_ONLY: tuple[str, ...] = ("train", "eval", "model", "output_dir", "seed", "progress", "model_options")
"""The keywords that are no recipe key: the datasets, the model family (a recipe must name one; ``model.config`` is
``**model_options``), where the model goes, the one seed (a recipe lists ``seeds``) and the step bar."""

logger = logging.getLogger(__name__)


def _columns(dataset: datasets.Dataset, needed: tuple[str, ...], what: str) -> datasets.Dataset:
    """``dataset`` reduced to the columns the recognizer reads; a missing one is an error naming it."""
    if not isinstance(dataset, datasets.Dataset):
        raise MiexInputError(f"{what}: expected a datasets.Dataset, got {type(dataset).__name__}", field=what)
    missing = [c for c in needed if c not in dataset.column_names]
    if missing:
        raise MiexInputError(
            f"{what} lacks column(s) {missing} that this recognizer reads (it has {dataset.column_names})",
            field=f"{what}.{missing[0]}",
        )
    if len(dataset) == 0:
        raise MiexInputError(f"{what} has no rows", field=what)
    return dataset.select_columns(list(needed))


def _label_names(dataset: datasets.Dataset, what: str) -> list[str]:
    try:
        return label_names_of(dataset)
    except MiexInputError:
        raise MiexInputError(
            f"{what}: 'label' must be a ClassLabel column, whose names are the classes (cast it: "
            "dataset.cast_column('label', datasets.ClassLabel(names=[...])))",
            field=f"{what}.label",
        ) from None


def _model_options(model: str, options: dict[str, Any]) -> dict[str, Any]:
    known = model_config_keys(model)  # an unknown family is an error listing the known ones
    for key in options:
        if key not in known:
            raise MiexInputError(
                f"unknown {model} option {key!r}{did_you_mean(key, known)}; known: {known} (the "
                "classes come from the data)",
                field=key,
            )
    return dict(options)


def train_recognizer(
    train: datasets.Dataset,
    eval: datasets.Dataset | None = None,
    *,
    model: str = "branches",
    backbone: str | None = None,
    epochs: int = 10,
    decay_epochs: int = 10,
    batch_size: int = 64,
    learning_rate: float = 1e-4,
    weight_decay: float = 5e-4,
    optimizer: str = "adam",
    max_grad_norm: float = 1.0,
    precision: str = "auto",
    activation_checkpointing: str = "auto",
    resize: int = 256,
    crop_size: int = 224,
    flow_method: str = "auto",
    magnify: Magnification | None = None,
    num_workers: int | None = None,
    output_dir: str | PathLike[str] | None = None,
    seed: int = 0,
    absent: str = "exclude",
    progress: bool = False,
    **model_options: Any,
) -> TrainResult:
    """Train recognizer family ``model`` on ``train``, then predict and score ``eval`` (if given).

    Args:
        train, eval: datasets with ``onset`` and ``apex`` images (or ``frames`` for video recognizers) and a
            ``ClassLabel`` ``label``; ``eval`` in the same classes. Other columns are ignored.
        model: ``branches``, ``apexme``, ``ststnet``, ``offapexnet``, ``htnet`` or ``dtscnn``
            (:mod:`miex.train.models`).
        backbone: ImageNet ResNet weights for the encoders (a Hub id such as ``microsoft/resnet-18`` or a folder);
            ``None``: random initialisation.
        epochs, decay_epochs: epochs at ``learning_rate``, then epochs of linear decay to 0 (the paper: 10 + 10).
        batch_size, learning_rate, weight_decay, optimizer, max_grad_norm, precision, activation_checkpointing: as a
            recipe's ``training`` (``adam`` or ``adamw``; ``max_grad_norm`` 0 turns gradient clipping off; precision
            ``auto``, ``fp32``, ``bf16`` or ``fp16``; activation_checkpointing ``auto``, ``on`` or ``off``). Every
            keyword that is a recipe key defaults to the recipe's default (:data:`RECIPE_KEYS`).
        resize, crop_size: the image transform (random crop and flip when training, centre crop for ``eval``).
        flow_method: optical flow for flow recognizers (``auto``, ``tvl1``, ``farneback``). Flow recognizers other
            than DTSCNN read a ``pixel_values`` column of composite flow images when the dataset has one, else
            compute each onset/apex pair's image once (cached; docs/reference.md §Flow images) and train on
            tensors in memory.
        magnify: motion magnification of every input (:class:`miex.data.magnify.Magnification`); ``None``: off.
        num_workers: DataLoader workers (default: what this machine's cores allow).
        output_dir: the Trainer's working folder; when given, the trained model is also saved there
            (``save_pretrained``). ``None``: a temporary folder, removed afterwards.
        seed: seeds weights, augmentation and data order (same seed, same result).
        absent: classes absent from ``eval``: ``exclude`` them from UF1/UAR (default) or count them as ``zero``.
        progress: a step bar on stderr (flow recognizers on flow images: an epoch bar showing the training loss).
        **model_options: the family's config fields, e.g. ``head_hidden=[256]`` or ``encoder={...}``.

    Raises:
        MiexInputError: a missing column, a label column that is not a ``ClassLabel``, different classes in
            ``train`` and ``eval``, an unknown model or option, an out-of-range setting (named as the argument).
    """
    settings = {
        "epochs": epochs,
        "decay_epochs": decay_epochs,
        "batch_size": batch_size,
        "eval_batch_size": batch_size,
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        "optimizer": optimizer,
        "max_grad_norm": max_grad_norm,
        "precision": precision,
        "activation_checkpointing": activation_checkpointing,
        "num_workers": num_workers,
    }
    spec: TrainingSpec = Reader().read(TrainingSpec, {k: v for k, v in settings.items() if v is not None}, "")
    if absent not in ABSENT_CHOICES:
        raise MiexInputError(f"absent must be one of {', '.join(ABSENT_CHOICES)}, got {absent!r}", field="absent")
    if not 1 <= crop_size <= resize:
        raise MiexInputError(f"crop_size {crop_size} must lie in 1..resize ({resize})", field="crop_size")
    options = _model_options(model, model_options)
    input_spec = create_config(model, **options).input_spec()
    if input_spec.flow and not input_spec.sequence:
        check_flow_method(flow_method, field="flow_method")
        if magnify is not None:  # as a recipe's data.magnify: refused rather than silently not applied
            raise MiexInputError(
                f"magnify is not applied to the flow images {model} reads (the flow of a magnified "
                "pair is not a micro-expression's flow); leave it None",
                field="magnify",
            )
        return _train_on_flow_images(
            train,
            eval,
            model=model,
            backbone=backbone,
            options=options,
            spec=spec,
            input_spec=input_spec,
            size=input_spec.flow_size or crop_size,
            flow_method=flow_method,
            output_dir=output_dir,
            seed=seed,
            absent=absent,
            workers=num_workers,
            progress=progress,
        )
    needed = input_columns(input_spec)
    label_names = _label_names(train, "train")
    train = _columns(train, needed, "train")
    if eval is not None:
        eval_names = _label_names(eval, "eval")
        if eval_names != label_names:
            raise MiexInputError(
                f"eval's classes {eval_names} differ from train's {label_names}; evaluate in the "
                "classes the model learns",
                field="eval.label",
            )
        eval = _columns(eval, needed, "eval")
    flow_fn = None
    if input_spec.flow:
        check_flow_method(flow_method, field="flow_method")
        flow_fn = FlowFunction(flow_method)
    bound_heap()  # freed activations go back to the OS (docs/reference.md §Training memory)
    set_seed(seed)
    recognizer = new_recognizer(model, backbone, options, label_names)
    transform = {"resize": resize, "crop_size": crop_size, "flow_fn": flow_fn, "magnify": magnify}
    scratch = Path(output_dir) / ".trainer" if output_dir is not None else Path(tempfile.mkdtemp(prefix="miex-train-"))
    try:
        outcome = train_stage(
            recognizer,
            with_model_inputs(train, recognizer.config, train=True, seed=seed * 1000, **transform),
            spec,
            workdir=scratch,
            seed=seed,
            label="train",
            num_classes=len(label_names),
            absent=absent,
            progress=progress,
        )
        result = TrainResult(model=recognizer, label_names=label_names, history=outcome.history)
        if eval is not None:
            truth = np.asarray(eval["label"], dtype=np.int64)
            test = with_model_inputs(eval, recognizer.config, train=False, **transform)
            result.logits = predict(outcome.trainer, test, truth)
            result.predictions = result.logits.argmax(axis=-1)
            result.scores = uf1_uar(result.predictions, truth, len(label_names), absent=absent)
            logger.info(
                "eval: UF1 %.4f, UAR %.4f on %d samples", result.scores["uf1"], result.scores["uar"], len(truth)
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    recognizer.eval()
    if output_dir is not None:
        recognizer.save_pretrained(output_dir)
    return result


def _flow_images(
    dataset: datasets.Dataset, what: str, flow_method: str, workers: int | None, progress: bool = False
) -> np.ndarray:
    """Each row's composite flow image, computed in ``workers`` processes (default: one)."""
    from miex.data.faces.flow import FlowParams, default_method

    if not isinstance(dataset, datasets.Dataset):
        raise MiexInputError(f"{what}: expected a datasets.Dataset, got {type(dataset).__name__}", field=what)
    if len(dataset) == 0:
        raise MiexInputError(f"{what} has no rows", field=what)
    params = FlowParams(method=default_method() if flow_method == "auto" else flow_method)
    try:
        return dataset_flow_images(
            dataset,
            params,
            workers=max(1, workers or 1),
            desc=f"flow images ({what})",
            progress=True if progress else None,
        )
    except MiexInputError as error:
        raise MiexInputError(
            error.reason, row=error.row, field=f"{what}.{error.field}" if error.field else what
        ) from None


@contextmanager
def _epoch_bar(total: int, show: bool) -> Iterator[Callable[[dict[str, Any], int], None] | None]:
    """An epoch bar on stderr whose postfix is the epoch's training loss (a falling loss: it learns); off: None."""
    if not show:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="train", unit="epoch", file=sys.stderr, dynamic_ncols=True)

    def on_epoch(entry: dict[str, Any], _: int) -> None:
        bar.set_postfix_str(f"loss {entry['loss']:.3f}", refresh=False)
        bar.update()

    try:
        yield on_epoch
    finally:
        bar.close()


def _train_on_flow_images(
    train: datasets.Dataset,
    eval: datasets.Dataset | None,
    *,
    model: str,
    backbone: str | None,
    options: dict[str, Any],
    spec: TrainingSpec,
    input_spec: Any,
    size: int,
    flow_method: str,
    output_dir: str | PathLike[str] | None,
    seed: int,
    absent: str,
    workers: int | None,
    progress: bool = False,
) -> TrainResult:
    """The flow recognizers' path: composite flow images once, then :func:`train_on_tensors` (no Trainer);
    ``progress``: an epoch bar with the training loss."""
    import torch

    label_names = _label_names(train, "train")
    if eval is not None and _label_names(eval, "eval") != label_names:
        raise MiexInputError(
            f"eval's classes {_label_names(eval, 'eval')} differ from train's {label_names}; "
            "evaluate in the classes the model learns",
            field="eval.label",
        )
    inputs = model_tensor(_flow_images(train, "train", flow_method, workers, progress), input_spec, size)
    labels = torch.as_tensor(np.asarray(train["label"], dtype=np.int64))
    set_seed(seed)
    recognizer = new_recognizer(model, backbone, options, label_names)
    with _epoch_bar(spec.total_epochs, progress) as on_epoch:
        history = train_on_tensors(recognizer, inputs, labels, spec, seed=seed, on_epoch=on_epoch)
    result = TrainResult(model=recognizer, label_names=label_names, history=history)
    if eval is not None:
        truth = np.asarray(eval["label"], dtype=np.int64)
        images = _flow_images(eval, "eval", flow_method, workers, progress)
        result.logits = predict_tensors(recognizer, model_tensor(images, input_spec, size))
        result.predictions = result.logits.argmax(axis=-1)
        result.scores = uf1_uar(result.predictions, truth, len(label_names), absent=absent)
        logger.info("eval: UF1 %.4f, UAR %.4f on %d samples", result.scores["uf1"], result.scores["uar"], len(truth))
    if output_dir is not None:
        recognizer.save_pretrained(output_dir)
    return result
