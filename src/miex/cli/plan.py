"""``miex plan``: faces × AU pool -> a deterministic synthesis plan (one row per sample to generate)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from miex.core.fileio import add_overwrite_option
from miex.data.synthesis.config import SEED, SynthesisConfig, add_arguments, number_between, whole_number

if TYPE_CHECKING:
    from miex.data.plan import PlanConfig

EXAMPLES = """\
examples:
  miex plan --faces pool/ --pool au_pool.parquet --out plan.parquet      # one sample per identity x class x source
  miex plan --faces pool/ --pool au_pool.parquet --out plan.parquet --sources mie,expert --samples-per-identity 12
  miex plan --faces pool/ --pool au_pool.parquet --out small.parquet --identities 50 --triplets 30 --seed 1
then: miex synthesize --plan plan.parquet --faces pool/ --out miex
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("--faces", required=True, help="face pool folder (index.parquet) or plain image folder")
    parser.add_argument("--pool", required=True, help="AU pool from `miex au-pool`")
    parser.add_argument("--out", required=True, help="output plan (.parquet)")
    add_overwrite_option(parser, "it with the plan")
    # the plan knobs and --seed of `miex synthesize` (one declaration: SynthesisConfig)
    add_arguments(parser, SynthesisConfig, groups=("plan",), names=("seed",), titled=False)


def plan_config(args: argparse.Namespace) -> PlanConfig:
    return SynthesisConfig.from_namespace(args).plan_config()


def run(args: argparse.Namespace) -> int:
    from miex.data.aus.table import guard_table_output
    from miex.data.plan import describe_samples_per_identity, load_faces, plan_samples, write_plan
    from miex.data.plan.build import PLAN_KIND
    from miex.data.sources import pool_counts, read_pool

    config = plan_config(args)
    index = Path(args.faces) / "index.parquet"
    guard_table_output(args.out, PLAN_KIND, inputs=[args.pool, index], overwrite=args.overwrite)
    result = plan_samples(load_faces(args.faces), read_pool(args.pool), config)
    if len(result.report):
        print(result.report.render())
    write_plan(result, args.out)
    print(pool_counts(result.frame).to_string())
    print(describe_samples_per_identity(result))
    print(f"wrote {len(result.frame)} samples for {result.frame['identity'].nunique()} identities to {args.out}")
    return 0


__all__ = ["SEED", "configure", "number_between", "plan_config", "run", "whole_number"]  # the types: extract_aus
