"""``miex synthesize``: render MiE-X (parquet shards + dataset card) from a plan, or from faces + AUs.

With no arguments it synthesizes a small MiE-X from the astronaut photo scikit-image ships, expert-rule AUs and the
training-free warp generator into ``./miex``. The same command runs on several processes, from any folder:
``torchrun --standalone --nproc_per_node N -m miex synthesize ...`` or ``accelerate launch -m miex
synthesize ...`` (``builder.py`` in a checkout is the same entry point).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXAMPLES = """\
examples:
  miex synthesize                                   # embedded default into ./miex (no data needed)
  miex synthesize --faces pool/ --pool au_pool.parquet --out miex/         # the real job: identity x class x source
  miex synthesize --plan plan.parquet --faces pool/ --generator ganimation --checkpoint run/generator
  miex synthesize --faces pool/ --expert 100 --generator ganimation --checkpoint org/gan --revision v1   # Hub repo
  miex synthesize --faces pool/ --expert 2000 --mae-clips ck.parquet --mae-aus ck_aus.parquet --identities 700
  torchrun --standalone --nproc_per_node 2 -m miex synthesize --faces pool/ --pool au_pool.parquet  # 2 ranks
  accelerate launch -m miex synthesize --faces pool/ --pool au_pool.parquet           # every GPU, from any folder
then: from datasets import load_dataset; load_dataset("miex")   (the output folder)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Every option is a field of SynthesisConfig (or OutputOptions): the arguments are generated from them."""
    from miex.data.synthesis.config import OutputOptions, SynthesisConfig, add_arguments

    parser.epilog = EXAMPLES
    add_arguments(parser, SynthesisConfig, OutputOptions)


def run(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from miex.data.synthesis.api import synthesize
    from miex.data.synthesis.config import OutputOptions, SynthesisConfig

    config, output = SynthesisConfig.from_namespace(args), OutputOptions.from_namespace(args)
    summary = synthesize(
        config, output.out, overwrite=output.overwrite, push_to_hub=output.push_to_hub, private=output.private
    )
    if not PartialState().is_main_process:
        return 0
    if len(summary.report):
        print(summary.report.render())
    print(summary.render())
    if summary.pushed:
        print(f"pushed to {summary.pushed}")
    load_path = output.push_to_hub or output.out
    print(f'load it with: from datasets import load_dataset; load_dataset("{load_path}", split="train")')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``builder.py`` and ``python -m miex.cli.synthesize``: ``miex synthesize``'s options."""
    from miex.cli import main as miex_main

    return miex_main(["synthesize", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
