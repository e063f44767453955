"""``miex train-generator``: train GANimation on aligned faces with AUs (accelerate; resumable)."""

from __future__ import annotations

import argparse

EXAMPLES = """\
examples:
  miex train-generator pool/crops --au-table aus.parquet --out gan/       # a face folder + its AU table
  miex train-generator ganimation_sample_dataset/ --out gan/ --preset paper   # imgs/ + aus_openface.pkl
  accelerate launch -m miex.data.generators.ganimation.train pool/crops --au-table aus.parquet --out gan/
  miex train-generator pool/crops --au-table aus.parquet --out gan/ --resume latest   # after a stop
"""


def configure(parser: argparse.ArgumentParser) -> None:
    from miex.data.generators.ganimation_options import configure as add_options  # no torch: --help stays instant

    add_options(parser)
    parser.epilog = EXAMPLES


def run(args: argparse.Namespace) -> int:
    from miex.data.generators.ganimation import train

    return train.run(args)
