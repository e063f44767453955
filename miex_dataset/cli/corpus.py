"""``miex corpus CORPUS ROOT --out CLIPS.parquet``: read one real corpus into a clip table.

One sub-command per corpus (``miex corpus samm --help`` lists that corpus's layout and options). Problems are
printed at the end and the clips concerned skipped; ``--strict`` stops at the first one (exit status 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..corpora import READERS, clips_to_frame, summarize_clips, write_clip_table

APEX_FALLBACK_HELP = "what to do with a '/', empty or -1 apex: skip the clip (default) or take the middle frame"


def _apex(text: str) -> str | float:
    """``middle`` or a fraction in [0, 1]."""
    if text == "middle":
        return text
    try:
        value = float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected 'middle' or a fraction in [0, 1], got {text!r}") from error
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"apex fraction must lie in [0, 1], got {value}")
    return value


def _label_map(text: str | None) -> dict[str, str]:
    from ..corpora.sequences import parse_label_map

    return parse_label_map(text)


Argument = tuple[tuple[str, ...], dict[str, Any]]
SHEET: Argument = (("--sheet",), {"metavar": "XLSX", "help": "coding sheet: a path, or a file name inside ROOT"})
APEX_FALLBACK: Argument = (("--apex-fallback",), {"choices": ("skip", "middle"), "default": "skip",
                                                  "help": APEX_FALLBACK_HELP})  # fmt: skip


@dataclass(frozen=True)
class CorpusCommand:
    name: str
    summary: str
    layout: str
    arguments: tuple[Argument, ...] = ()
    convert: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    root_optional: bool = False

    def dests(self) -> list[str]:
        return [kwargs.get("dest", flags[0].lstrip("-").replace("-", "_")) for flags, kwargs in self.arguments]


# fmt: off
CORPORA: tuple[CorpusCommand, ...] = (
    CorpusCommand(
        "casme2", "CASME II (200 fps)",
        "ROOT/CASME2-coding-20140508.xlsx, ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg\n"
        "or ROOT/Cropped/sub01/EP02_01f/reg_img46.jpg. Use --sheet CASME2-coding-20190701.xlsx for the 2019 labels.",
        (SHEET, (("--frames",), {"choices": ("auto", "raw", "cropped"), "default": "auto",
                                 "help": "frame tree: raw, cropped, or auto (raw if present)"}), APEX_FALLBACK),
    ),
    CorpusCommand(
        "samm", "SAMM micro-expressions (200 fps)",
        "ROOT/SAMM_Micro_FACS_Codes_v2.xlsx (sheet MICRO_ONLY, header on row 14),\n"
        "ROOT/SAMM/006/006_1_2/006_05562.jpg (or ROOT/006/...).",
        (SHEET, (("--worksheet",), {"default": "MICRO_ONLY", "help": "worksheet name (default MICRO_ONLY)"}),
         APEX_FALLBACK),
    ),
    CorpusCommand(
        "smic", "SMIC-HS (100 fps, labels from folders)",
        "ROOT/HS/s1/micro/negative/s1_ne_01/image123456.bmp (or ROOT/s1/...).",
        ((("--apex",), {"type": _apex, "default": "middle",
                        "help": "apex: 'middle' (default) or a fraction of the clip in [0, 1]"}),),
    ),
    CorpusCommand(
        "megc2019", "MEGC2019 composite (CompMiE): CASME II + SAMM + SMIC labelled by combined_3class_gt.csv",
        "ROOT/combined_3class_gt.csv, ROOT/CASME2/, ROOT/SAMM/, ROOT/SMIC/ (each as its own reader expects);\n"
        "any of them can be given explicitly instead. The ground-truth label wins over the sheets.",
        ((("--gt",), {"metavar": "CSV", "help": "ground truth (default ROOT/combined_3class_gt.csv)"}),
         (("--casme2-root",), {"metavar": "DIR"}), (("--samm-root",), {"metavar": "DIR"}),
         (("--smic-root",), {"metavar": "DIR"}),
         (("--casme2-sheet",), {"metavar": "XLSX", "help": "CASME II sheet (default the 2014 one, as MEGC2019)"}),
         (("--casme2-frames",), {"choices": ("auto", "raw", "cropped"), "default": "auto"}),
         APEX_FALLBACK,
         (("--smic-apex",), {"type": _apex, "default": "middle", "help": "SMIC apex: 'middle' or a fraction"})),
        root_optional=True,
    ),
    CorpusCommand(
        "ckplus", "CK+ posed sequences (30 fps, macro; apex = last frame)",
        "ROOT/cohn-kanade-images/S005/001/S005_001_00000001.png, ROOT/Emotion/..., ROOT/FACS/...",
        ((("--drop-unlabelled",), {"action": "store_true",
                                   "help": "drop sequences without an emotion file (kept with label -1 by default)"}),),
    ),
    CorpusCommand(
        "mmew", "MMEW (90 fps)",
        "ROOT/MMEW_Micro_Exp.xlsx, ROOT/Micro_Expression/<emotion>/S01-01-001/1.jpg,\n"
        "ROOT/Macro_Expression/<emotion>/<clip>/1.jpg (with --part macro or both; apex = last frame).",
        (SHEET, (("--part",), {"choices": ("micro", "macro", "both"), "default": "micro"}), APEX_FALLBACK),
    ),
    CorpusCommand(
        "sequences", "generic macro-expression sequence folders (e.g. Oulu-CASIA; apex = last frame)",
        "ROOT/<subject>/<emotion folder>/<sequence>/<frames> (or ROOT/<subject>/<emotion folder>/<frames>).",
        ((("--label-map",), {"metavar": "MAP", "help": "emotion folder -> emotion: 'Happy=happiness,Angry=anger' or "
                                                       "a JSON/YAML file; unmapped folders must be emotion names"}),
         (("--dataset",), {"default": "sequences", "help": "dataset name in the clip table"}),
         (("--fps",), {"type": float, "default": 25.0, "help": "frame rate (default 25, Oulu-CASIA)"})),
        convert={"label_map": _label_map},
    ),
    CorpusCommand(
        "faces", "a face-image pool: one row per image (expression 'face')",
        "ROOT/**/*.{jpg,jpeg,png,bmp,webp}",
        ((("--dataset",), {"default": "faces", "help": "dataset name in the table (default faces)"}),
         (("--identity-from",), {"choices": ("image", "folder"), "default": "image",
                                 "help": "one identity per image (default) or the parent folder's name"})),
    ),
)
# fmt: on


def configure(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", required=True, type=Path, metavar="CLIPS.parquet", help="clip table to write")
    common.add_argument("--strict", action="store_true", help="stop at the first problem (exit 2) instead of skipping")
    subparsers = parser.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    for command in CORPORA:
        layout = command.layout.replace("\n", "\n  ")
        sub = subparsers.add_parser(
            command.name,
            parents=[common],
            help=command.summary,
            description=f"{command.summary}.\n\nlayout:\n  {layout}",
            epilog=f"example:\n  miex corpus {command.name} /data/{command.name} --out {command.name}-clips.parquet",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("root", metavar="ROOT", type=Path, nargs="?" if command.root_optional else None,
                         help="the corpus folder (your licensed copy)")  # fmt: skip
        for flags, kwargs in command.arguments:
            sub.add_argument(*flags, **kwargs)
        sub.set_defaults(_corpus=command)


def reader_options(command: CorpusCommand, args: argparse.Namespace) -> dict[str, Any]:
    """The reader's keyword arguments from the parsed options (converted where the reader wants objects)."""
    options = {dest: getattr(args, dest) for dest in command.dests()}
    for dest, convert in command.convert.items():
        options[dest] = convert(options[dest])
    return options


def run(args: argparse.Namespace) -> int:
    command: CorpusCommand = args._corpus
    reader = READERS[command.name]
    corpus = reader(args.root, strict=args.strict, **reader_options(command, args))
    frame = clips_to_frame(corpus.clips)
    print(summarize_clips(frame))
    print()
    print(corpus.report.render())
    path = write_clip_table(frame, args.out)
    print(f"\nwrote {len(frame)} clips to {path}")
    return 0
