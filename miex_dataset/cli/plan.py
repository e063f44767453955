"""``miex plan``: faces × AU pool -> a deterministic synthesis plan (one row per sample to generate)."""

from __future__ import annotations

import argparse

from ..plan import PlanConfig, build_plan, load_faces, write_plan
from ..sources import SOURCES, pool_counts, read_pool


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faces", required=True, help="face pool folder (index.parquet) or plain image folder")
    parser.add_argument("--pool", required=True, help="AU pool from `miex au-pool`")
    parser.add_argument("--out", required=True, help="output plan (.parquet)")
    parser.add_argument("--seed", type=int, default=0)
    add_plan_arguments(parser)


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """The plan knobs (the paper's scaling studies), shared with ``miex synthesize``."""
    parser.add_argument("--identities", type=int, help="seeded subset of N identities (default: all)")
    parser.add_argument("--triplets", type=int, help="N distinct pool triplets shared by all identities")
    parser.add_argument("--samples-per-identity", type=int, help="default: one per source x class")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma list (default: %(default)s)")
    parser.add_argument("--balanced", action=argparse.BooleanOptionalAction, default=True,
                        help="cycle every identity through all source x class cells (default) or draw cells in "
                        "pool proportions (--no-balanced)")
    parser.add_argument("--allow-missing", action="store_true",
                        help="warn instead of failing when a requested source x class has no triplet")
    parser.add_argument("--frontal-only", action="store_true", help="keep crops within --max-yaw/--max-pitch")
    parser.add_argument("--max-yaw", type=float, default=20.0, help="degrees (default: 20)")
    parser.add_argument("--max-pitch", type=float, default=20.0, help="degrees (default: 20)")


def plan_config(args: argparse.Namespace) -> PlanConfig:
    return PlanConfig(
        seed=args.seed, sources=tuple(s.strip() for s in args.sources.split(",") if s.strip()),
        identities=args.identities, triplets=args.triplets, samples_per_identity=args.samples_per_identity,
        balanced=args.balanced, allow_missing=args.allow_missing, frontal_only=args.frontal_only,
        max_yaw=args.max_yaw, max_pitch=args.max_pitch,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    result = build_plan(load_faces(args.faces), read_pool(args.pool), plan_config(args))
    if len(result.report):
        print(result.report.render())
    write_plan(result, args.out)
    print(pool_counts(result.frame).to_string())
    print(f"wrote {len(result.frame)} samples for {result.frame['identity'].nunique()} identities to {args.out}")
    return 0
