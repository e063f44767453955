"""One training stage with the transformers ``Trainer``, and test-set prediction.

Optimisation follows docs/reference.md §Recognizers: Adam (``weight_decay`` as the authors' L2 on every parameter;
``adamw`` for the decoupled variant), gradient clipping, ``epochs`` at the full learning rate then ``decay_epochs`` of
linear decay to 0. The runner's folds and :func:`miex.train.api.train_recognizer` both train through
:func:`train_stage`. The Trainer handles devices and distribution (``torchrun`` / ``accelerate launch``): the
recipe's batch size is the global batch, split over the processes; predictions are gathered in dataset order on
every process.

No epoch is ever chosen on test data: the test set is predicted once, after the last epoch. With a validation split
(carved from training subjects) the weights of the epoch with the best validation UF1 are kept in memory and the test
set is ALSO predicted with them, reported separately and labelled as chosen on validation.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import EvalPrediction, PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from miex.core.errors import MiexInputError
from miex.core.schedule import stable_steps, stable_then_linear
from miex.train.data import Collator
from miex.train.metrics import uf1_uar
from miex.train.runner.specs import TrainingSpec

logger = logging.getLogger(__name__)


def optimizer_choice(model: torch.nn.Module, spec: TrainingSpec) -> tuple[type[torch.optim.Optimizer], dict[str, Any]]:
    """The Trainer's ``optimizer_cls_and_kwargs``: Adam (``weight_decay`` as the authors' L2) or AdamW, on EVERY
    trainable parameter in one group. The parameters are named explicitly because the Trainer's own grouping would
    exempt biases and norm weights from weight decay."""
    cls = torch.optim.Adam if spec.optimizer == "adam" else torch.optim.AdamW
    params = [p for p in model.parameters() if p.requires_grad]
    return cls, {"params": params, "lr": spec.learning_rate, "weight_decay": spec.weight_decay}


class StageTrainer(Trainer):
    """The Trainer with the stage's schedule, :func:`~miex.core.schedule.stable_then_linear` over the steps it
    counts (transformers' ``warmup_stable_decay`` differs in the last bit; see :mod:`miex.core.schedule`). The
    optimizer is the Trainer's own option (:func:`optimizer_choice`)."""

    def __init__(self, *args: Any, stage: TrainingSpec, **kwargs: Any) -> None:
        self.stage = stage
        super().__init__(*args, **kwargs)

    def create_scheduler(
        self, num_training_steps: int, optimizer: torch.optim.Optimizer | None = None
    ) -> torch.optim.lr_scheduler.LRScheduler:
        if self.lr_scheduler is None:
            stable = stable_steps(num_training_steps, self.stage.epochs, self.stage.total_epochs)
            schedule = partial(stable_then_linear, stable=stable, total=num_training_steps)
            self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, schedule)
            self._created_lr_scheduler = True
        return self.lr_scheduler


class LogCallback(TrainerCallback):
    """One line per log event through :mod:`logging` (the Trainer's printer is removed)."""

    def __init__(self, label: str) -> None:
        self.label = label

    def on_log(self, args: TrainingArguments, state: Any, control: Any, logs: dict | None = None, **kwargs: Any):
        if state.is_world_process_zero and logs:
            shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in logs.items()}
            logger.info("%s %s", self.label, shown)


class StageProgress(TrainerCallback):
    """A step bar on stderr for one stage of one fold (the Trainer's own bar also repeats every log line, which
    :class:`LogCallback` already writes; this one only counts). Log lines are routed around the bar while it runs."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None

    def on_train_begin(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        from tqdm.auto import tqdm

        if state.is_world_process_zero:
            interactive = sys.stderr.isatty()  # a log file gets a line every 30 s, not a redraw per step
            self.bar = tqdm(
                total=state.max_steps,
                desc=self.label,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
                mininterval=0.5 if interactive else 30.0,
            )

    def on_step_end(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"epoch {state.epoch or 0:.2f}/{args.num_train_epochs:g}", refresh=False)
            self.bar.update(state.global_step - self.bar.n)

    def on_train_end(self, args: TrainingArguments, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def check_loss(loss: float, epoch: float, spec: TrainingSpec, label: str) -> None:
    """Stop a stage whose training loss is NaN or infinite: its weights are no longer numbers, so every later
    epoch, prediction and score would be noise written as if it were a result. Says what to change."""
    if math.isfinite(loss):
        return
    raise MiexInputError(
        f"{label}: the training loss became {loss} in epoch {math.ceil(epoch) or 1} of {spec.total_epochs}; training "
        f"diverged and would only write meaningless scores, so the run stops: lower learning_rate (now "
        f"{spec.learning_rate:g}), clip gradients (max_grad_norm > 0, now {spec.max_grad_norm:g}), train in fp32 "
        "(precision: fp32), and check the inputs for NaN or extreme values"
    )


class StopOnNonFiniteLoss(TrainerCallback):
    """:func:`check_loss` on every loss the Trainer logs (once per epoch; the Trainer's NaN filter is off, see
    :func:`training_arguments`, so a NaN loss is logged as NaN rather than replaced by an average)."""

    def __init__(self, spec: TrainingSpec, label: str) -> None:
        self.spec, self.label = spec, label

    def on_log(self, args: TrainingArguments, state: Any, control: Any, logs: dict | None = None, **kwargs: Any):
        loss = (logs or {}).get("loss")
        if isinstance(loss, int | float):
            check_loss(float(loss), float(state.epoch or 0), self.spec, self.label)


class BestOnValidation(TrainerCallback):
    """Keeps a CPU copy of the weights after the epoch with the best validation UF1 (ties: the earlier epoch)."""

    def __init__(self) -> None:
        self.best: float | None = None
        self.epoch: float | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def on_evaluate(self, args: TrainingArguments, state: Any, control: Any, metrics: dict | None = None, **kwargs):
        score = (metrics or {}).get("eval_uf1")
        model = kwargs.get("model")
        if score is None or model is None:
            return
        if self.best is None or score > self.best:
            self.best, self.epoch = float(score), float(state.epoch or 0)
            self.state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def metrics_fn(num_classes: int, absent: str) -> Callable[[EvalPrediction], dict[str, float]]:
    def compute(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        scores = uf1_uar(np.argmax(logits, axis=-1), prediction.label_ids, num_classes, absent=absent)
        return {"uf1": scores["uf1"], "uar": scores["uar"]}

    return compute


def precision_flags(precision: str) -> dict[str, bool]:
    """``auto``: bf16 on a GPU that supports it, else fp32."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        precision = "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def checkpointing_on(setting: str) -> bool:
    """``auto``: on when training on the CPU (memory binds there), off on a GPU."""
    return setting == "on" or (setting == "auto" and not torch.cuda.is_available())


def world_size() -> int:
    """Processes of this run (``torchrun`` / ``accelerate launch`` set ``WORLD_SIZE``)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", "1"))


def per_device_batch(batch_size: int, world: int) -> int:
    return max(1, round(batch_size / world))


def training_arguments(
    spec: TrainingSpec, *, workdir: Path, seed: int, evaluate: bool = False, epochs: int | None = None
) -> TrainingArguments:
    """The Trainer's settings for one stage; its own progress bar and printer stay off (see :class:`StageProgress`)."""
    world = world_size()
    per_device = per_device_batch(spec.batch_size, world)
    if per_device * world != spec.batch_size:
        logger.warning(
            "batch_size %d does not split over %d processes: global batch %d (%d per process)",
            spec.batch_size,
            world,
            per_device * world,
            per_device,
        )
    per_device_eval = max(1, math.ceil(spec.eval_batch_size / world))
    return TrainingArguments(
        output_dir=str(workdir),
        per_device_train_batch_size=per_device,
        per_device_eval_batch_size=per_device_eval,
        num_train_epochs=spec.total_epochs if epochs is None else epochs,
        learning_rate=spec.learning_rate,
        weight_decay=spec.weight_decay,
        max_grad_norm=spec.max_grad_norm,
        eval_strategy="epoch" if evaluate else "no",
        save_strategy="no",
        logging_strategy="epoch",
        logging_nan_inf_filter=False,  # a diverged stage must log NaN, not an average of earlier losses
        report_to="none",
        # two image columns, transformed on the fly (docs/reference.md §Hugging Face stack)
        remove_unused_columns=False,
        seed=seed,
        data_seed=seed,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=spec.num_workers,
        disable_tqdm=True,
        ddp_find_unused_parameters=False,
        **precision_flags(spec.precision),
    )


@dataclass
class StageOutcome:
    trainer: StageTrainer
    history: list[dict[str, Any]]
    best: BestOnValidation | None


def train_stage(
    model: torch.nn.Module,
    train: Any,
    spec: TrainingSpec,
    *,
    workdir: Path,
    seed: int,
    label: str,
    validation: Any = None,
    num_classes: int = 3,
    absent: str = "exclude",
    progress: bool = True,
) -> StageOutcome:
    """Train ``model`` in place on ``train`` (a dataset with model inputs set) for the stage's epochs; ``progress``
    shows a step bar labelled ``label`` on stderr."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    best = BestOnValidation() if validation is not None else None
    if hasattr(model, "activation_checkpointing"):
        model.activation_checkpointing = checkpointing_on(spec.activation_checkpointing)
    trainer = StageTrainer(
        model=model,
        args=training_arguments(spec, workdir=workdir, seed=seed, evaluate=validation is not None),
        train_dataset=train,
        eval_dataset=validation,
        data_collator=Collator(),
        compute_metrics=metrics_fn(num_classes, absent) if validation is not None else None,
        callbacks=[
            LogCallback(label),
            StopOnNonFiniteLoss(spec, label),
            *([StageProgress(label)] if progress else []),
            *([best] if best else []),
        ],
        optimizer_cls_and_kwargs=optimizer_choice(model, spec),
        stage=spec,
    )
    trainer.remove_callback(PrinterCallback)
    with logging_redirect_tqdm():
        trainer.train()
    drop_optimizer(trainer)
    return StageOutcome(trainer=trainer, history=list(trainer.state.log_history), best=best)


def drop_optimizer(trainer: Trainer) -> None:
    """After training the Trainer only predicts: drop its optimizer state (Adam: two tensors per weight), scheduler
    and the Accelerator's references to them and to the training DataLoader, so they are not alive while the next
    stage or fold trains (a LOSO run trains 68 folds in one process)."""
    trainer.accelerator.free_memory()
    trainer.optimizer = trainer.lr_scheduler = None
    trainer.callback_handler.optimizer = trainer.callback_handler.lr_scheduler = None


def predict(trainer: Trainer, dataset: Any, truth: np.ndarray) -> np.ndarray:
    """Logits for every row of ``dataset``, in order, on every process; the gathered labels must equal ``truth``
    (so a reordering by the distributed sampler could never pair a clip with another clip's prediction)."""
    output = trainer.predict(dataset)
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    if output.label_ids is None or not np.array_equal(np.asarray(output.label_ids).ravel(), truth):
        raise RuntimeError("gathered test labels do not match the test set order; predictions cannot be attributed")
    return np.asarray(logits, dtype=np.float32)
