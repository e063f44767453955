"""Subject-independent folds (docs/reference.md §Protocols and metrics): leave-one-subject-out, seeded subject-wise
k-fold, leave-one-dataset-out.

A subject is the pair ``(dataset, subject)`` (subject names repeat across corpora, e.g. ``sub01``). Fold files are
JSON so an experiment's split is written once and reused by every run and every model (``save_folds``/``load_folds``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path

Subject = tuple[str, str]
FOLDS_FORMAT = "miex.folds/1"


@dataclass(frozen=True)
class Fold:
    """One train/test split; subjects are sorted ``(dataset, subject)`` pairs."""

    name: str
    train_subjects: tuple[Subject, ...]
    test_subjects: tuple[Subject, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "train_subjects": [list(s) for s in self.train_subjects],
            "test_subjects": [list(s) for s in self.test_subjects],
        }


def make_fold(name: str, train: Iterable[Subject], test: Iterable[Subject]) -> Fold:
    return Fold(name, tuple(sorted(_pairs(train))), tuple(sorted(_pairs(test))))


def _pairs(subjects: Iterable[Sequence[str]]) -> list[Subject]:
    return [(str(d), str(s)) for d, s in subjects]


def subjects_of(table: pd.DataFrame) -> list[Subject]:
    """Sorted distinct ``(dataset, subject)`` pairs of a clip table."""
    missing = [c for c in ("dataset", "subject") if c not in table.columns]
    if missing:
        raise MiexInputError(f"table has no {missing} column(s); folds need the clip table's dataset and subject")
    return sorted({(str(d), str(s)) for d, s in table[["dataset", "subject"]].itertuples(index=False)})


def loso(table: pd.DataFrame) -> list[Fold]:
    """Leave-one-subject-out: one fold per subject (MEGC2019 standard: 68 composite subjects)."""
    subjects = subjects_of(table)
    _need(len(subjects) >= 2, f"leave-one-subject-out needs at least 2 subjects, found {len(subjects)}")
    return [make_fold(f"{d}/{s}", (x for x in subjects if x != (d, s)), [(d, s)]) for d, s in subjects]


def lodo(table: pd.DataFrame) -> list[Fold]:
    """Leave-one-dataset-out: test on every subject of one corpus, train on the others."""
    subjects = subjects_of(table)
    datasets = sorted({d for d, _ in subjects})
    _need(len(datasets) >= 2, f"leave-one-dataset-out needs at least 2 datasets, found {datasets}")
    return [
        make_fold(name, (x for x in subjects if x[0] != name), (x for x in subjects if x[0] == name))
        for name in datasets
    ]


def kfold(table: pd.DataFrame, k: int, *, seed: int = 0, stratify: bool = False) -> list[Fold]:
    """Subject-wise k-fold (the paper: 3-fold on CompMiE, 5-fold on MMEW and SAMM): every subject is tested once.

    Subjects are shuffled with ``seed``. Without ``stratify`` they are dealt round-robin (fold sizes differ by at most
    one subject). With ``stratify`` each subject, largest first, joins the fold whose class counts stay closest to
    an even share of every class (needs a ``label`` column), so each test fold sees every class where possible.
    """
    subjects = subjects_of(table)
    _need(k >= 2, f"k-fold needs k >= 2, got {k}")
    _need(len(subjects) >= k, f"{k}-fold needs at least {k} subjects, found {len(subjects)}")
    order = [subjects[i] for i in np.random.default_rng(seed).permutation(len(subjects))]
    groups = _stratified(table, order, k) if stratify else [order[i::k] for i in range(k)]
    width = len(str(k - 1))
    return [
        make_fold(f"fold{i:0{width}d}", (x for x in subjects if x not in tested), tested)
        for i, tested in enumerate(set(group) for group in groups)
    ]


def _stratified(table: pd.DataFrame, order: list[Subject], k: int) -> list[list[Subject]]:
    if "label" not in table.columns:
        raise MiexInputError("stratified k-fold needs a 'label' column", field="label")
    keyed = table.assign(dataset=table["dataset"].astype(str), subject=table["subject"].astype(str))
    counts = keyed.groupby(["dataset", "subject"])["label"].value_counts().unstack(fill_value=0)
    per_subject = {subject: counts.loc[subject].to_numpy(dtype=np.float64) for subject in order}
    target = counts.to_numpy().sum(axis=0) / k
    order = sorted(order, key=lambda subject: -int(per_subject[subject].sum()))  # stable: seeded order breaks ties
    totals = np.zeros((k, counts.shape[1]))
    groups: list[list[Subject]] = [[] for _ in range(k)]
    for position, subject in enumerate(order):
        cost = [
            np.abs(totals[i] + per_subject[subject] - target).sum() - np.abs(totals[i] - target).sum() for i in range(k)
        ]
        empty = [i for i in range(k) if not groups[i]]
        # every fold must test someone: once the subjects left are just enough for the empty folds, fill those
        allowed = empty if len(order) - position <= len(empty) else range(k)
        best = min(allowed, key=lambda i: (cost[i], len(groups[i]), i))
        totals[best] += per_subject[subject]
        groups[best].append(subject)
    return groups


def save_folds(
    folds: Sequence[Fold], path: str | PathLike[str], *, protocol: str = "", seed: int | None = None
) -> Path:
    """Write folds as JSON (sorted keys, stable bytes) so the same split is reused across runs and models."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FOLDS_FORMAT, "protocol": protocol, "seed": seed, "folds": [f.to_dict() for f in folds]}
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_folds(path: str | PathLike[str]) -> list[Fold]:
    """Read a fold file written by :func:`save_folds`; a malformed file is an error naming the fold and field."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("fold file not found", file=path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise MiexInputError(f"not JSON: {error}", file=path) from error
    if not isinstance(payload, dict) or payload.get("format") != FOLDS_FORMAT:
        raise MiexInputError(f"not a miex fold file (expected format {FOLDS_FORMAT!r})", file=path, field="format")
    folds = []
    for row, item in enumerate(payload.get("folds", [])):
        try:
            folds.append(make_fold(item["name"], item["train_subjects"], item["test_subjects"]))
        except (KeyError, TypeError, ValueError) as error:
            raise MiexInputError(f"malformed fold ({error!r})", file=path, row=row, field="folds") from error
    return folds


def _need(condition: bool, reason: str) -> None:
    if not condition:
        raise MiexInputError(reason)
