"""Train GANimation with accelerate: WGAN-GP critic, AU regression, cycle and attention losses (docs/reference.md
§GANimation).

Run as ``miex train-generator ...`` or ``accelerate launch -m miex.data.generators.ganimation.train ...``.
Checkpoints (``accelerator.save_state``) include the data order and the sampling RNG, so a killed run resumed from
its last checkpoint computes exactly the losses the uninterrupted run would have. Nothing in a checkpoint is unpickled
freely: models are safetensors, optimizer and RNG states are read ``weights_only``, the sampling state is JSON, and
``--resume`` first checks every file against the manifest written at save time
(:func:`~.checkpoints.verify_checkpoint_folder`).

The output folder follows the file contract (docs/reference.md §File contract): it is ours only when its
``.miex/output.json`` marker says "generator checkpoint"; anything else non-empty is refused unless ``--overwrite``,
and ``miex train-generator`` holds its lock for the whole run. A loss that turns NaN or infinite stops the run
before the optimiser step (no NaN checkpoint is written), and a save that fails for lack of space is reported as
the full disk it is.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.util
import json
import logging
import os
import pickle
import shutil
import sys
from collections.abc import Iterator
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration
from safetensors import SafetensorError

from miex.core.errors import MiexInputError
from miex.core.fileio import GENERATOR_KIND, OutputLock, atomic_path, first_line, guard_output_folder, mark_output
from miex.core.schedule import stable_then_linear
from miex.data.aus.schema import to_generator_scale
from miex.data.generators.ganimation.checkpoints import (
    CHECKPOINT_MANIFEST,
    is_complete_checkpoint,
    verify_checkpoint_folder,
    write_checkpoint_manifest,
)
from miex.data.generators.ganimation.data import FaceAUDataset, ResumableOrder, from_face_folder, from_ganimation_layout
from miex.data.generators.ganimation.losses import LossWeights, attention_losses, gradient_penalty
from miex.data.generators.ganimation.model import GANimationCriticNetwork, GANimationNetwork, animate
from miex.data.generators.ganimation_options import (
    MAX_TOTAL_STEPS,
    TrainConfig,
    check_config,
    config_from_args,
    configure,
)
from miex.data.generators.grid import image_grid

logger = logging.getLogger(__name__)

SAMPLING_STATE = "sampling_state.json"
"""Step, data order and sampling RNG, beside accelerate's files in a checkpoint folder (JSON: nothing to unpickle)."""
COMMAND = "miex train-generator"
OUTPUT_TREES = ("checkpoints", "samples", "generator", "critic", "logs")
"""Folders train-generator writes inside its output folder (none may be, or hold, a link)."""
OUTPUT_WRITES = (
    *OUTPUT_TREES,
    "train_config.json",
    *(
        f"{model}/{name}"
        for model in ("generator", "critic")
        for name in ("config.json", "model.safetensors", "README.md")
    ),
)
"""Every path train-generator writes inside its output folder, relative to it."""
LOW_SPACE_BYTES = 16 << 20
"""A save that fails with less free space than this left on the disk failed because the disk is full."""


def guard_output(config: TrainConfig) -> None:
    """Refuse an output folder that is a file, overlaps the training data, holds links where the run writes, or
    (without ``--overwrite``) is non-empty and not a train-generator output; read-only, so every rank may call it."""
    guard_output_folder(
        config.output_dir,
        config.overwrite,
        kind=GENERATOR_KIND,
        command=COMMAND,
        writes=OUTPUT_WRITES,
        trees=OUTPUT_TREES,
        inputs=(config.data, config.au_table),
        replaced="its checkpoints/, samples/, generator/, critic/ and train_config.json",
    )


@contextlib.contextmanager
def disk_errors(path: Path) -> Iterator[None]:
    """Report a save that failed for lack of space (safetensors' and torch's writers raise their own exception
    types, without an errno) as the :class:`OSError` it is: one line naming ``path``, exit 1, not "internal
    error". Any other failure passes through unchanged."""
    try:
        yield
    except (SafetensorError, RuntimeError) as error:
        text = str(error)
        writer = isinstance(error, SafetensorError) or "inline_container" in text or "PytorchStreamWriter" in text
        if not writer and "os error" not in text:
            raise
        if "os error 28" in text or "No space left" in text or _free_bytes(path) < LOW_SPACE_BYTES:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from error
        raise OSError(errno.EIO, f"writing failed ({first_line(error)})", str(path)) from error


def _free_bytes(path: Path) -> int:
    """Free bytes on the disk holding ``path`` (its nearest existing folder); a huge number when unknown."""
    for folder in (path, *path.parents):
        if folder.exists():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                break
    return 1 << 62


class TrainingDiverged(MiexInputError):
    """A loss became NaN or infinite: the settings (learning rate, loss weights, precision) do not train."""


class SamplingState:
    """Step counter, data order and the RNG for targets/noise/GP mixing; saved as JSON in each checkpoint folder
    (not through ``register_for_checkpointing``, which accelerate reloads with ``weights_only=False``)."""

    def __init__(self, order: ResumableOrder, seed: int) -> None:
        self.step = 0
        self.order = order
        self.rng = torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "order": self.order.state_dict(), "rng": self.rng.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.order.load_state_dict(state["order"])
        self.rng.set_state(torch.as_tensor(state["rng"], dtype=torch.uint8))

    def save(self, folder: Path) -> None:
        """Write the state as JSON (the RNG state as its list of bytes)."""
        state = self.state_dict() | {"rng": self.rng.get_state().tolist()}
        with atomic_path(folder / SAMPLING_STATE) as temporary:
            temporary.write_text(json.dumps(state), encoding="utf-8")

    def load(self, folder: Path) -> None:
        """Restore the state :meth:`save` wrote; a malformed file is an input error naming it."""
        path = folder / SAMPLING_STATE
        try:
            self.load_state_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
            raise MiexInputError(f"unreadable sampling state ({error})", file=path) from error


def load_dataset(config: TrainConfig) -> FaceAUDataset:
    root = Path(config.data)
    if (root / "aus_openface.pkl").is_file():
        return from_ganimation_layout(root, image_size=config.image_size)
    if config.au_table is None:
        raise MiexInputError(
            "a face folder needs --au-table (or use GANimation's layout with aus_openface.pkl)", file=root
        )
    return from_face_folder(root, config.au_table, image_size=config.image_size)


def _tracker() -> str | None:
    return "tensorboard" if importlib.util.find_spec("tensorboard") else None


class GANimationTrainer:
    """Owns the models, optimisers and sampling state; :meth:`step` is one critic iteration (+ generator every n)."""

    def __init__(self, config: TrainConfig, dataset: FaceAUDataset | None = None) -> None:
        self.config = check_config(config)
        self.output = Path(config.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=config.mixed_precision,
            log_with=_tracker(),
            project_config=ProjectConfiguration(project_dir=str(self.output), logging_dir=str(self.output / "logs")),
        )
        torch.manual_seed(config.seed)
        self.dataset = dataset if dataset is not None else load_dataset(config)
        self.weights = LossWeights.preset(config.preset, config.batch_size)
        if config.au_weight is not None:
            self.weights = replace(self.weights, au=config.au_weight)
        generator_args, critic_args = config.architecture()
        generator, critic = GANimationNetwork(**generator_args), GANimationCriticNetwork(**critic_args)
        optimizer_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=config.betas)
        optimizer_d = torch.optim.Adam(critic.parameters(), lr=config.lr, betas=config.betas)
        steps_per_epoch = len(self.dataset) // (config.batch_size * self.accelerator.num_processes)
        self.total = config.max_steps or (config.epochs + config.decay_epochs) * steps_per_epoch
        if self.total > MAX_TOTAL_STEPS:
            raise MiexInputError(
                f"--epochs {config.epochs} + --decay-epochs {config.decay_epochs} of {steps_per_epoch} steps make "
                f"{self.total:,} steps, more than the {MAX_TOTAL_STEPS:,} a run may take; give fewer epochs or "
                "--max-steps",
                field="--epochs",
            )
        self._claim_output()  # every input checked: the folder becomes a generator checkpoint folder
        decay_start = config.decay_start if config.decay_start is not None else config.epochs * steps_per_epoch
        # one schedule function for both trainers: constant, then linear to 0 over the last total - decay_start steps
        self.schedule = partial(stable_then_linear, stable=decay_start, total=self.total)
        self.generator, self.critic, self.optimizer_g, self.optimizer_d = self.accelerator.prepare(
            generator, critic, optimizer_g, optimizer_d
        )
        # one global order, each process takes its slice: ranks see disjoint faces and resume together
        order = ResumableOrder(len(self.dataset), config.batch_size * self.accelerator.num_processes, config.seed)
        self.state = SamplingState(order, config.seed)
        if config.resume:
            self.resume(self._resume_dir(config.resume))
        self.accelerator.init_trackers("ganimation", config={k: str(v) for k, v in asdict(config).items()})

    def _claim_output(self) -> None:
        """Check the output folder (every rank), then mark it a generator checkpoint folder (main process) before
        anything is written into it; ``miex train-generator`` also holds its lock (:func:`run`)."""
        guard_output(self.config)
        self.accelerator.wait_for_everyone()  # every rank has checked before the marker is written
        if self.accelerator.is_main_process:
            mark_output(self.output, GENERATOR_KIND, COMMAND)
        self.accelerator.wait_for_everyone()

    def _resume_dir(self, resume: str) -> Path:
        """``resume`` itself, or for 'latest' the newest checkpoint whose save completed (interrupted ones skipped)."""
        if resume != "latest":
            return Path(resume)
        found = sorted(
            (p for p in (self.output / "checkpoints").glob("step_*") if p.name[5:].isdigit()),
            key=lambda p: int(p.name[5:]),
        )
        complete = [p for p in found if is_complete_checkpoint(p)]
        if not complete:
            raise MiexInputError(
                "no completed checkpoint to resume from; train without --resume", file=self.output / "checkpoints"
            )
        if complete[-1] != found[-1]:
            logger.warning("skipping %s: its save did not complete", found[-1])
        return complete[-1]

    def resume(self, folder: Path) -> None:
        """Load a checkpoint folder after checking every file against its manifest; tensors only (safetensors and
        ``weights_only`` loads), so even a verified folder cannot run code."""
        verify_checkpoint_folder(folder)
        try:
            self.accelerator.load_state(str(folder), load_kwargs={"weights_only": True})
        except (pickle.UnpicklingError, SafetensorError, RuntimeError, ValueError, KeyError, TypeError) as error:
            reason = first_line(error)
            raise MiexInputError(
                f"--resume: checkpoint does not load as tensors into this model configuration "
                f"({reason}); resume with the options it was trained with",
                file=folder,
            ) from error
        self.state.load(folder)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Real images, their conditioning and target conditioning = another random face's AUs on the 0-1 scale
        (:func:`~miex.data.aus.schema.to_generator_scale`) + U(-0.1, 0.1).

        The noise is added on the generator's 0-1 scale (± 0.5 on the 0-5 scale) and not clipped, as in the
        original data loader."""
        accelerator = self.accelerator
        indices = self.state.order.next_batch()[accelerator.process_index :: accelerator.num_processes]
        images, conditions = zip(*(self.dataset[i] for i in indices), strict=True)
        others = torch.randint(len(self.dataset), (len(indices),), generator=self.state.rng).tolist()
        targets = torch.from_numpy(to_generator_scale(self.dataset.aus[others]))
        noise = (torch.rand(targets.shape, generator=self.state.rng) * 2 - 1) * self.config.noise
        device = accelerator.device
        return torch.stack(images).to(device), torch.stack(conditions).to(device), (targets + noise).to(device)

    def step(self) -> dict[str, float]:
        """One critic update, plus a generator update every ``critic_steps`` iterations; returns the loss terms."""
        w, accelerator = self.weights, self.accelerator
        for optimizer in (self.optimizer_g, self.optimizer_d):  # the rate is a function of the checkpointed step
            for group in optimizer.param_groups:
                group["lr"] = self.config.lr * self.schedule(self.state.step)
        real, real_cond, target = self._batch()
        alpha = torch.rand(real.shape[0], 1, 1, 1, generator=self.state.rng).to(real.device)
        logs: dict[str, float] = {}
        with accelerator.autocast():
            with torch.no_grad():
                fake, _ = animate(self.generator, real, target)
            score_real, aus_real = self.critic(real)
            score_fake, _ = self.critic(fake)
            loss_au_d = F.mse_loss(aus_real.float(), real_cond)
            gp = gradient_penalty(self.critic, real, fake, alpha)
            adversarial = score_fake.mean() - score_real.mean()
            loss_d = w.adversarial * adversarial + w.au * loss_au_d + w.gradient_penalty * gp
        self._check_finite("critic", loss_d)
        self.optimizer_d.zero_grad(set_to_none=True)
        accelerator.backward(loss_d)
        self.optimizer_d.step()
        logs.update(critic=loss_d.item(), critic_au=loss_au_d.item(), gradient_penalty=gp.item())
        if (self.state.step + 1) % self.config.critic_steps == 0:
            self.critic.requires_grad_(False)  # the generator step needs no critic weight gradients
            with accelerator.autocast():
                fake, mask = animate(self.generator, real, target)
                score, aus_fake = self.critic(fake)
                cycle, cycle_mask = animate(self.generator, fake, real_cond)
                loss_au_g = F.mse_loss(aus_fake.float(), target)
                loss_cycle = F.l1_loss(cycle.float(), real)
                loss_g = (
                    -w.adversarial * score.mean()
                    + w.au * loss_au_g
                    + w.cycle * loss_cycle
                    + attention_losses(w, mask.float(), cycle_mask.float())
                )
            self._check_finite("generator", loss_g)
            self.optimizer_g.zero_grad(set_to_none=True)
            accelerator.backward(loss_g)
            self.optimizer_g.step()
            self.critic.requires_grad_(True)
            logs.update(
                generator=loss_g.item(),
                generator_au=loss_au_g.item(),
                cycle=loss_cycle.item(),
                attention=mask.float().mean().item(),
            )
        self.state.step += 1
        return logs

    def _check_finite(self, name: str, loss: torch.Tensor) -> None:
        """Stop before an optimiser step would write NaN into the weights (and then into every later checkpoint)."""
        if torch.isfinite(loss.detach()).all():
            return
        step = self.state.step + 1
        checkpoints = sorted(self.output.glob("checkpoints/step_*/" + CHECKPOINT_MANIFEST))
        resume = "--resume latest to continue from the last checkpoint" if checkpoints else "a new run"
        raise TrainingDiverged(
            f"training diverged at step {step}: the {name} loss is {loss.item()} (nothing of this step was saved); "
            f"try a lower --lr (now {self.config.lr:g}), a lower --au-weight, or --mixed-precision no, then "
            f"{resume}"
        )

    def _check_weights(self) -> None:
        """Never save weights that are no longer finite (a step whose loss was finite can still overflow them)."""
        for model, name in ((self.generator, "generator"), (self.critic, "critic")):
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                raise TrainingDiverged(
                    f"training diverged by step {self.state.step}: the {name}'s weights are no "
                    f"longer finite, so they were not saved; try a lower --lr (now "
                    f"{self.config.lr:g}) or --au-weight"
                )

    def save_checkpoint(self) -> Path:
        """accelerate's state, then the sampling state, then the manifest (last: its presence marks a full save)."""
        path = self.output / "checkpoints" / f"step_{self.state.step}"
        self._check_weights()
        if self.accelerator.is_main_process:  # a save over an older one is incomplete until its new manifest
            (path / CHECKPOINT_MANIFEST).unlink(missing_ok=True)
        self.accelerator.wait_for_everyone()
        with disk_errors(path):
            self.accelerator.save_state(str(path), safe_serialization=True)
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            self.state.save(path)
            write_checkpoint_manifest(path)
        self.accelerator.wait_for_everyone()
        return path

    def save_samples(self, count: int = 4) -> None:
        """Real faces (top) next to the same faces animated to other faces' AUs (bottom): PNG + tracker image."""
        images = torch.stack([self.dataset[i][0] for i in range(min(count, len(self.dataset)))])
        targets = torch.from_numpy(to_generator_scale(self.dataset.aus[::-1][: len(images)]))
        model = self.accelerator.unwrap_model(self.generator)
        with torch.no_grad():
            fake, _ = model.animate(images.to(self.accelerator.device), targets.to(self.accelerator.device))
        grid = image_grid([(images + 1) / 2, (fake.float().cpu() + 1) / 2])
        (self.output / "samples").mkdir(parents=True, exist_ok=True)
        grid.save(self.output / "samples" / f"step_{self.state.step:07d}.png")
        for tracker in self.accelerator.trackers:
            if tracker.name == "tensorboard":
                tracker.log_images({"samples": np.asarray(grid)}, self.state.step, dataformats="HWC")

    def train(self, until: int | None = None) -> list[dict[str, float]]:
        """Run to ``until`` (default: the end of the schedule), checkpointing and logging on the way, with a step
        progress bar on stderr (main process only)."""
        from tqdm.auto import tqdm

        history = []
        stop = min(until or self.total, self.total)
        sampling = self.config.sample_every and self.accelerator.is_main_process
        with tqdm(
            total=stop,
            initial=self.state.step,
            desc="train-generator",
            unit="step",
            file=sys.stderr,
            disable=not self.accelerator.is_main_process or self.state.step >= stop,
        ) as bar:
            while self.state.step < stop:  # (the bar ends its line before any error is printed)
                logs = self.step()
                history.append(logs)
                bar.update(1)
                step = self.state.step
                if step % self.config.log_every == 0:
                    self.accelerator.log(logs, step=step)
                if step % self.config.save_every == 0:
                    self.save_checkpoint()
                if sampling and step % self.config.sample_every == 0:
                    self.save_samples()
        return history

    def save_pretrained(self) -> Path:
        """Write the generator (and critic) as safetensors + config.json folders, pushable to the Hub."""
        self.accelerator.wait_for_everyone()
        target = self.output / "generator"
        self._check_weights()
        if self.accelerator.is_main_process:
            with disk_errors(target):
                self.accelerator.unwrap_model(self.generator).save_pretrained(target)
            with disk_errors(self.output / "critic"):
                self.accelerator.unwrap_model(self.critic).save_pretrained(self.output / "critic")
            with atomic_path(self.output / "train_config.json") as temporary:
                temporary.write_text(json.dumps(asdict(self.config), indent=2), encoding="utf-8")
        self.accelerator.end_training()
        return target


def run(args: argparse.Namespace) -> int:
    """Train with the command line's options; the main process holds the output folder's lock for the whole run."""
    from accelerate import PartialState

    config = config_from_args(args)
    guard_output(config)  # every rank, before the lock: a refused folder gets no .miex/
    state = PartialState()
    state.wait_for_everyone()  # nobody writes before every rank has checked the folder
    with OutputLock(config.output_dir) if state.is_main_process else contextlib.nullcontext():
        trainer = GANimationTrainer(config)  # checks the folder again under the lock, then marks it
        trainer.train()
        logger.info("generator written to %s", trainer.save_pretrained())
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Train a GANimation face generator.")
    configure(parser)
    logging.basicConfig(level=logging.INFO)
    return run(parser.parse_args())


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
