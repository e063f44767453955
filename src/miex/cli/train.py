"""``miex train --recipe NAME|FILE.yaml``: train and evaluate a recognizer as a recipe says (also ``python -m
miex train`` and, in a checkout, ``python train.py``).

The same code runs in one process, under ``torchrun --nproc_per_node N -m miex train`` (CPU: gloo) and under
``accelerate launch -m miex train`` (multi-GPU, multi-node), from any folder. Every check runs before training; the
recipe and its input files are checked before torch is even imported. Only the main process writes.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from miex.core.fileio import add_overwrite_option

DESCRIPTION = "Train and evaluate a micro-expression recognizer from a recipe (YAML)."

EPILOG = """\
recipes: the paper's experiments ship with miex; `miex train --list-recipes` prints each one's name and what it
reproduces, and --recipe takes that name or the path of your own YAML file. They read the files the README's whole
flow writes, relative to the folder you run in: clips.parquet (`miex corpus megc2019 DATA/ --out clips.parquet`)
and miex/ (`miex synthesize ... --out miex`); elsewhere, --set data.real.clips=PATH --set data.miex=PATH.

recipe (YAML; every key is checked, defaults are the paper's, docs/reference.md §Recognizers):
  name: table1-branches-miex-finetune
  model: {name: branches, backbone: microsoft/resnet-18}   # or backbone: random; config: {...} overrides
  data:
    real: {clips: clips.parquet}                             # clip table from `miex corpus`; labels: three_class
    miex: miex                                               # MiE-X folder from `miex synthesize`, or part of
    # it: {path: miex, sources: [mae, expert], identities: 700} (AU sources; N identities, first by SHA-256)
    extra: {ckplus: {clips: ckplus.parquet, frames: early}}  # more real sets, by name
    magnify: {alpha: 4}                                      # motion magnification of every input (absent: off)
  protocol: {kind: kfold, k: 3, seed: 0}                     # kfold | loso | lodo | file
  training: {epochs: 10, decay_epochs: 10, batch_size: 64}  # defaults for every stage
  stages: [{name: pretrain, train: [miex]}, {name: finetune, train: [real]}]
  seeds: [0, 1, 2]

examples (in the folder of the README's flow):
  miex train --list-recipes
  miex train --recipe table1_branches_compmie --check       # validate recipe and data, train nothing
  miex train --recipe table1_branches_compmie --set training.epochs=1 --set training.decay_epochs=0 \\
      --set seeds=[0] --set model.backbone=random --out runs/smoke    # a minutes-long smoke run on CPU
  miex train --recipe table1_branches_miex_finetune --set data.real.clips=../corpora/clips.parquet
  miex train --recipe my_experiment.yaml                    # your own recipe file
  torchrun --standalone --nproc_per_node 2 -m miex train --recipe R.yaml    # 2 CPU processes, from any folder
  accelerate launch --multi_gpu --num_processes 4 -m miex train --recipe R.yaml   # (train.py in a checkout: same)

outputs (in output.dir, default runs/<name>): results.json (pooled UF1/UAR/accuracy, last epoch, mean ± std over
seeds, per dataset), predictions/seed-S.megc.txt (MEGC2019 log format) and .csv, plots/confusion_matrix.png,
plots/training_curves.png, curves.json, folds.json, model/ (weights trained on all subjects + README.md card).
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--recipe",
        metavar="NAME|FILE.yaml",
        help="the recipe to run: a shipped recipe's name (see --list-recipes) or a YAML file",
    )
    which.add_argument(
        "--list-recipes", action="store_true", help="print each shipped recipe's name and what it reproduces, then exit"
    )
    parser.add_argument("--out", metavar="DIR", help="output folder (default: the recipe's output.dir)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="override a recipe value (YAML), e.g. training.epochs=1 or stages.1.batch_size=32; repeatable",
    )
    add_overwrite_option(parser, "the earlier run's results, predictions, plots and models")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only validate the recipe, the data, the folds and MiE-X provenance, then exit",
    )
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bars on stderr (log lines only), e.g. for batch jobs",
    )
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="upload model/ (weights + card) as a Hub model repo")
    parser.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")


def run(args: argparse.Namespace) -> int:
    """Recipe and input files are checked before the runner (torch, transformers, a backbone from the Hub) loads:
    a missing clip table is reported in a second, not after the model stack has started."""
    from miex.train.runner.inputs import check_inputs
    from miex.train.runner.recipe import load_recipe, recipe_list

    if args.list_recipes:
        print("\n".join(recipe_list()))
        return 0
    recipe = load_recipe(args.recipe, args.overrides)
    if args.out:
        recipe = recipe.with_output(args.out)
    check_inputs(recipe)
    from miex.train.runner import run as run_recipe

    run_recipe(
        recipe,
        overwrite=args.overwrite,
        check=args.check,
        push_to_hub_repo=args.push_to_hub,
        private=args.private,
        progress=args.progress,
    )
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str = "train.py") -> int:
    """Entry point of ``train.py`` and ``python -m miex train`` (``prog`` names it in usage and error lines)."""
    from miex.cli import run_reporting_errors
    from miex.core.processes import end_with_launcher

    end_with_launcher()
    argv = list(sys.argv[1:] if argv is None else argv)
    restart = "nothing is resumed, run the same command with --overwrite to start again"
    verbose = "-v" in argv or "--verbose" in argv
    return run_reporting_errors(prog, lambda: _parse_and_run(argv, prog), verbose=verbose, interrupted=restart)


def _parse_and_run(argv: list[str], prog: str) -> int:
    parser = argparse.ArgumentParser(prog=prog)
    configure(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    args = parser.parse_args(argv)
    main_process = os.environ.get("RANK", "0") == "0"
    level = logging.DEBUG if args.verbose else logging.INFO if main_process else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    return run(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(prog="python -m miex.cli.train"))
