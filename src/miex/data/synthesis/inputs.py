"""What to synthesize: a plan file, or faces + an AU pool (file or sources) + plan knobs, or the embedded default.

The embedded default needs no user data: the public-domain astronaut photo that scikit-image ships (docs/reference.md
§Face pipeline), aligned once by the face pipeline into the user cache, animated with expert-rule AUs by the warp
generator.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from miex.core.errors import MiexInputError
from miex.core.paths import absolute, resolve_paths
from miex.data.faces.builtin import builtin_face_pool
from miex.data.plan import PlanConfig, load_faces, plan_samples, read_plan
from miex.data.plan.build import PlanResult
from miex.data.sources import PoolConfig, build_pool, read_params, read_pool

log = logging.getLogger(__name__)

DEFAULT_EXPERT_PER_CLASS = 100
DEFAULT_SAMPLES_PER_IDENTITY = 300
"""Embedded default: 300 samples (100 per class) of the one shipped identity, 600 frames, seconds on a laptop."""


@dataclass(frozen=True)
class SynthesisInputs:
    """Where the plan comes from. Precedence: ``plan`` > (``faces`` + ``pool`` or ``pool_config``) > default."""

    plan: str | None = None
    faces: str | None = None
    pool: str | None = None
    pool_config: PoolConfig | None = None
    plan_config: PlanConfig = field(default_factory=PlanConfig)
    sources_given: bool = False
    """False: plan every source the pool holds (instead of failing on the ones it lacks)."""
    video: bool = False
    """The 10-frame variant (only for the embedded default; a pool or plan file says it itself)."""

    @property
    def is_default(self) -> bool:
        return self.plan is None and self.faces is None and self.pool is None and self.pool_config is None


@dataclass
class ResolvedPlan:
    plan: pd.DataFrame
    params: dict[str, Any]
    faces_dir: str | None
    description: str


def resolve_plan(inputs: SynthesisInputs) -> ResolvedPlan:
    """The plan to render, its parameters (recorded in the card), and the face folder holding its landmarks."""
    if inputs.plan is not None:
        plan_path = Path(inputs.plan)
        if not plan_path.is_file():
            raise MiexInputError("plan not found (make one with `miex plan ...`)", file=plan_path)
        plan = _plan_faces(read_plan(plan_path), plan_path, inputs.faces)
        return ResolvedPlan(plan, read_params(plan_path), inputs.faces, f"plan {plan_path}")
    if inputs.is_default:
        faces_dir = str(builtin_face_pool())
        pool_config = PoolConfig(expert=DEFAULT_EXPERT_PER_CLASS, seed=inputs.plan_config.seed, video=inputs.video)
        plan_config = replace(
            inputs.plan_config,
            samples_per_identity=inputs.plan_config.samples_per_identity or DEFAULT_SAMPLES_PER_IDENTITY,
        )
        description = "embedded default: the scikit-image astronaut, expert AUs"  # the generator is recorded apart
        return _plan_from(
            faces_dir, pool_config, None, plan_config, sources_given=inputs.sources_given, description=description
        )
    if inputs.faces is None:
        raise MiexInputError("give --faces (a face pool from `miex faces`) with the AU pool, or a --plan")
    if inputs.pool is None and inputs.pool_config is None:
        raise MiexInputError("give an AU pool: --pool POOL.parquet, or the sources (--expert N, --mie-clips ...)")
    return _plan_from(
        inputs.faces,
        inputs.pool_config,
        inputs.pool,
        inputs.plan_config,
        sources_given=inputs.sources_given,
        description=f"faces {inputs.faces}",
    )


def _plan_from(
    faces_dir: str,
    pool_config: PoolConfig | None,
    pool_path: str | None,
    plan_config: PlanConfig,
    *,
    sources_given: bool,
    description: str,
) -> ResolvedPlan:
    if pool_path is not None:
        pool, pool_params = read_pool(pool_path), read_params(pool_path)
    else:
        assert pool_config is not None
        built = build_pool(pool_config)
        if len(built.report):
            log.warning("AU sources:\n%s", built.report.render())
        pool, pool_params = built.frame, built.params
    plan_config = replace(plan_config, sources=plan_config.sources if sources_given else None)
    result: PlanResult = plan_samples(load_faces(faces_dir), pool, plan_config)
    if len(result.report):
        log.warning("plan:\n%s", result.report.render())
    return ResolvedPlan(result.frame, {**result.params, "pool": pool_params}, faces_dir, description)


def _plan_faces(plan: pd.DataFrame, plan_path: Path, faces_dir: str | None) -> pd.DataFrame:
    """The plan with absolute face paths, found from any working folder.

    A stored path is resolved against the plan's folder (:mod:`miex.core.paths`). A face still not on disk is
    looked up in ``faces_dir`` (``--faces``) by its path inside the pool, e.g. ``crops/ann_0.png``: a plan and its
    pool moved together, or a pool copied elsewhere, still find their faces."""
    stored = sorted(set(plan["face"].astype(str)))
    found = dict(zip(stored, resolve_paths(stored, plan_path.parent), strict=True))
    missing = [face for face in found.values() if not os.path.exists(face)]
    if missing and faces_dir is not None:
        moved = _faces_in_pool(missing, faces_dir)
        if moved:
            log.info("%d face path(s) of the plan not on disk were found in %s", len(moved), faces_dir)
        found = {name: moved.get(face, face) for name, face in found.items()}
    return plan.assign(face=plan["face"].astype(str).map(found))


def _faces_in_pool(missing: list[str], faces_dir: str) -> dict[str, str]:
    """Missing face path -> the face of ``faces_dir`` whose path inside the pool is its longest matching tail."""
    folder = Path(absolute(faces_dir))
    faces = [Path(face) for face in load_faces(folder)["face"]]
    inside = {face.relative_to(folder).as_posix(): str(face) for face in faces if face.is_relative_to(folder)}
    moved = {}
    for face in missing:
        parts = Path(face).parts
        tails = ("/".join(parts[start:]) for start in range(1, len(parts)))
        match = next((inside[tail] for tail in tails if tail in inside), None)
        if match is not None:
            moved[face] = match
    return moved
