"""Early macro-expression AU source (docs/reference.md §AU sources): onset = first frame, apex = floor(N·p), p ~ U(a,
b)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from tqdm import tqdm

from miex.core.errors import MiexInputError
from miex.core.progress import PROGRESS_DELAY_S
from miex.core.report import ValidationReport
from miex.data.aus.schema import NO_LABEL
from miex.data.sources.frames import FrameAUs
from miex.data.sources.mie import clip_triplet
from miex.data.sources.triplet import Triplet

DEFAULT_INTERVAL: tuple[float, float] = (0.25, 0.5)
"""docs/reference.md §AU sources: the paper's default; the ablation also tried (0.1, 0.3) and (0.2, 0.4)."""
MAX_MAE_DRAWS = 1000
"""Most apex draws per macro clip (``--mae-draws``): more only repeats the same few frames of each clip."""


def apex_index(n_frames: int, p: float) -> int:
    """0-based apex index floor(N·p), kept inside the clip."""
    return min(math.floor(n_frames * p), n_frames - 1)


def mae_triplets(
    clips: pd.DataFrame,
    au_table: pd.DataFrame,
    rng: np.random.Generator,
    *,
    interval: tuple[float, float] = DEFAULT_INTERVAL,
    draws_per_clip: int = 1,
    report: ValidationReport | None = None,
    file: str = "",
    video: bool = False,
) -> tuple[list[Triplet], int]:
    """``draws_per_clip`` triplets per labelled macro clip; returns (triplets, clips excluded for label -1)."""
    low, high = interval
    if not 0.0 <= low <= high <= 1.0:
        raise MiexInputError(f"MaE interval {interval} must satisfy 0 <= a <= b <= 1")
    if not 1 <= draws_per_clip <= MAX_MAE_DRAWS:
        raise MiexInputError(f"draws_per_clip must be between 1 and {MAX_MAE_DRAWS}, got {draws_per_clip}")
    report = report if report is not None else ValidationReport()
    aus = FrameAUs(au_table)
    triplets: list[Triplet] = []
    unlabelled = 0
    for _, clip in tqdm(clips.iterrows(), total=len(clips), desc="au-pool mae", unit="clip", delay=PROGRESS_DELAY_S):
        name = f"{clip['dataset']}/{clip['subject']}/{clip['clip']}"
        if str(clip["expression"]) != "macro":
            report.add(f"expression is {clip['expression']!r}, not 'macro'", file=file, field="expression", clip=name)
            continue
        if int(clip["label"]) == NO_LABEL:
            unlabelled += 1
            continue
        n = len(clip["frame_numbers"])
        if n == 0:
            report.add("clip has no frames", file=file, field="frames", clip=name)
            continue
        for _ in range(draws_per_clip):
            apex = apex_index(n, float(rng.uniform(low, high)))
            triplet = clip_triplet("mae", clip, 0, apex, aus, report, file=file, video=video)
            if triplet is not None:
                triplets.append(triplet)
    return triplets, unlabelled
