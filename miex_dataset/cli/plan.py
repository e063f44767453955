"""``miex plan``: faces × AU pool -> a deterministic synthesis plan (one row per sample to generate)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

from ..sources import SOURCES

EXAMPLES = """\
examples:
  miex plan --faces pool/ --pool au_pool.parquet --out plan.parquet      # one sample per identity x class x source
  miex plan --faces pool/ --pool au_pool.parquet --out plan.parquet --sources mie,expert --samples-per-identity 12
  miex plan --faces pool/ --pool au_pool.parquet --out small.parquet --identities 50 --triplets 30 --seed 1
then: miex synthesize --plan plan.parquet --faces pool/ --out miex
"""


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum`` (``0`` or ``-1`` must not silently mean "the default")."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from error
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def number_between(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a finite number in [``low``, ``high``]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from error
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"must lie between {low:g} and {high:g}, got {text}")
        return value

    return parse


SEED = whole_number(0)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES
    parser.add_argument("--faces", required=True, help="face pool folder (index.parquet) or plain image folder")
    parser.add_argument("--pool", required=True, help="AU pool from `miex au-pool`")
    parser.add_argument("--out", required=True, help="output plan (.parquet)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out that is not a plan made by miex")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of every draw (default: 0)")
    add_plan_arguments(parser)


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """The plan knobs (the paper's scaling studies), shared with ``miex synthesize``."""
    parser.add_argument("--identities", type=whole_number(1), help="seeded subset of N identities (default: all)")
    parser.add_argument("--triplets", type=whole_number(1), help="N distinct pool triplets shared by all identities")
    parser.add_argument("--samples-per-identity", type=whole_number(1),
                        help="default: one per source x class the plan covers (e.g. 6 for a mie + expert pool)")
    parser.add_argument("--sources", default=None,
                        help=f"comma list of {','.join(SOURCES)} (default: every source the AU pool holds)")
    parser.add_argument("--balanced", action=argparse.BooleanOptionalAction, default=True,
                        help="cycle every identity through all source x class cells (default) or draw cells in "
                        "pool proportions (--no-balanced)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="warn instead of failing when a requested source x class has no triplet")
    parser.add_argument("--frontal-only", action="store_true", help="keep crops within --max-yaw/--max-pitch")
    parser.add_argument("--max-yaw", type=number_between(0, 180), default=20.0, help="degrees (default: 20)")
    parser.add_argument("--max-pitch", type=number_between(0, 180), default=20.0, help="degrees (default: 20)")


def plan_config(args: argparse.Namespace):  # -> PlanConfig (import kept lazy for a fast --help)
    from ..plan import PlanConfig

    sources = None if args.sources is None else tuple(s.strip() for s in args.sources.split(",") if s.strip())
    return PlanConfig(
        seed=args.seed, sources=sources,
        identities=args.identities, triplets=args.triplets, samples_per_identity=args.samples_per_identity,
        balanced=args.balanced, allow_missing=args.allow_missing, frontal_only=args.frontal_only,
        max_yaw=args.max_yaw, max_pitch=args.max_pitch,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from ..aus.table import guard_table_output
    from ..plan import build_plan, describe_samples_per_identity, load_faces, write_plan
    from ..plan.build import PLAN_KIND
    from ..sources import pool_counts, read_pool

    config = plan_config(args)
    index = Path(args.faces) / "index.parquet"
    guard_table_output(args.out, PLAN_KIND, inputs=[args.pool, index], overwrite=args.overwrite)
    result = build_plan(load_faces(args.faces), read_pool(args.pool), config)
    if len(result.report):
        print(result.report.render())
    write_plan(result, args.out)
    print(pool_counts(result.frame).to_string())
    print(describe_samples_per_identity(result))
    print(f"wrote {len(result.frame)} samples for {result.frame['identity'].nunique()} identities to {args.out}")
    return 0
