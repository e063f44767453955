"""``miex synthesize``: render MiE-X (parquet shards + dataset card) from a plan, or from faces + AUs.

With no arguments it synthesizes a small MiE-X from the astronaut photo scikit-image ships, expert-rule AUs and the
training-free warp generator into ``./miex``. The same command runs on several processes: ``torchrun
--nproc_per_node N -m miex_dataset.cli.synthesize ...`` or ``accelerate launch builder.py ...``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .au_pool import add_source_arguments, pool_config
from .plan import add_plan_arguments, plan_config

log = logging.getLogger(__name__)

EXAMPLES = """\
examples:
  miex synthesize                                   # embedded default into ./miex (no data needed)
  miex synthesize --faces pool/ --pool pool.parquet --out miex/         # the real job: identity x class x source
  miex synthesize --plan plan.parquet --faces pool/ --generator ganimation --checkpoint run/generator
  miex synthesize --faces pool/ --expert 2000 --mae-clips ck.parquet --mae-aus ck_aus.parquet --identities 700
  torchrun --standalone --nproc_per_node 2 builder.py --faces pool/ --pool pool.parquet    # several processes
then: from datasets import load_dataset; load_dataset("miex")   (the output folder)
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    what = parser.add_argument_group("what to synthesize (nothing given: the embedded default)")
    what.add_argument("--plan", help="a plan from `miex plan` (give --faces too, for the crops' landmarks)")
    what.add_argument("--faces", help="face pool from `miex faces` (index.parquet with landmarks)")
    what.add_argument("--pool", help="AU pool from `miex au-pool` (or build one here with the source options)")
    what.add_argument("--seed", type=int, default=0, help="seed of the pool and plan draws (default: 0)")
    sources = parser.add_argument_group("AU sources (instead of --pool)")
    add_source_arguments(sources)
    knobs = parser.add_argument_group("plan knobs")
    add_plan_arguments(knobs)

    render = parser.add_argument_group("rendering")
    render.add_argument("--generator", choices=("warp", "ganimation"), default="warp",
                        help="face generator (default: warp, needs no weights)")
    render.add_argument("--checkpoint", help="GANimation weights: a save_pretrained folder or an original .pth")
    render.add_argument("--warp-model", help="JSON displacement model for the warp (default: the built-in one)")
    render.add_argument("--size", type=int, default=128, help="face size fed to the generator (default: 128)")
    render.add_argument("--batch-size", type=int, default=32, help="samples per generator call (default: 32)")
    render.add_argument("--device", help="torch device (default: this rank's GPU if any, else cpu)")
    render.add_argument("--compile", action="store_true", help="torch.compile the GANimation generator")

    output = parser.add_argument_group("output")
    output.add_argument("--out", default="miex", help="output folder (default: ./miex, so load_dataset('miex') works)")
    output.add_argument("--shard-size", type=int, default=1000, help="samples per parquet shard (default: 1000)")
    output.add_argument("--image-format", choices=("png", "jpeg"), default="png",
                        help="png (lossless, default: micro-movements survive) or jpeg")
    output.add_argument("--jpeg-quality", type=int, default=95, help="with --image-format jpeg (default: 95)")
    output.add_argument("--encode-workers", type=int, default=None,
                        help="threads encoding frames (default: the cores left beside the generator, at most 4)")
    output.add_argument("--strict", action="store_true", help="an unusable face is an error, not a reported skip")
    output.add_argument("--overwrite", action="store_true",
                        help="replace an output folder holding another run (or write into a non-empty folder that "
                        "miex did not make); without it such a folder is refused and nothing is changed")
    output.add_argument("--push-to-hub", metavar="ORG/NAME", help="upload the finished folder as a dataset repo")
    output.add_argument("--private", action="store_true", help="with --push-to-hub: create a private repo")


def inputs_from(args: argparse.Namespace):  # -> SynthesisInputs (import kept lazy for a fast --help)
    from ..synthesis import SynthesisInputs

    has_sources = bool(args.mie_clips or args.mae_clips or args.expert)
    sources_given = args.sources is not None
    return SynthesisInputs(plan=args.plan, faces=args.faces, pool=args.pool,
                           pool_config=pool_config(args) if has_sources else None, plan_config=plan_config(args),
                           sources_given=sources_given, video=args.video)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from ..generators import load_generator
    from ..synthesis import Encoding, EngineConfig, resolve_plan, synthesize
    from ..synthesis.engine import guard_output_folder

    # cheapest checks first: bad options and a bad generator are refused before the plan is built
    workers = {} if args.encode_workers is None else {"encode_workers": args.encode_workers}
    config = EngineConfig(shard_size=args.shard_size, batch_size=args.batch_size, size=args.size,
                          encoding=Encoding(args.image_format, args.jpeg_quality), device=args.device,
                          strict=args.strict, overwrite=args.overwrite, **workers)  # fmt: skip
    options = {"compile": args.compile} if args.generator == "ganimation" else {"model": args.warp_model}
    if args.generator == "ganimation":
        options |= {"checkpoint": args.checkpoint, "device": args.device}
    generator = load_generator(args.generator, **options)
    guard_output_folder(Path(args.out), args.overwrite)  # before the plan is built: a refusal costs nothing
    resolved = resolve_plan(inputs_from(args))
    load_path = args.push_to_hub or args.out
    summary = synthesize(resolved.plan, generator, args.out, faces_dir=resolved.faces_dir, config=config,
                         plan_params=resolved.params,
                         card_context={"inputs": resolved.description, "load_path": load_path})  # fmt: skip
    from accelerate import PartialState

    if not PartialState().is_main_process:
        return 0
    if len(summary.report):
        print(summary.report.render())
    print(summary.render())
    if args.push_to_hub:
        from ..hub import push_folder

        print(f"pushed to {push_folder(args.out, args.push_to_hub, private=args.private)}")
    print(f'load it with: from datasets import load_dataset; load_dataset("{load_path}", split="train")')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``torchrun -m miex_dataset.cli.synthesize`` and ``builder.py``: the same options."""
    from . import main as miex_main

    return miex_main(["synthesize", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
