"""``miex au-pool``: AU triplets from real MiEs, early MaEs and expert knowledge -> one AU pool parquet."""

from __future__ import annotations

import argparse

from miex.core.fileio import add_overwrite_option
from miex.data.sources import PoolConfig, build_pool, pool_counts, write_pool
from miex.data.synthesis.config import SynthesisConfig, add_arguments

EXAMPLES = """\
examples:
  miex au-pool --mie-clips clips.parquet --mie-aus aus.parquet --expert 500 --out au_pool.parquet
  miex au-pool --expert 100 --out expert_pool.parquet                          # no corpus needed
  miex au-pool --mae-clips ck.parquet --mae-aus ck_aus.parquet --mae-draws 3 --out mae_pool.parquet
then: miex plan --faces pool/ --pool au_pool.parquet --out plan.parquet
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("--out", required=True, help="output AU pool (.parquet)")
    add_overwrite_option(parser, "it with the AU pool")
    # the AU-source options and --seed of `miex synthesize` (one declaration: SynthesisConfig)
    add_arguments(parser, SynthesisConfig, groups=("sources",), names=("seed",), titled=False)


def pool_config(args: argparse.Namespace) -> PoolConfig:
    return SynthesisConfig.from_namespace(args).pool_config()


def run(args: argparse.Namespace) -> int:
    from miex.data.aus.table import guard_table_output
    from miex.data.sources.triplet import POOL_KIND

    config = pool_config(args)
    inputs = [path for pair in (*config.mie, *config.mae) for path in pair] + [config.expert_table]
    guard_table_output(args.out, POOL_KIND, inputs=inputs, overwrite=args.overwrite)
    result = build_pool(config)
    if len(result.report):
        print(result.report.render())
    for source, count in result.unlabelled.items():
        if count:
            print(f"{source}: {count} clip(s) without a 3-class label (label -1) excluded")
    write_pool(result.frame, args.out, result.params)
    print(pool_counts(result.frame).to_string())
    print(f"wrote {len(result.frame)} triplets to {args.out}")
    return 0
