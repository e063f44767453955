"""``miex corpus CORPUS ROOT --out CLIPS.parquet``: read one real corpus into a clip table.

One sub-command per corpus (``miex corpus samm --help`` lists that corpus's layout and options). Problems are
printed at the end and the clips concerned skipped; ``--strict`` stops at the first one (exit status 2). A run that
reads no clip at all writes nothing and exits 2 with what to check.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from miex.core.errors import MiexInputError
from miex.core.fileio import add_overwrite_option, guard_output_file

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
    from miex.data.corpora.sequences import parse_label_map

    return parse_label_map(text)


Argument = tuple[tuple[str, ...], dict[str, Any]]
SHEET: Argument = (("--sheet",), {"metavar": "XLSX", "help": "coding sheet: a path, or a file name inside ROOT"})
APEX_FALLBACK: Argument = (
    ("--apex-fallback",),
    {"choices": ("skip", "middle"), "default": "skip", "help": APEX_FALLBACK_HELP},
)
APEX_SHEET: Argument = (
    ("--apex-sheet",),
    {
        "metavar": "CSV",
        "type": Path,
        "help": "apex frames from a sheet (.csv or .xlsx): header subject,clip,apex (or Subject,Filename,Apex), apex = "
        "the absolute frame number; clips it does not list keep the middle frame (or --apex)",
    },
)


@dataclass(frozen=True)
class CorpusCommand:
    name: str
    summary: str
    layout: str
    arguments: tuple[Argument, ...] = ()
    convert: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    root_optional: bool = False
    examples: tuple[str, ...] = ()
    """Extra example command lines for --help (after the plain one)."""
    holds: str = "frames"
    """What the written table's ``frames`` are (:data:`miex.data.corpora.clips.TABLE_INPUTS`)."""

    def dests(self) -> list[str]:
        return [kwargs.get("dest", flags[0].lstrip("-").replace("-", "_")) for flags, kwargs in self.arguments]


# fmt: off
CORPORA: tuple[CorpusCommand, ...] = (
    CorpusCommand(
        "casme2", "CASME II (200 fps)",
        "ROOT/CASME2-coding-20140508.xlsx, ROOT/CASME2_RAW_selected/sub01/EP02_01f/img46.jpg\n"
        "or ROOT/CASME2-RAW/sub01/EP02_01f/img46.jpg (the full raw release)\n"
        "or ROOT/Cropped/sub01/EP02_01f/reg_img46.jpg. Use --sheet CASME2-coding-20190701.xlsx for the 2019 labels.",
        (SHEET, (("--frames",), {"choices": ("auto", "raw", "cropped"), "default": "auto",
                                 "help": "frame tree: raw (CASME2_RAW_selected/ or CASME2-RAW/), cropped, or auto "
                                         "(raw if present)"}), APEX_FALLBACK),
        examples=("miex corpus casme2 /data/CASME2 --sheet CASME2-coding-20190701.xlsx --frames cropped "
                  "--out casme2-2019.parquet",),
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
        "ROOT/HS/s1/micro/negative/s1_ne_01/image123456.bmp (or ROOT/s1/...).\n"
        "SMIC has no apex annotation: the middle frame is used unless --apex-sheet gives it.",
        ((("--apex",), {"type": _apex, "default": "middle",
                        "help": "apex: 'middle' (default) or a fraction of the clip in [0, 1]"}),
         APEX_SHEET),
        examples=("miex corpus smic /data/SMIC --apex-sheet smic_apex.csv --out smic.parquet",),
    ),
    CorpusCommand(
        "megc2019", "MEGC2019 composite (CompMiE): CASME II + SAMM + SMIC labelled by combined_3class_gt.csv",
        "ROOT/combined_3class_gt.csv, ROOT/CASME2/, ROOT/SAMM/, ROOT/SMIC/ (each as its own reader expects);\n"
        "any of them can be given explicitly instead. The ground-truth label wins over the sheets.\n"
        "Parts you do not have may be left out: the composite is then PARTIAL (reported, and --strict fails);\n"
        "--strict judges only the ground-truth clips, never sheet rows outside the ground truth.",
        ((("--gt",), {"metavar": "CSV", "help": "ground truth (default ROOT/combined_3class_gt.csv)"}),
         (("--casme2-root",), {"metavar": "DIR", "help": "CASME II release (default ROOT/CASME2/)"}),
         (("--samm-root",), {"metavar": "DIR", "help": "SAMM release (default ROOT/SAMM/)"}),
         (("--smic-root",), {"metavar": "DIR", "help": "SMIC release (default ROOT/SMIC/)"}),
         (("--casme2-sheet",), {"metavar": "XLSX", "help": "CASME II sheet (default the 2014 one, as MEGC2019)"}),
         (("--samm-sheet",), {"metavar": "XLSX", "help": "SAMM sheet (default SAMM_Micro_FACS_Codes_v2.xlsx)"}),
         (("--casme2-frames",), {"choices": ("auto", "raw", "cropped"), "default": "auto"}),
         APEX_FALLBACK,
         (("--smic-apex",), {"type": _apex, "default": "middle", "help": "SMIC apex: 'middle' or a fraction"}),
         (("--smic-apex-sheet",), {**APEX_SHEET[1], "help": "SMIC " + APEX_SHEET[1]["help"]})),
        root_optional=True,
        examples=("miex corpus megc2019 --gt combined_3class_gt.csv --casme2-root /data/CASME2 "
                  "--out casme2-megc2019.parquet    # CASME II part only",),
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
        examples=("miex corpus sequences /data/Oulu-CASIA/VL/Strong --label-map Happiness=happiness "
                  "--dataset oulu --out oulu-clips.parquet",),
    ),
    CorpusCommand(
        "faces", "a face-image pool: one row per image (expression 'face')",
        "ROOT/**/*.{jpg,jpeg,png,bmp,webp}",
        ((("--dataset",), {"default": "faces", "help": "dataset name in the table (default faces)"}),
         (("--identity-from",), {"choices": ("image", "folder"), "default": "image",
                                 "help": "one identity per image (default) or the parent folder's name"})),
    ),
    CorpusCommand(
        "flow-images", "a composite flow-image release: one 28x28 u/v/strain PNG per clip (STSTNet, HTNet, ...)",
        "flat: ROOT/<subject>_<clip> .png (a space before .png, as released) + --labels CSV with the header\n"
        "dataset,sub,filename_o,label (0 negative, 1 positive, 2 surprise);\n"
        "LOSO: ROOT/<subject>/u_test/<label>/<file>.png and ROOT/<subject>/u_train/<label>/<file>.png\n"
        "(--labels optional: the dataset is inferred from sub01 / 006 / s01 spellings).\n"
        "Each row of the table is one clip whose flow image training reads as it is (no flow is recomputed).",
        ((("--labels",), {"metavar": "CSV", "help": "label CSV (dataset,sub,filename_o,label); needed for flat"}),
         (("--layout",), {"choices": ("auto", "flat", "loso"), "default": "auto",
                          "help": "release layout (default: auto-detected)"})),
        examples=("miex corpus flow-images release/STSNet_whole_norm_u_v_os --labels combined_3_class2.csv "
                  "--out flows.parquet",
                  "miex corpus flow-images release/norm_u_v_os --out flows.parquet            # LOSO layout",),
        holds="flow-images",
    ),
)
# fmt: on


def configure(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", required=True, type=Path, metavar="CLIPS.parquet", help="clip table to write")
    common.add_argument("--strict", action="store_true", help="stop at the first problem (exit 2) instead of skipping")
    add_overwrite_option(common, "it with the clip table")
    subparsers = parser.add_subparsers(dest="corpus", metavar="CORPUS", required=True)
    parser.epilog = (
        "examples:\n"
        + "\n".join(f"  {_example(command)}" for command in CORPORA[:4])
        + ("\nrun `miex corpus CORPUS --help` for its layout, options and more examples")
    )
    for command in CORPORA:
        layout = command.layout.replace("\n", "\n  ")
        sub = subparsers.add_parser(
            command.name,
            parents=[common],
            help=command.summary,
            description=f"{command.summary}.\n\nlayout:\n  {layout}",
            epilog=_epilog(command),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument(
            "root",
            metavar="ROOT",
            type=Path,
            nargs="?" if command.root_optional else None,
            help="the corpus folder (your licensed copy)",
        )
        for flags, kwargs in command.arguments:
            sub.add_argument(*flags, **kwargs)
        sub.set_defaults(_corpus=command)


def _example(command: CorpusCommand) -> str:
    return f"miex corpus {command.name} /data/{command.name} --out {command.name}-clips.parquet"


def _epilog(command: CorpusCommand) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in (_example(command), *command.examples))


def reader_options(command: CorpusCommand, args: argparse.Namespace) -> dict[str, Any]:
    """The reader's keyword arguments from the parsed options (converted where the reader wants objects)."""
    options = {dest: getattr(args, dest) for dest in command.dests()}
    for dest, convert in command.convert.items():
        options[dest] = convert(options[dest])
    return options


SHEET_OPTIONS = ("sheet", "casme2_sheet", "samm_sheet", "gt", "labels", "apex_sheet", "smic_apex_sheet")
"""Options that name an input file; ``--out`` may never be one of them."""


def _known_sheets() -> dict[str, str]:
    """Release coding-sheet file name -> its corpus, to catch another corpus's sheet given as --sheet."""
    from miex.data.corpora import casme2, mmew, samm

    return {casme2.SHEET_2014: "casme2", casme2.SHEET_2019: "casme2", samm.SHEET: "samm", mmew.SHEET: "mmew"}


def _check_sheets(command: CorpusCommand, args: argparse.Namespace) -> None:
    """A sheet whose release file name belongs to another corpus is refused before anything is read."""
    known = _known_sheets()
    for dest in ("sheet", "casme2_sheet", "samm_sheet"):
        given = getattr(args, dest, None)
        expected = command.name if dest == "sheet" else dest.removesuffix("_sheet")
        owner = known.get(Path(given).name) if given is not None else None
        if owner is not None and owner != expected:
            raise MiexInputError(
                f"this is the {owner} coding sheet, not the {expected} one; pass the {expected} sheet "
                f"(see `miex corpus {command.name} --help`)",
                file=given,
                field=f"--{dest.replace('_', '-')}",
            )


def _is_clip_table(path: Path) -> bool:
    """Whether ``path`` is a clip table (ours to replace on a rerun) rather than some other file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError, ValueError):  # unreadable: simply "not a clip table"
        return False
    return metadata.get(b"miex.table") == b"clips"


def run(args: argparse.Namespace) -> int:
    from miex.data.corpora import READERS, clips_to_frame, summarize_clips, write_clip_table  # pandas: not for --help

    command: CorpusCommand = args._corpus
    inputs = [getattr(args, dest, None) for dest in SHEET_OPTIONS]
    out = guard_output_file(
        args.out, inputs=inputs, overwrite=args.overwrite, ours=_is_clip_table(args.out) if args.out.is_file() else None
    )
    _check_sheets(command, args)
    reader = READERS[command.name]
    corpus = reader(args.root, strict=args.strict, **reader_options(command, args))
    frame = clips_to_frame(corpus.clips)
    print(summarize_clips(frame))
    print()
    print(corpus.report.render())
    if frame.empty:
        skipped = len(corpus.report.skipped)
        why = f"every clip was skipped (the {skipped} problem(s) above say why)" if skipped else "no clips found"
        has_sheet = bool({"sheet", "gt"} & set(command.dests()))
        raise MiexInputError(
            f"0 clips read, nothing written: {why}; check that ROOT holds the {command.name} release laid out as "
            f"`miex corpus {command.name} --help` shows{' and that its sheet is this corpus' if has_sheet else ''}",
            file=args.root,
        )
    path = write_clip_table(frame, out, holds=command.holds)
    print(f"\nwrote {len(frame)} clips to {path}")
    return 0
