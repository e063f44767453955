"""Real micro-expression AU source (docs/reference.md §AU sources): onset/apex AUs of annotated clips, with
provenance."""

from __future__ import annotations

import pandas as pd
from tqdm import tqdm

from miex.core.progress import PROGRESS_DELAY_S
from miex.core.report import ValidationReport
from miex.data.aus.schema import NO_LABEL
from miex.data.sources.frames import FrameAUs, resample
from miex.data.sources.triplet import Triplet


def clip_triplet(
    source: str,
    clip: pd.Series,
    onset: int,
    apex: int,
    aus: FrameAUs,
    report: ValidationReport,
    *,
    file: str,
    video: bool,
) -> Triplet | None:
    """Triplet of ``clip`` with onset/apex INDICES into its frames; None (reported) when AU rows are missing."""
    numbers = list(clip["frame_numbers"])
    wanted = numbers[onset : apex + 1] if video else [numbers[onset], numbers[apex]]
    values = aus.lookup(clip, wanted, report, file=file, what="onset..apex" if video else "onset/apex")
    if values is None:
        return None
    return Triplet(
        source=source,
        emotion=str(clip["emotion"]),
        label=int(clip["label"]),
        onset_au=values[0],
        apex_au=values[-1],
        source_dataset=str(clip["dataset"]),
        source_subject=str(clip["subject"]),
        source_clip=str(clip["clip"]),
        onset_frame=int(numbers[onset]),
        apex_frame=int(numbers[apex]),
        frames_au=resample(values) if video else None,
    )


def mie_triplets(
    clips: pd.DataFrame,
    au_table: pd.DataFrame,
    *,
    report: ValidationReport | None = None,
    file: str = "",
    video: bool = False,
) -> tuple[list[Triplet], int]:
    """One triplet per labelled clip; returns (triplets, number of clips excluded for label -1)."""
    report = report if report is not None else ValidationReport()
    aus = FrameAUs(au_table)
    triplets: list[Triplet] = []
    unlabelled = 0
    for _, clip in tqdm(clips.iterrows(), total=len(clips), desc="au-pool mie", unit="clip", delay=PROGRESS_DELAY_S):
        if int(clip["label"]) == NO_LABEL:
            unlabelled += 1  # docs/reference.md §Corpora: 'others' etc. have no 3-class label
            continue
        onset, apex = int(clip["onset"]), int(clip["apex"])
        if not 0 <= onset <= apex < len(clip["frame_numbers"]):
            report.add(
                f"onset {onset} / apex {apex} indices outside the clip",
                file=file,
                field="apex",
                clip=f"{clip['dataset']}/{clip['subject']}/{clip['clip']}",
            )
            continue
        triplet = clip_triplet("mie", clip, onset, apex, aus, report, file=file, video=video)
        if triplet is not None:
            triplets.append(triplet)
    return triplets, unlabelled


__all__ = ["clip_triplet", "mie_triplets"]
