"""GANimation training options: :class:`TrainConfig` and the command-line options built from it.

A module outside the ``ganimation`` package (whose ``__init__`` loads the torch models), so ``miex train-generator
--help`` builds its parser without importing torch or accelerate; :mod:`miex_dataset.generators.ganimation.train`
trains with these options.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

__all__ = ["INTEGER_OPTIONS", "TrainConfig", "config_from_args", "configure"]


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

    def architecture(self) -> tuple[dict[str, Any], dict[str, Any]]:
        replicate = self.preset == "replicate"
        generator = {"width": self.width, "num_residual_blocks": self.residual_blocks, "image_size": self.image_size,
                     "norm_affine": not replicate, "conv_bias": replicate}  # fmt: skip
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


def configure(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``miex train-generator`` and ``python -m miex_dataset.generators.ganimation.train``."""
    defaults = TrainConfig(data="", output_dir="")
    parser.add_argument("data", help="face folder (with --au-table) or GANimation sample-data folder")
    parser.add_argument("--out", dest="output_dir", required=True, help="output folder (checkpoints, generator/)")
    parser.add_argument("--au-table", help="AU table (parquet/CSV) for a face folder; rows matched by path or name")
    parser.add_argument("--preset", choices=("paper", "replicate"), default="paper",
                        help="paper: the official GANimation (affine norms, AU weight 4000/batch); replicate: the "
                             "variant the MiE-X authors trained (no-affine norms, conv bias, AU weight 160) "
                             "(default: %(default)s; docs/reference.md §GANimation)")  # fmt: skip
    for name, text in INTEGER_OPTIONS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name),
                            help=f"{text} (default: %(default)s)")  # fmt: skip
    parser.add_argument(
        "--lr",
        type=float,
        default=defaults.lr,
        help="Adam learning rate of generator and critic, betas (0.5, 0.999) (default: %(default)s)",
    )
    parser.add_argument("--au-weight", type=float, help="override the preset's AU-regression weight")
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


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    fields = TrainConfig.__dataclass_fields__
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
