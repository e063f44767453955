"""Assemble the AU pool from the three sources, recording every hyperparameter (written as parquet metadata)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.core.report import ValidationReport
from miex.data.aus.table import read_au_table
from miex.data.corpora.clips import read_clip_table
from miex.data.corpora.labels import label_name
from miex.data.sources.expert import MICRO_INTENSITY, ExpertConfig, check_per_class, expert_triplets, load_expert_table
from miex.data.sources.mae import DEFAULT_INTERVAL, MAX_MAE_DRAWS, mae_triplets
from miex.data.sources.mie import mie_triplets
from miex.data.sources.triplet import Triplet, triplets_to_frame


@dataclass
class PoolConfig:
    mie: list[tuple[str, str]] = field(default_factory=list)
    """(clip table, AU table) pairs of real MiE corpora."""
    mae: list[tuple[str, str]] = field(default_factory=list)
    mae_interval: tuple[float, float] = DEFAULT_INTERVAL
    mae_draws: int = 1
    expert: int = 0
    """Expert draws per class."""
    expert_intensity: tuple[float, float] = MICRO_INTENSITY
    expert_table: str | None = None
    empty_draw: str = "redraw"
    video: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse options that would silently draw nothing or draw off the scale, naming the command-line flag."""
        for option, value, minimum in (("--mae-draws", self.mae_draws, 1), ("--seed", self.seed, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise MiexInputError(f"{option} must be a whole number >= {minimum}, got {value!r}")
        check_per_class(self.expert)
        if self.mae_draws > MAX_MAE_DRAWS:
            raise MiexInputError(f"--mae-draws {self.mae_draws}: at most {MAX_MAE_DRAWS} draws per clip; ask for fewer")
        for option, (low, high), top in (
            ("--mae-interval", self.mae_interval, 1.0),
            ("--expert-intensity", self.expert_intensity, 5.0),
        ):
            if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low <= high <= top):
                raise MiexInputError(f"{option} {low:g} {high:g}: need 0 <= first <= second <= {top:g}")


@dataclass
class PoolResult:
    frame: pd.DataFrame
    report: ValidationReport
    unlabelled: dict[str, int]
    params: dict[str, Any]


def _source_rng(seed: int, source: str) -> np.random.Generator:
    """Independent stream per source, so adding expert draws never changes the mae draws."""
    return np.random.default_rng(np.random.SeedSequence([seed, ("mie", "mae", "expert").index(source)]))


def build_pool(config: PoolConfig) -> PoolResult:
    """Run the sources in a fixed order (mie, mae, expert; inputs in the given order) and concatenate."""
    report = ValidationReport()
    triplets: list[Triplet] = []
    unlabelled = {"mie": 0, "mae": 0}
    for clips_path, aus_path in config.mie:
        found, skipped = mie_triplets(
            read_clip_table(clips_path),
            read_au_table(aus_path),
            report=report,
            file=str(clips_path),
            video=config.video,
        )
        triplets += found
        unlabelled["mie"] += skipped
    mae_rng = _source_rng(config.seed, "mae")
    for clips_path, aus_path in config.mae:
        found, skipped = mae_triplets(
            read_clip_table(clips_path),
            read_au_table(aus_path),
            mae_rng,
            interval=config.mae_interval,
            draws_per_clip=config.mae_draws,
            report=report,
            file=str(clips_path),
            video=config.video,
        )
        triplets += found
        unlabelled["mae"] += skipped
    table_path = config.expert_table
    expert_config = ExpertConfig(intensity=config.expert_intensity, empty_draw=config.empty_draw, video=config.video)
    if config.expert:
        table = load_expert_table(table_path)
        triplets += expert_triplets(
            config.expert, _source_rng(config.seed, "expert"), table=table, config=expert_config, where=table_path
        )
    if not triplets:
        raise MiexInputError(
            "the AU pool would be empty: every source gave 0 triplets" + (f"\n{report.render()}" if len(report) else "")
        )
    params = {
        "seed": config.seed,
        "video": config.video,
        "mie": [[str(Path(c)), str(Path(a))] for c, a in config.mie],
        "mae": [[str(Path(c)), str(Path(a))] for c, a in config.mae],
        "mae_interval": list(config.mae_interval),
        "mae_draws": config.mae_draws,
        "expert_per_class": config.expert,
        "expert_intensity": list(config.expert_intensity),
        "expert_table": table_path or "builtin:expert_table.json",
        "expert_empty_draw": config.empty_draw,
    }
    return PoolResult(triplets_to_frame(triplets, video=config.video), report, unlabelled, params)


def pool_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Triplets per source x class: the numbers printed after building a pool or a plan."""
    labels = frame["label"].map(lambda value: label_name(int(value)))
    return pd.crosstab(frame["source"], labels, margins=True, margins_name="total")
