"""``miex train-generator``: train GANimation on aligned faces with AUs (accelerate; resumable)."""

from __future__ import annotations

import argparse

from ..generators.ganimation import train


def configure(parser: argparse.ArgumentParser) -> None:
    train.configure(parser)


def run(args: argparse.Namespace) -> int:
    return train.run(args)
