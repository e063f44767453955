"""``miex push DIR --repo ORG/NAME``: publish a MiE-X folder (or a trained model folder) on the Hugging Face Hub."""

from __future__ import annotations

import argparse
import logging

DESCRIPTION = """\
Upload a MiE-X folder made by `miex synthesize` (README.md card + data/*.parquet shards) to the Hugging Face Hub
as a dataset repo, creating the repo if needed. Only the dataset's own files are sent: the card, the shards that
have a receipt, plan.parquet and the card's figures in images/; anything else in the folder (run state, temp
files, your own notes or credentials) stays local and is named, and links are never followed. The upload
resumes: if it is interrupted, run the same command again and files already on the Hub are skipped. Afterwards
anyone can load it with datasets.load_dataset("ORG/NAME").

authentication: a token with write access to ORG, from `hf auth login`, the HF_TOKEN environment variable, or
--token (prefer the first two: a token on the command line lands in the shell history). HF_ENDPOINT selects
another Hub."""

EXAMPLES = """\
examples:
  miex push miex/ --repo my-lab/miex                     # public dataset repo my-lab/miex
  miex push miex/ --repo my-lab/miex --private --message "MiE-X v2, 700 identities"
  miex push runs/branches/model --repo my-lab/miex-branches --repo-type model   # a trained model + card
then: from datasets import load_dataset; ds = load_dataset("my-lab/miex", split="train")
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EXAMPLES
    parser.add_argument("dir", metavar="DIR", help="the folder to upload (a MiE-X output folder of `miex synthesize`)")
    parser.add_argument(
        "--repo", required=True, metavar="ORG/NAME", help="Hub repo id to create or update, e.g. my-lab/miex"
    )
    parser.add_argument(
        "--private",
        action="store_true",
        help="create the repo private (only when it does not exist yet; visibility is not changed)",
    )
    parser.add_argument(
        "--token", metavar="T", help="Hub token with write access (default: HF_TOKEN or the token of `hf auth login`)"
    )
    parser.add_argument("--message", metavar="M", help="commit message (default: 'Upload MiE-X dataset with miex')")
    parser.add_argument(
        "--repo-type",
        choices=("dataset", "model"),
        default="dataset",
        help="dataset (default) or model, for a trained model folder with its card",
    )


def run(args: argparse.Namespace) -> int:
    from miex.data.hub import push_folder

    if not getattr(args, "verbose", False):  # one INFO line per HTTP request drowns the summary
        logging.getLogger("httpx2").setLevel(logging.WARNING)
    url = push_folder(
        args.dir,
        args.repo,
        repo_type=args.repo_type,
        private=args.private,
        token=args.token,
        commit_message=args.message,
    )
    print(f"pushed {args.dir} to {url}")
    if args.repo_type == "dataset":
        print(f'load it with: from datasets import load_dataset; ds = load_dataset("{args.repo}", split="train")')
    else:
        print(
            f'load it with: from_pretrained("{args.repo}") (transformers Auto classes, with trust_remote_code if '
            "the model needs its code)"
        )
    return 0
