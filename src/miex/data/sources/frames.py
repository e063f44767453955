"""Look up per-frame AUs of clips in an AU table, shared by the mie and mae sources."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from miex.core.report import ValidationReport
from miex.data.aus.schema import AU_NAMES
from miex.data.sources.triplet import VIDEO_FRAMES

FrameKey = tuple[str, str, str, int]


class FrameAUs:
    """Index of an AU table by (dataset, subject, clip, absolute frame number) (CONTRIBUTING.md, AU table)."""

    def __init__(self, au_table: pd.DataFrame) -> None:
        keys = zip(au_table["dataset"], au_table["subject"], au_table["clip"], au_table["frame"], strict=True)
        values = au_table[list(AU_NAMES)].to_numpy(np.float32)
        self._rows: dict[FrameKey, np.ndarray] = {}
        for key, vector in zip(keys, values, strict=True):
            self._rows[(str(key[0]), str(key[1]), str(key[2]), int(key[3]))] = vector

    def lookup(
        self, clip: pd.Series, numbers: Sequence[int], report: ValidationReport, *, file: str, what: str
    ) -> np.ndarray | None:
        """AUs of ``numbers`` in ``clip`` as (len, 17); None (and one report line) when any row is missing."""
        prefix = (str(clip["dataset"]), str(clip["subject"]), str(clip["clip"]))
        found = [self._rows.get((*prefix, int(n))) for n in numbers]
        missing = [int(n) for n, v in zip(numbers, found, strict=True) if v is None]
        if missing:
            report.add(
                f"no AU row for {what} frame number(s) {missing[:10]}{' ...' if len(missing) > 10 else ''}",
                file=file,
                field="frame",
                clip="/".join(prefix),
            )
            return None
        return np.stack(found).astype(np.float32)


def resample(frames: np.ndarray, count: int = VIDEO_FRAMES) -> np.ndarray:
    """Resample (n, 17) per-frame AUs to ``count`` rows by linear interpolation over the frame index."""
    n = frames.shape[0]
    if n == 1:
        return np.repeat(frames, count, axis=0).astype(np.float32)
    positions = np.linspace(0.0, n - 1, count)
    low = np.floor(positions).astype(int)
    high = np.minimum(low + 1, n - 1)
    weight = (positions - low)[:, None]
    return ((1 - weight) * frames[low] + weight * frames[high]).astype(np.float32)
