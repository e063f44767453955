"""The ``miex`` command line.

Each subcommand lives in its own module under :mod:`miex.cli` exposing
``configure(parser)`` and ``run(args) -> int``. Modules are imported only when their command runs, so ``miex --help``
stays fast even though commands pull in torch, mediapipe or datasets.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from miex.core import lazy, processes
from miex.core.errors import MiexInputError
from miex.core.fileio import describe_os_error, first_line


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    summary: str


# The data flow, in order: corpora -> faces/AUs -> AU sources -> plan -> generator -> shards -> Hub; then training.
COMMANDS: tuple[Command, ...] = (
    Command("corpus", "miex.cli.corpus", "read a real MiE/MaE corpus into a clip table (parquet)"),
    Command("faces", "miex.cli.faces", "detect, align and index face crops into an identity pool"),
    Command("extract-aus", "miex.cli.extract_aus", "measure 17 AUs (0-5) of images or clips into an AU table"),
    Command("flow", "miex.cli.flow", "onset->apex optical flow and strain of every clip (aligned)"),
    Command("train-generator", "miex.cli.train_generator", "train a GANimation face generator (accelerate)"),
    Command("eval-generator", "miex.cli.eval_generator", "measure a generator's AU fidelity and identity"),
    Command("au-pool", "miex.cli.au_pool", "AU triplets from real MiEs, early MaEs and expert knowledge"),
    Command("plan", "miex.cli.plan", "deterministic synthesis plan: which face gets which AU triplet"),
    Command("synthesize", "miex.cli.synthesize", "render a plan into MiE-X parquet shards + dataset card"),
    Command("push", "miex.cli.push", "upload a MiE-X folder (or a trained model) to the Hugging Face Hub"),
    Command("import-legacy", "miex.cli.import_legacy", "convert the authors' MiE-X release to this format"),
    Command("train", "miex.cli.train", "train and evaluate a recognizer from a recipe (YAML)"),
    Command("app", "miex.cli.app", "local web app: AU sliders, MiE-X browser, classifier (Gradio)"),
)

RESUMABLE = frozenset({"faces", "extract-aus", "flow", "train-generator", "synthesize", "push", "import-legacy"})
"""Commands whose rerun after an interruption keeps the finished work (said when the user presses Ctrl-C)."""

FLOW: tuple[tuple[str, str], ...] = (
    ("miex corpus megc2019 DATA/ --out clips.parquet", "real clips -> one clip table, labels merged to 3 classes"),
    ("miex faces PHOTOS/ --out pool/", "aligned 128x128 identity pool + index.parquet"),
    ("miex extract-aus clips.parquet --out aus.parquet", "onset/apex AUs of the real clips (0 to 5)"),
    ("miex au-pool --mie-clips clips.parquet --mie-aus aus.parquet --expert 500 --out au_pool.parquet", ""),
    ("miex plan --faces pool/ --pool au_pool.parquet --out plan.parquet", "identity x class x source"),
    ("miex synthesize --plan plan.parquet --faces pool/ --out miex", "warp, or --generator ganimation --checkpoint C"),
    (
        "torchrun --standalone --nproc_per_node 2 -m miex synthesize --plan plan.parquet --faces pool/",
        "same bytes, 2 ranks",
    ),
    ("accelerate launch -m miex synthesize --plan plan.parquet --faces pool/", "every GPU"),
    ("miex push miex --repo org/miex", 'then load_dataset("org/miex")'),
    ("miex import-legacy MiE-X_release/ --out miex-legacy", "the authors' released folders -> this format"),
    ("miex train --recipe table1_branches_miex_finetune", "reads clips.parquet + miex/; UF1/UAR, logs, model card"),
    ("accelerate launch -m miex train --recipe table1_branches_miex_finetune", "the same run on every GPU"),
)
"""The whole flow, one command a line with what it does: ``miex --help`` shows it and the README's "The whole flow"
block is it, line for line (tests/test_surfaces.py keeps them equal)."""


FLOW_COLUMN = 56
"""Commands up to this long share one comment column in :func:`flow_lines`."""


def flow_lines(indent: str = "") -> list[str]:
    """:data:`FLOW` as aligned shell lines: comments start in one column (after the longest command of at most
    :data:`FLOW_COLUMN` characters; longer commands keep theirs two spaces on)."""
    column = max(len(command) for command, _ in FLOW if len(command) <= FLOW_COLUMN) + 2
    lines = []
    for command, comment in FLOW:
        if not comment:
            lines.append(indent + command)
        else:
            lines.append(f"{indent}{command.ljust(column - 2)}  # {comment}")
    return lines


EPILOG = (
    "the whole flow:\n"
    + "\n".join(flow_lines("  "))
    + "\n`python -m miex COMMAND` is `miex COMMAND` and `python -m miex train` is `miex train`, so torchrun and"
    "\naccelerate launch start them as modules from any folder.\nrun `miex COMMAND --help` for the options of each"
    " command.\n"
)


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miex",
        description="Synthesize trainable micro-expression datasets (MiE-X) and train recognizers on them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name,
            help=command.summary,
            description=command.summary[0].upper() + command.summary[1:] + ".",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if command.name == selected:
            module = lazy.load(command.module)
            module.configure(sub)
            sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    processes.watch_interrupts()
    processes.end_with_launcher()
    names = {command.name for command in COMMANDS}
    selected = next((arg for arg in argv if not arg.startswith("-")), None)
    prog = f"miex {selected}" if selected in names else "miex"
    after = "run the same command again to resume" if selected in RESUMABLE else "nothing was finished"
    verbose = "-v" in argv or "--verbose" in argv
    # Everything, the command's imports and option parsing included, runs under the error reporter: a Ctrl-C in the
    # first second (while torch or pandas import) is one line and exit 130, like one later on.
    return run_reporting_errors(
        prog, lambda: _parse_and_run(argv, selected if selected in names else None), verbose=verbose, interrupted=after
    )


def _parse_and_run(argv: list[str], selected: str | None) -> int:
    parser = build_parser(selected)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if args.command is None else 2
    return int(args._run(args) or 0)


def run_reporting_errors(prog: str, run: Callable[[], int], *, verbose: bool, interrupted: str) -> int:
    """``run()``, with every failure turned into one line on stderr and an exit code: 2 for unusable input
    (:class:`MiexInputError`), 130 for Ctrl-C (``interrupted`` says what happens to the work), 1 for a file-system
    failure or an internal error (``verbose`` re-raises those, for the traceback)."""
    try:
        return run()
    except MiexInputError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _report_interrupt(prog, interrupted)
    except Exception as error:
        if processes.interrupted():  # Ctrl-C inside an import or a library, surfacing as that code's own error
            return _report_interrupt(prog, interrupted)
        if verbose:
            raise
        if isinstance(error, OSError):
            print(f"{prog}: error: {describe_os_error(error)}", file=sys.stderr)
            return 1
            # the last line of defence: one line, the traceback on -v
            raise
        described = f"{type(error).__name__}: {first_line(error)}" if str(error) else type(error).__name__
        hint = "run it again with -v for the traceback and report it with the command you ran"
        print(f"{prog}: internal error: {described}\n  {hint}", file=sys.stderr)
        return 1


def _report_interrupt(prog: str, what_happens: str) -> int:
    processes.after_interrupt()
    print(f"\n{prog}: interrupted; {what_happens}", file=sys.stderr)
    return processes.INTERRUPTED_EXIT


def console() -> NoReturn:
    """The ``miex`` executable: :func:`main`, ended so that a Ctrl-C is exit status 130 (see
    :func:`miex.core.processes.exit_process`)."""
    processes.exit_process(main())


if __name__ == "__main__":  # pragma: no cover
    console()
