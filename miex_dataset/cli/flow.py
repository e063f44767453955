"""``miex flow CLIPS.parquet --out DIR``: onset -> apex optical flow and optical strain for every clip.

Frames are aligned with the onset transform first. ``--method tvl1`` (default where opencv-contrib is installed) or
``farneback``; the method and all parameters are written to ``DIR/flow_params.json``.
"""

from __future__ import annotations

import argparse

from ..errors import MiexInputError
from ..faces.align import DEFAULT_SIZE
from .faces import add_common_options, resolve_model


def configure(parser: argparse.ArgumentParser) -> None:
    from ..faces.flow import default_method

    parser.add_argument("clips", metavar="CLIPS.parquet", help="clip table from `miex corpus`")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--method", choices=("tvl1", "farneback"), default=default_method(),
                        help="flow algorithm (default: tvl1 when cv2.optflow exists)")  # fmt: skip
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="aligned crop side the flow is computed on")
    add_common_options(parser)
    parser.epilog = """\
examples:
  miex flow clips.parquet --out flow/                       # TV-L1 onset->apex flow + strain, aligned on the onset
  miex flow clips.parquet --out flow-fb/ --method farneback --workers 2   # ~75x faster on a CPU
"""


def run(args: argparse.Namespace) -> int:
    from ..faces.flow import FlowParams, tvl1_available
    from ..faces.flow_clips import compute_clip_flows

    if args.method == "tvl1" and not tvl1_available():
        raise MiexInputError("--method tvl1 needs opencv-contrib (cv2.optflow); install it or use --method farneback")
    params = FlowParams(method=args.method)
    index, report = compute_clip_flows(
        args.clips, args.out, params=params, size=args.size, model_path=resolve_model(args), workers=args.workers
    )
    print(report.render())
    print(f"{len(index)} clip flow(s) ({args.method}) -> {args.out}")
    return 0
