"""``miex app``: serve the local web app (Gradio, the optional ``[app]`` extra) until Ctrl-C."""

from __future__ import annotations

import argparse

from miex.core.fileio import add_overwrite_option

DESCRIPTION = """\
A local web app in the browser, with three tabs:
  Generate  pick a face (one of a face pool, or an uploaded photo, aligned like `miex faces`), move the 17 AU
            sliders (0 to 5) or pick an emotion prototype, and see the onset, the apex and the change magnified,
            rendered live by the warp generator (or a GANimation checkpoint, --checkpoint)
  Browse    open a MiE-X folder or Hub dataset repo and filter its samples by class, AU source and identity
  Classify  load a trained recognizer (model folder or Hub repo) and get the class probabilities of an uploaded
            onset/apex pair

With no options it starts offline on the embedded default face (the astronaut scikit-image ships) and the warp.
Nothing is sent anywhere: Gradio's analytics are off and there is no public link unless --share. The app needs
the optional extra: pip install 'miex[app]'.

as a Hugging Face Space: the same app runs from app.py at the repository root. `miex app --space DIR` writes a
complete Space folder (app.py, the miex packages, requirements.txt, README.md with the Space's settings, MediaPipe's
landmarker bundle); publish it with `hf repos create ORG/NAME --repo-type space --space-sdk gradio --exist-ok` and
`hf upload ORG/NAME DIR . --repo-type space --exclude '.miex/*'` (.miex/ is miex's own record of the folder), then
set the Space's variables MIEX_APP_MIEX / MIEX_APP_RECOGNIZER (Hub repos for the Browse and Classify tabs) in its
settings."""

EXAMPLES = """\
examples:
  miex app                                          # http://127.0.0.1:7860, embedded default face
  miex app --miex miex/ --recognizer runs/branches/model # browse a MiE-X, classify with a trained recognizer
  miex app --faces pool/ --checkpoint ganimation/   # your face pool; warp and GANimation side by side
  miex app --host 0.0.0.0 --port 8080               # reachable from other machines of the network
  miex app --space space/                           # a Hugging Face Space folder, then (hf = huggingface_hub's CLI):
  hf repos create my-lab/miex-demo --repo-type space --space-sdk gradio --exist-ok
  hf upload my-lab/miex-demo space/ . --repo-type space --exclude '.miex/*'
"""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.epilog = EXAMPLES
    parser.add_argument(
        "--faces",
        metavar="DIR",
        help="face pool of `miex faces` (index.parquet + crops) to pick faces from (default: the embedded astronaut)",
    )
    parser.add_argument(
        "--miex",
        metavar="DIR_OR_REPO",
        help="MiE-X folder of `miex synthesize`, or a Hub dataset repo ORG/NAME, opened in the Browse tab",
    )
    parser.add_argument(
        "--recognizer",
        metavar="DIR_OR_REPO",
        help="recognizer folder (`miex train` writes OUT/model) or Hub model repo, loaded in the Classify tab",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="PATH",
        help="GANimation checkpoint (save_pretrained folder or .pth): offered beside the warp generator",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)",
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument(
        "--space",
        metavar="DIR",
        help="write a Hugging Face Space folder for the app to DIR (new, "
        "empty, or a Space written before) and exit, instead of serving",
    )
    add_overwrite_option(parser, "its app.py, packages, requirements.txt and README.md", option="--space")
    parser.add_argument(
        "--share",
        action="store_true",
        help="also open a public gradio.live link (off by default: it goes through Gradio's share server)",
    )


def run(args: argparse.Namespace) -> int:
    import logging

    from miex.app import AppOptions, launch
    from miex.app.options import require_gradio
    from miex.core.errors import MiexInputError

    if not getattr(args, "verbose", False):  # Gradio's own start-up requests, one INFO line each
        logging.getLogger("httpx").setLevel(logging.WARNING)

    if not 1 <= args.port <= 65535:
        raise MiexInputError(f"--port must be 1 to 65535, got {args.port}", field="port")
    require_gradio()  # before anything is printed: without the extra, one line that says how to install it
    if args.space:
        from miex.app.space import UPLOAD_EXCLUDE, write_space

        folder = write_space(args.space, overwrite=args.overwrite)
        print(
            f"wrote a Hugging Face Space to {folder}; publish it with:\n"
            "  hf repos create ORG/NAME --repo-type space --space-sdk gradio --exist-ok\n"
            f"  hf upload ORG/NAME {folder} . --repo-type space --exclude '{UPLOAD_EXCLUDE}'\n"
            "then set MIEX_APP_MIEX / MIEX_APP_RECOGNIZER (Hub repos) in the Space's settings -> Variables"
        )
        return 0
    options = AppOptions(
        faces=args.faces,
        miex=args.miex,
        recognizer=args.recognizer,
        checkpoint=args.checkpoint,
        host=args.host,
        port=args.port,
        share=args.share,
    )
    print(f"miex app: starting on http://{args.host}:{args.port} (Ctrl-C stops it)", flush=True)
    launch(options, block=True)
    return 0
