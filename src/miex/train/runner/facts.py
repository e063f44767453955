"""What a run did, as results.json records it beside the scores: the clips and subjects tested per dataset, the
weights the encoders started from, the MiE-X trained on (samples, identities, AU sources) and each stage's epochs and
training-set size. The model card states these facts and compares them with a recipe's published setup
(:mod:`.claims`), so they are measured from the data the run used, never copied from the recipe's intentions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from miex.train.runner.miex_subset import column_text
from miex.train.runner.outputs import FoldResult
from miex.train.runner.specs import MIEX_SOURCES, Recipe, StageSpec

if TYPE_CHECKING:
    from miex.train.runner.checks import Plan


def tested_counts(results: Sequence[FoldResult]) -> dict[str, dict[str, int]]:
    """Clips and subjects tested per dataset, then in ``all`` (one seed's folds: every seed tests the same clips)."""
    seed = results[0].seed if results else None
    rows = [pair for r in results if r.seed == seed for pair in zip(r.datasets, r.subjects, strict=True)]
    counts = {}
    for dataset in dict.fromkeys(d for d, _ in rows):
        mine = [pair for pair in rows if pair[0] == dataset]
        counts[dataset] = {"clips": len(mine), "subjects": len(set(mine))}
    counts["all"] = {"clips": len(rows), "subjects": len(set(rows))}
    return counts


def corpus_subjects(plan: Plan) -> int:
    """Subjects with at least one labelled clip in the real corpus (after the recipe's filters)."""
    pairs = plan.sources.real.subjects[["dataset", "subject"]].astype(str)
    return len(set(pairs.itertuples(index=False)))


def initialisation(recipe: Recipe) -> dict[str, Any]:
    """The encoders' weights before the first stage: a checkpoint (``backbone``, loaded by preflight or the run
    stops) or random."""
    backbone = recipe.model.backbone
    return {"backbone": backbone, "weights": "pretrained" if backbone else "random"}


def miex_used(plan: Plan) -> dict[str, Any] | None:
    """The MiE-X the stages trained on (None when none does), as loaded (after ``data.miex`` subsets, before each
    fold's filter): samples, identities and samples per AU source from its ``identity`` and ``source`` columns
    (None where it lacks one), and frames per sample (2, or the video variant's 10)."""
    spec, dataset = plan.recipe.data.miex, plan.sources.miex
    if spec is None or dataset is None or not any("miex" in stage.train for stage in plan.recipe.stages):
        return None
    sources = None
    if "source" in dataset.column_names:
        counts = Counter(column_text(dataset, "source"))
        order = sorted(counts, key=lambda s: (MIEX_SOURCES.index(s) if s in MIEX_SOURCES else 99, s))
        sources = {name: counts[name] for name in order}
    identities = int(column_text(dataset, "identity").nunique()) if "identity" in dataset.column_names else None
    frames = len(dataset[0]["frames"]) if "frames" in dataset.column_names and len(dataset) else 2
    return {
        "path": str(spec.path),
        "split": spec.split,
        "samples": len(dataset),
        "identities": identities,
        "sources": sources,
        "frames_per_sample": frames,
    }


def stage_facts(stage: StageSpec, results: Sequence[FoldResult], miex: dict[str, Any] | None) -> dict[str, Any]:
    """A stage's epochs in all, the smallest and largest training set of its folds (samples after the fold filter)
    and, when it trains on MiE-X, that MiE-X's size and sources."""
    sizes = [sum(c["used"] for c in r.counts[stage.name].values()) for r in results if stage.name in r.counts]
    facts: dict[str, Any] = {
        "total_epochs": stage.training.total_epochs,
        "training_samples_per_fold": {"min": min(sizes), "max": max(sizes)} if sizes else None,
    }
    if miex is not None and "miex" in stage.train:
        facts["miex"] = {key: miex[key] for key in ("samples", "identities", "sources")}
    return facts


def run_facts(plan: Plan, results: Sequence[FoldResult]) -> dict[str, Any]:
    """The top-level results.json entries this module adds (``stages`` gets :func:`stage_facts` per stage)."""
    return {
        "real_subjects": corpus_subjects(plan),
        "real_input": plan.sources.real.holds,
        "tested": tested_counts(results),
        "initialisation": initialisation(plan.recipe),
        "miex": miex_used(plan),
    }
