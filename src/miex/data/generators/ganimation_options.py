"""GANimation training options: :class:`TrainConfig` and the command-line options built from it.

A module outside the ``ganimation`` package (whose ``__init__`` loads the torch models), so ``miex train-generator
--help`` builds its parser without importing torch or accelerate; :mod:`miex.data.generators.ganimation.train`
trains with these options.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, fields
from typing import Any

from miex.core.errors import MiexInputError
from miex.core.fileio import add_overwrite_option

__all__ = [
    "INTEGER_BOUNDS",
    "INTEGER_OPTIONS",
    "MAX_TOTAL_STEPS",
    "TrainConfig",
    "check_config",
    "config_from_args",
    "configure",
]


@dataclass
class TrainConfig:
    """Paper defaults (docs/reference.md §GANimation); ``preset='replicate'`` switches to the MiE-X authors' variant."""

    data: str
    output_dir: str
    au_table: str | None = None
    preset: str = "paper"
    image_size: int = 128
    width: int = 64
    residual_blocks: int = 6
    critic_width: int = 64
    critic_layers: int = 6
    batch_size: int = 25
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.999)
    critic_steps: int = 5
    epochs: int = 20
    decay_epochs: int = 10
    max_steps: int | None = None
    decay_start: int | None = None
    noise: float = 0.1
    au_weight: float | None = None
    mixed_precision: str = "no"
    save_every: int = 1000
    sample_every: int = 500
    log_every: int = 50
    resume: str | None = None
    seed: int = 0
    overwrite: bool = False

    def architecture(self) -> tuple[dict[str, Any], dict[str, Any]]:
        replicate = self.preset == "replicate"
        generator = {
            "width": self.width,
            "num_residual_blocks": self.residual_blocks,
            "image_size": self.image_size,
            "norm_affine": not replicate,
            "conv_bias": replicate,
        }
        critic = {"width": self.critic_width, "num_layers": self.critic_layers, "image_size": self.image_size}
        return generator, critic


INTEGER_OPTIONS: dict[str, str] = {
    "image_size": "face crop side in pixels (GANimation: 128)",
    "width": "generator width: channels of its first convolution (GANimation: 64)",
    "residual_blocks": "generator residual blocks at the bottleneck (GANimation: 6)",
    "critic_width": "critic width: channels of its first convolution (GANimation: 64)",
    "critic_layers": "critic stride-2 convolutions (GANimation: 6 at 128 px)",
    "batch_size": "faces per step (GANimation: 25)",
    "critic_steps": "critic updates per generator update (GANimation: 5)",
    "epochs": "epochs at the full learning rate (GANimation: 20)",
    "decay_epochs": "epochs of linear learning-rate decay to 0 after them (GANimation: 10)",
    "max_steps": "stop after this many steps (a short run; default: the epochs' steps)",
    "decay_start": "step at which the decay starts (default: after --epochs)",
    "save_every": "steps between checkpoints (OUT/checkpoints/step_N, resumable)",
    "sample_every": "steps between sample grids in OUT/samples",
    "log_every": "steps between log lines",
    "seed": "seeds weights, data order and target AUs (same seed, same run)",
}
"""The integer options of ``miex train-generator`` and their help (defaults from :class:`TrainConfig`)."""

INTEGER_BOUNDS: dict[str, tuple[int, int]] = {
    "image_size": (16, 1024),
    "width": (1, 1024),
    "residual_blocks": (0, 64),
    "critic_width": (1, 1024),
    "critic_layers": (1, 10),
    "batch_size": (1, 4096),
    "critic_steps": (1, 100),
    "epochs": (0, 100_000),
    "decay_epochs": (0, 100_000),
    "max_steps": (1, 10**9),
    "decay_start": (0, 10**9),
    "save_every": (1, 10**9),
    "sample_every": (0, 10**9),
    "log_every": (1, 10**9),
    "seed": (0, 2**32 - 1),
}
"""The range each integer option may take: beyond it a value is a typo or a run that could never finish (the
paper's schedule is about 240,000 steps), refused where it enters rather than failing deep inside torch."""
MAX_TOTAL_STEPS = 10**9
"""The longest schedule a run may have (epochs x steps per epoch, or --max-steps)."""
LEARNING_RATE_RANGE = (0.0, 1.0)
"""A learning rate must be finite and in (0, 1]; GANimation trains at 1e-4."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``miex train-generator`` and ``python -m miex.data.generators.ganimation.train``."""
    defaults = TrainConfig(data="", output_dir="")
    parser.add_argument("data", help="face folder (with --au-table) or GANimation sample-data folder")
    parser.add_argument("--out", dest="output_dir", required=True, help="output folder (checkpoints, generator/)")
    parser.add_argument("--au-table", help="AU table (parquet/CSV) for a face folder; rows matched by path or name")
    parser.add_argument(
        "--preset",
        choices=("paper", "replicate"),
        default="paper",
        help="paper: the official GANimation (affine norms, AU weight 4000/batch); replicate: the "
        "variant the MiE-X authors trained (no-affine norms, conv bias, AU weight 160) "
        "(default: %(default)s; docs/reference.md §GANimation)",
    )
    for name, text in INTEGER_OPTIONS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=getattr(defaults, name),
            help=f"{text} (default: %(default)s)",
        )
    parser.add_argument(
        "--lr",
        type=float,
        default=defaults.lr,
        help="Adam learning rate of generator and critic, betas (0.5, 0.999) (default: %(default)s)",
    )
    parser.add_argument("--au-weight", type=float, help="override the preset's AU-regression weight (finite, >= 0)")
    parser.add_argument(
        "--mixed-precision",
        choices=("no", "fp16", "bf16"),
        default="no",
        help="accelerate's mixed precision (default: %(default)s: fp32)",
    )
    parser.add_argument(
        "--resume",
        metavar="DIR|latest",
        help="a checkpoint folder this command saved (OUT/checkpoints/step_N; every file is checked against its "
        "miex_checkpoint.json before loading, tensors only), or 'latest' for the newest complete one under OUT",
    )
    add_overwrite_option(parser, "its checkpoints/, samples/, generator/, critic/ and train_config.json")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    names = {item.name for item in fields(TrainConfig)}
    return check_config(TrainConfig(**{k: v for k, v in vars(args).items() if k in names}))


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def check_config(config: TrainConfig) -> TrainConfig:
    """Refuse, naming the option and its allowed range, any value that would fail deep inside torch (a zero batch,
    a NaN learning rate, a crop the critic cannot halve ``critic_layers`` times) or never finish (``epochs`` 1e22)."""
    for name, (low, high) in INTEGER_BOUNDS.items():
        value = getattr(config, name)
        if value is None and name in ("max_steps", "decay_start"):
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise MiexInputError(f"must be a whole number from {low} to {high}, got {value!r}", field=_flag(name))
    if config.image_size % 4:
        raise MiexInputError(
            f"--image-size must be a multiple of 4 (the generator halves it twice), got {config.image_size}",
            field="--image-size",
        )
    if config.image_size % 2**config.critic_layers:
        largest = max(n for n in range(1, 11) if config.image_size % 2**n == 0)
        raise MiexInputError(
            f"--critic-layers {config.critic_layers}: the critic halves the {config.image_size} px crop once per "
            f"layer, so --image-size must be a multiple of 2**{config.critic_layers} = {2**config.critic_layers}; "
            f"use --critic-layers 1 to {largest} (GANimation: 6 at 128 px)",
            field="--critic-layers",
        )
    _check_number("--lr", config.lr, positive=True, high=LEARNING_RATE_RANGE[1])
    if config.au_weight is not None:
        _check_number("--au-weight", config.au_weight, positive=False, high=math.inf)
    _check_number("noise", config.noise, positive=False, high=1.0)
    if len(config.betas) != 2 or not all(isinstance(b, int | float) and 0 <= b < 1 for b in config.betas):
        raise MiexInputError(f"betas must be two numbers in [0, 1), got {config.betas!r}", field="betas")
    if config.max_steps is None and (config.epochs + config.decay_epochs) == 0:
        raise MiexInputError(
            "--epochs and --decay-epochs are both 0: nothing to train; give --epochs or --max-steps", field="--epochs"
        )
    return config


def _check_number(option: str, value: object, *, positive: bool, high: float) -> None:
    """A finite real number, > 0 when ``positive`` (else >= 0), at most ``high``."""
    low_text = "greater than 0" if positive else "at least 0"
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0) or value > high:
        limit = "" if math.isinf(high) else f" and at most {high:g}"
        raise MiexInputError(f"must be a finite number {low_text}{limit}, got {value!r}", field=option)
