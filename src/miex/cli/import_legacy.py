"""``miex import-legacy DIR --out OUT``: the MiE-X folders released by the paper's authors -> this format."""

from __future__ import annotations

import argparse

from miex.core.fileio import add_overwrite_option

EPILOG = """\
The release holds one folder per sample, <identity>_<source>_<label>/ with 0.jpg (onset) and 1.jpg (apex).
Sources are recognised by the spellings in miex.data.synthesis.legacy.SOURCE_ALIASES (mie/micro/real,
mae/macro/ck/early, expert/au/rule); labels as 0/1/2 or negative/positive/surprise. JPEGs are kept byte for byte.
The release has no AU vectors: onset_au and apex_au are NaN in the imported data (never mistaken for measurements).
A sample folder or frame that is a link leading outside DIR is reported and never imported (an error with --strict).

examples:
  miex import-legacy MiE-X/ --out miex-legacy
  python -c "from datasets import load_dataset; print(load_dataset('miex-legacy', split='train'))"
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("release", metavar="DIR", help="the released MiE-X folder")
    parser.add_argument("--out", required=True, help="output MiE-X folder (parquet shards + card)")
    parser.add_argument("--shard-size", type=int, default=1000, help="samples per shard (default: 1000)")
    parser.add_argument("--source-map", metavar="JSON", help='extra source spellings, e.g. {"oulu": "mae"}')
    parser.add_argument("--strict", action="store_true", help="a bad folder is an error, not a reported skip")
    add_overwrite_option(parser, "its README.md, plan.parquet, images/ and data/")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from miex.data.synthesis.card import counts_table, read_columns
    from miex.data.synthesis.legacy import import_legacy

    count, report = import_legacy(
        args.release,
        args.out,
        shard_size=args.shard_size,
        source_map=args.source_map,
        strict=args.strict,
        overwrite=args.overwrite,
    )
    if len(report):
        print(report.render())
    print(counts_table(read_columns(Path(args.out), ["label", "source"])))
    print(f"imported {count} samples into {args.out}; load it with load_dataset({args.out!r}, split='train')")
    return 0
