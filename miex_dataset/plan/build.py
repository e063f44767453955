"""The synthesis plan: which face gets which AU triplet. A pure function of (faces, pool, config).

Default reproduces MiE-X (docs/reference.md §AU sources, 'MiE-X as published'): per identity × class × source one
sample, i.e.
9 samples per identity with 3 sources and 3 classes.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..aus.schema import LABEL_NAMES
from ..corpora.report import ValidationReport
from ..errors import MiexInputError
from ..sources.triplet import SOURCES, au_field, to_arrow, write_parquet
from .faces import frontal
from .seeds import keyed_rng, stable_int

log = logging.getLogger(__name__)

Cell = tuple[str, int]
"""(source, label)."""
PROVENANCE = ("triplet_id", "source_dataset", "source_subject", "source_clip")


@dataclass(frozen=True)
class PlanConfig:
    seed: int = 0
    sources: tuple[str, ...] = SOURCES
    identities: int | None = None
    """Use a seeded subset of this many identities (all when None)."""
    triplets: int | None = None
    """Use this many distinct triplets from the pool, shared by all identities (all when None)."""
    samples_per_identity: int | None = None
    """Default: one per (source, class) cell."""
    balanced: bool = True
    """True: every identity cycles through the (source, class) cells; False: cells drawn in pool proportions."""
    allow_missing: bool = False
    """Allow a requested (source, class) with no triplet: warned and reported instead of an error."""
    frontal_only: bool = False
    max_yaw: float = 20.0
    max_pitch: float = 20.0


@dataclass
class PlanResult:
    frame: pd.DataFrame
    report: ValidationReport
    params: dict[str, Any]


def _cells(pool: pd.DataFrame, config: PlanConfig, report: ValidationReport) -> list[Cell]:
    unknown = [s for s in config.sources if s not in SOURCES]
    if unknown:
        raise MiexInputError(f"unknown source(s) {unknown} (expected some of {SOURCES})")
    present = set(zip(pool["source"], pool["label"].astype(int), strict=True))
    cells = []
    for source in (s for s in SOURCES if s in config.sources):  # canonical order, duplicates ignored
        for label in range(len(LABEL_NAMES)):
            if (source, label) in present:
                cells.append((source, label))
                continue
            reason = f"the pool has no {source} triplet of class {label} ({LABEL_NAMES[label]})"
            if not config.allow_missing:
                raise MiexInputError(f"{reason}: add triplets, drop the source, or allow missing cells")
            log.warning("%s: the plan has no samples for it", reason)
            report.add(reason, field="label")
    if not cells:
        raise MiexInputError("no (source, class) with triplets: the plan would be empty")
    return cells


def _subset(items: list[str], count: int | None, seed: int, purpose: str) -> list[str]:
    """The ``count`` items of smallest keyed hash: seeded, nested (a smaller subset is inside a larger one)."""
    if count is None or count >= len(items):
        return items
    if count < 1:
        raise MiexInputError(f"{purpose}: need at least 1, got {count}")
    return sorted(sorted(items, key=lambda item: stable_int(seed, purpose, item))[:count])


def _triplet_subset(pool: pd.DataFrame, cells: list[Cell], config: PlanConfig) -> dict[Cell, pd.DataFrame]:
    """Triplets available per cell; with ``config.triplets`` a seeded subset split as evenly as possible."""
    groups = {cell: pool[(pool["source"] == cell[0]) & (pool["label"] == cell[1])] for cell in cells}
    if config.triplets is None:
        return groups
    if config.triplets < len(cells):
        raise MiexInputError(f"--triplets {config.triplets} is fewer than the {len(cells)} (source, class) cells")
    quota = {cell: config.triplets // len(cells) + (i < config.triplets % len(cells)) for i, cell in enumerate(cells)}
    chosen = {}
    for cell, group in groups.items():
        ids = _subset(group["triplet_id"].tolist(), quota[cell], config.seed, "triplets")
        chosen[cell] = group[group["triplet_id"].isin(ids)]
    return chosen


def _identity_cells(identity: str, cells: list[Cell], weights: np.ndarray, config: PlanConfig) -> list[Cell]:
    count = len(cells) if config.samples_per_identity is None else config.samples_per_identity
    if count < 1:
        raise MiexInputError(f"--samples-per-identity must be >= 1, got {count}")
    rng = keyed_rng(config.seed, "cells", identity)
    if not config.balanced:
        return [cells[i] for i in rng.choice(len(cells), size=count, p=weights)]
    # balanced: whole rounds over every cell, then a seeded remainder without repetition
    rounds, rest = divmod(count, len(cells))
    extra = [cells[i] for i in sorted(rng.permutation(len(cells))[:rest])]
    return cells * rounds + extra


def build_plan(faces: pd.DataFrame, pool: pd.DataFrame, config: PlanConfig | None = None) -> PlanResult:
    """One row per sample, sorted by (identity, source, label, k); input row order is irrelevant."""
    config = config or PlanConfig()
    report = ValidationReport()
    pool = pool.sort_values("triplet_id", kind="stable").reset_index(drop=True)
    faces = faces.sort_values(["identity", "face"], kind="stable").reset_index(drop=True)
    if config.frontal_only:
        before = faces["identity"].nunique()
        faces = frontal(faces, config.max_yaw, config.max_pitch)
        if faces.empty:
            raise MiexInputError(f"no crop within |yaw| <= {config.max_yaw}, |pitch| <= {config.max_pitch}")
        if faces["identity"].nunique() < before:
            report.note(f"{before - faces['identity'].nunique()} of {before} identities have no frontal crop")
    if pool.empty:
        raise MiexInputError("the AU pool is empty")
    cells = _cells(pool, config, report)
    groups = _triplet_subset(pool, cells, config)
    sizes = np.array([len(groups[cell]) for cell in cells], dtype=np.float64)
    weights = sizes / sizes.sum()
    crops = dict(tuple(faces.groupby("identity", sort=True)["face"]))
    identities = _subset(sorted(crops), config.identities, config.seed, "identities")
    video = "frames_au" in pool.columns
    rows = []
    for identity in identities:
        counters: dict[Cell, int] = {}
        rng = keyed_rng(config.seed, "assign", identity)
        files = crops[identity].tolist()
        for cell in sorted(_identity_cells(identity, cells, weights, config), key=cells.index):
            k = counters.get(cell, 0)
            counters[cell] = k + 1
            triplet = groups[cell].iloc[int(rng.integers(len(groups[cell])))]
            sample_id = f"{identity}-{cell[0]}-{cell[1]}-{k}"
            rows.append({
                "sample_id": sample_id, "identity": identity, "face": files[int(rng.integers(len(files)))],
                "label": cell[1], "source": cell[0], "emotion": triplet["emotion"],
                "onset_au": triplet["onset_au"], "apex_au": triplet["apex_au"],
                **({"frames_au": triplet["frames_au"]} if video else {}),
                **{name: triplet[name] for name in PROVENANCE},
                "seed": stable_int(config.seed, "sample", sample_id),
            })  # fmt: skip
    params = {**asdict(config), "sources": list(config.sources), "identities_used": len(identities)}
    return PlanResult(pd.DataFrame(rows, columns=plan_columns(video)), report, params)


def plan_columns(video: bool) -> list[str]:
    aus = ["frames_au"] if video else []
    return ["sample_id", "identity", "face", "label", "source", "emotion", "onset_au", "apex_au", *aus, *PROVENANCE,
            "seed"]


def plan_fields(video: bool) -> list[pa.Field]:
    text = pa.string()
    types = {"label": pa.int64(), "seed": pa.int64()}
    return [
        au_field(name, video=name == "frames_au") if name.endswith("_au") else pa.field(name, types.get(name, text))
        for name in plan_columns(video)
    ]


def write_plan(result: PlanResult, path: str | PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write the plan deterministically (fixed schema, sorted rows, JSON params in the metadata)."""
    video = "frames_au" in result.frame.columns
    return write_parquet(to_arrow(result.frame, plan_fields(video), {**result.params, **(extra or {})}), path)
