"""``miex au-pool``: AU triplets from real MiEs, early MaEs and expert knowledge -> one AU pool parquet."""

from __future__ import annotations

import argparse

from ..errors import MiexInputError
from ..sources import DEFAULT_INTERVAL, MICRO_INTENSITY, PoolConfig, build_pool, pool_counts, write_pool
from .plan import SEED, number_between, whole_number

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
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out that is not an AU pool made by miex")
    add_source_arguments(parser)
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the mae and expert draws (default: 0)")


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """The AU-source options, shared with ``miex synthesize`` (which builds its pool in-process)."""
    parser.add_argument("--mie-clips", action="append", default=[], metavar="CLIPS", help="clip table of a real MiE "
                        "corpus (repeatable; pair each with --mie-aus)")
    parser.add_argument("--mie-aus", action="append", default=[], metavar="AUS", help="AU table for --mie-clips")
    parser.add_argument("--mae-clips", action="append", default=[], metavar="CLIPS", help="clip table of macro "
                        "sequences (CK+, MMEW macro, Oulu; repeatable; pair each with --mae-aus)")
    parser.add_argument("--mae-aus", action="append", default=[], metavar="AUS", help="AU table (all frames)")
    parser.add_argument("--mae-interval", nargs=2, type=number_between(0, 1), default=list(DEFAULT_INTERVAL),
                        metavar=("A", "B"), help="apex = floor(N*p), p ~ U(A, B) (default: %(default)s)")
    parser.add_argument("--mae-draws", type=whole_number(1), default=1,
                        help="triplets drawn per macro clip (default: 1)")
    parser.add_argument("--expert", type=whole_number(0), default=0, metavar="N",
                        help="expert draws per class (default: 0)")
    parser.add_argument("--expert-intensity", nargs=2, type=number_between(0, 5), default=list(MICRO_INTENSITY),
                        metavar=("C", "D"),
                        help="active AU intensity ~ U(C, D) on 0-5 (default: %(default)s; macro control 1.5 4.0)")
    parser.add_argument("--expert-table", help="JSON {emotion: {AU: probability}} replacing the built-in table")
    parser.add_argument("--expert-empty", choices=("redraw", "keep"), default="redraw",
                        help="an expert draw with no active AU (Fear can) is redrawn or kept (default: redraw)")
    parser.add_argument("--video", action="store_true", help="also store 10 AU vectors per triplet (frames_au)")


def _pairs(clips: list[str], aus: list[str], flag: str) -> list[tuple[str, str]]:
    if len(clips) != len(aus):
        raise MiexInputError(f"give one --{flag}-aus per --{flag}-clips ({len(clips)} vs {len(aus)}), in the same "
                             "order")
    return list(zip(clips, aus, strict=True))


def pool_config(args: argparse.Namespace) -> PoolConfig:
    return PoolConfig(
        mie=_pairs(args.mie_clips, args.mie_aus, "mie"), mae=_pairs(args.mae_clips, args.mae_aus, "mae"),
        mae_interval=tuple(args.mae_interval), mae_draws=args.mae_draws, expert=args.expert,
        expert_intensity=tuple(args.expert_intensity), expert_table=args.expert_table, empty_draw=args.expert_empty,
        video=args.video, seed=args.seed,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from ..aus.table import guard_table_output
    from ..sources.triplet import POOL_KIND

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
