"""The synthesis plan: which face gets which AU triplet. A pure function of (faces, pool, config).

Default reproduces MiE-X (docs/reference.md §AU sources, 'MiE-X as published'): per identity × class × source one
sample, over the sources the AU pool holds: 9 samples per identity with all 3 sources, 6 with two (e.g. mie and
expert), 3 with one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from miex.core.errors import MiexInputError
from miex.core.progress import PROGRESS_DELAY_S
from miex.core.report import ValidationReport
from miex.data.aus.schema import LABEL_NAMES
from miex.data.plan.faces import frontal
from miex.data.plan.seeds import keyed_rng, stable_int
from miex.data.sources.triplet import SOURCES, au_field, to_arrow, write_parquet

log = logging.getLogger(__name__)

Cell = tuple[str, int]
"""(source, label)."""
PROVENANCE = ("triplet_id", "source_dataset", "source_subject", "source_clip")
PLAN_KIND = "plan"


@dataclass(frozen=True)
class PlanConfig:
    seed: int = 0
    sources: tuple[str, ...] | None = None
    """Sources to plan (canonical order kept); None: every source the AU pool holds (see :func:`plan_sources`)."""
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

    def __post_init__(self) -> None:
        """Refuse knobs that would silently mean something else (``--samples-per-identity 0`` is not "default")."""
        for option, value in (
            ("--identities", self.identities),
            ("--triplets", self.triplets),
            ("--samples-per-identity", self.samples_per_identity),
        ):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
                raise MiexInputError(
                    f"{option} must be a whole number >= 1, got {value!r} (leave it out for the default)"
                )
        for option, angle in (("--max-yaw", self.max_yaw), ("--max-pitch", self.max_pitch)):
            if not (np.isfinite(angle) and 0 <= angle <= 180):
                raise MiexInputError(f"{option} must be an angle in degrees between 0 and 180, got {angle!r}")
        if self.seed < 0:
            raise MiexInputError(f"--seed must be >= 0, got {self.seed}")


@dataclass
class PlanResult:
    frame: pd.DataFrame
    report: ValidationReport
    params: dict[str, Any]
    cells: list[Cell] = field(default_factory=list)
    """The (source, class) cells planned, in order: what one sample per cell means for this plan."""


def plan_sources(pool: pd.DataFrame, requested: Sequence[str] | None) -> tuple[str, ...]:
    """The sources to plan, in canonical order: ``requested`` (checked), or every source the pool holds.

    The one default shared by ``miex plan`` and ``miex synthesize``: a pool built from mie and expert plans mie and
    expert, instead of failing on the mae triplets it never had."""
    if requested is None:
        present = set(pool["source"])
        return tuple(source for source in SOURCES if source in present)
    unknown = sorted({source for source in requested if source not in SOURCES})
    if unknown:
        raise MiexInputError(
            f"--sources: unknown source(s) {', '.join(unknown)} (choose from {','.join(SOURCES)})", field="sources"
        )
    return tuple(source for source in SOURCES if source in requested)  # canonical order, duplicates ignored


def _cells(pool: pd.DataFrame, sources: tuple[str, ...], config: PlanConfig, report: ValidationReport) -> list[Cell]:
    present = set(zip(pool["source"], pool["label"].astype(int), strict=True))
    cells = []
    for source in sources:
        for label in range(len(LABEL_NAMES)):
            if (source, label) in present:
                cells.append((source, label))
                continue
            reason = f"the pool has no {source} triplet of class {label} ({LABEL_NAMES[label]})"
            if not config.allow_missing:
                others = [other for other in sources if other != source]
                drop = f"--sources {','.join(others)}" if others else "--sources with another source"
                raise MiexInputError(
                    f"{reason}: add such triplets to the pool (`miex au-pool`), plan without it "
                    f"({drop}), or pass --allow-missing to plan the cells that exist"
                )
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


def plan_samples(faces: pd.DataFrame, pool: pd.DataFrame, config: PlanConfig | None = None) -> PlanResult:
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
        raise MiexInputError("the AU pool is empty: make one with `miex au-pool` (at least --expert N)")
    sources = plan_sources(pool, config.sources)
    cells = _cells(pool, sources, config, report)
    groups = _triplet_subset(pool, cells, config)
    sizes = np.array([len(groups[cell]) for cell in cells], dtype=np.float64)
    weights = sizes / sizes.sum()
    crops = dict(tuple(faces.groupby("identity", sort=True)["face"]))
    identities = _subset(sorted(crops), config.identities, config.seed, "identities")
    video = "frames_au" in pool.columns
    rows = []
    for identity in tqdm(identities, desc="plan", unit="identity", delay=PROGRESS_DELAY_S):
        counters: dict[Cell, int] = {}
        rng = keyed_rng(config.seed, "assign", identity)
        files = crops[identity].tolist()
        for cell in sorted(_identity_cells(identity, cells, weights, config), key=cells.index):
            k = counters.get(cell, 0)
            counters[cell] = k + 1
            triplet = groups[cell].iloc[int(rng.integers(len(groups[cell])))]
            sample_id = f"{identity}-{cell[0]}-{cell[1]}-{k}"
            rows.append(
                {
                    "sample_id": sample_id,
                    "identity": identity,
                    "face": files[int(rng.integers(len(files)))],
                    "label": cell[1],
                    "source": cell[0],
                    "emotion": triplet["emotion"],
                    "onset_au": triplet["onset_au"],
                    "apex_au": triplet["apex_au"],
                    **({"frames_au": triplet["frames_au"]} if video else {}),
                    **{name: triplet[name] for name in PROVENANCE},
                    "seed": stable_int(config.seed, "sample", sample_id),
                }
            )
    params = {**asdict(config), "sources": list(sources), "identities_used": len(identities)}
    return PlanResult(pd.DataFrame(rows, columns=plan_columns(video)), report, params, cells)


def describe_samples_per_identity(result: PlanResult) -> str:
    """One line saying how many samples each identity got and why (the number follows from the pool's sources)."""
    sizes = result.frame.groupby("identity").size()
    count = f"{sizes.iloc[0]}" if sizes.nunique() <= 1 else f"{sizes.min()} to {sizes.max()}"
    sources = sorted({source for source, _ in result.cells}, key=SOURCES.index)
    requested = result.params.get("samples_per_identity")
    if requested is not None:
        why = f"--samples-per-identity {requested} over {len(result.cells)} (source, class) cells"
    else:
        why = (
            f"one per class x source: {len(result.cells)} (source, class) cells of {len(sources)} source(s) "
            f"({', '.join(sources)})"
        )
    return f"{count} samples per identity: {why}"


def plan_columns(video: bool) -> list[str]:
    aus = ["frames_au"] if video else []
    return [
        "sample_id",
        "identity",
        "face",
        "label",
        "source",
        "emotion",
        "onset_au",
        "apex_au",
        *aus,
        *PROVENANCE,
        "seed",
    ]


def plan_fields(video: bool) -> list[pa.Field]:
    text = pa.string()
    types = {"label": pa.int64(), "seed": pa.int64()}
    return [
        au_field(name, video=name == "frames_au") if name.endswith("_au") else pa.field(name, types.get(name, text))
        for name in plan_columns(video)
    ]


def write_plan(result: PlanResult, path: str | PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write the plan deterministically (fixed schema, sorted rows, JSON params in the metadata); face paths are
    stored relative to the plan's folder when the faces lie inside it, else absolute (docs/reference.md §File
    contract), so the plan works from any working folder."""
    from miex.core.paths import store_paths, with_paths_rule

    video = "frames_au" in result.frame.columns
    params = {**result.params, **(extra or {})}
    frame = result.frame.assign(face=store_paths(result.frame["face"], Path(path).parent))
    table = to_arrow(frame, plan_fields(video), params, kind=PLAN_KIND)
    return write_parquet(table.replace_schema_metadata(with_paths_rule(table.schema.metadata)), path)
