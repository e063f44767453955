"""Held-out splits of one MiE-X dataset, for training and testing on synthetic data alone (no licensed corpus).

A random row split of MiE-X leaks: a plan draws AU triplets with replacement, so several samples share one triplet,
and on the same face the generator renders them as identical frames (the embedded default's 300 samples hold about
185 distinct triplets of its one face). So samples are held out in groups, the *unit*:

- ``identity``: every sample of a face stays on one side, a held-out identity split (needs several identities: a
  MiE-X made from a face pool, ``miex synthesize --faces pool/``);
- ``au_draw``: every sample of one AU triplet (``onset_au`` + ``apex_au``, and ``frames_au`` for the video variant)
  stays on one side; the identities are seen in training. This is what the one-face embedded default allows.

Units are then dealt into folds by :func:`miex.train.protocols.kfold` (class-stratified), the code the recipe
runner's protocols use, so :func:`heldout_split` and ``miex train --recipe miex_heldout_samples`` split alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.train.protocols.folds import kfold

if TYPE_CHECKING:  # datasets loads on use: the recipe checks import this module before any data is read
    import datasets

HeldOut = Literal["identity", "au_draw"]
HELD_OUT_UNITS: tuple[str, ...] = get_args(HeldOut)
AU_COLUMNS: tuple[str, ...] = ("onset_au", "apex_au", "frames_au")
"""The columns that say which AU triplet a sample shows (``frames_au`` only in the video variant)."""


def au_draws(dataset: datasets.Dataset) -> list[str]:
    """Each row's AU draw, named ``draw-0001``... in order of first appearance; rows with equal AU values share one
    (compared to 6 decimals: samples of one pool triplet carry the very same values)."""
    columns = [name for name in AU_COLUMNS if name in dataset.column_names]
    if not {"onset_au", "apex_au"} <= set(columns):
        raise MiexInputError(
            "holding out AU draws needs the onset_au and apex_au columns MiE-X carries; this dataset "
            f"has {dataset.column_names}",
            field="apex_au",
        )
    table = dataset.select_columns(columns).to_pandas()
    keys = [
        np.round(np.concatenate([np.ravel(np.asarray(value, dtype=np.float64)) for value in values]), 6).tobytes()
        for values in table.itertuples(index=False)
    ]
    numbers: dict[bytes, int] = {}
    return [f"draw-{numbers.setdefault(key, len(numbers) + 1):04d}" for key in keys]


def held_out_units(dataset: datasets.Dataset, by: str) -> list[str]:
    """The unit each row is held out with: its ``identity``, or its AU draw (:func:`au_draws`)."""
    if by not in HELD_OUT_UNITS:
        raise MiexInputError(f"held_out must be one of {', '.join(HELD_OUT_UNITS)}, got {by!r}", field="held_out")
    if by == "au_draw":
        return au_draws(dataset)
    if "identity" not in dataset.column_names:
        raise MiexInputError("holding out identities needs MiE-X's identity column", field="identity")
    return [str(value) for value in dataset["identity"]]


def unit_table(dataset: datasets.Dataset, by: str) -> pd.DataFrame:
    """``dataset``, ``subject`` (the unit) and ``label`` per row: the table the fold functions read."""
    units = held_out_units(dataset, by)
    return pd.DataFrame({"dataset": "miex", "subject": units, "label": np.asarray(dataset["label"], dtype=np.int64)})


def too_few_units(count: int, needed: int, by: str) -> str:
    """Why a split cannot be made, and what to change."""
    what = "identity" if by == "identity" else "AU draw"
    hint = (
        " (the embedded default shows one face: hold out AU draws instead, held_out: au_draw)"
        if by == "identity"
        else ""
    )
    return f"this MiE-X has {count} {what}{'' if count == 1 else 's'}, too few for {needed} folds{hint}"


def heldout_split(
    dataset: datasets.Dataset, *, test_size: float = 0.25, by: str = "au_draw", seed: int = 0
) -> datasets.DatasetDict:
    """``train`` and ``test`` with no unit (``au_draw`` or ``identity``) on both sides, classes balanced.

    The test side is the first fold of a class-stratified, seeded k-fold over units with ``k = round(1 /
    test_size)`` (0.25: 4 folds, a quarter of the units held out)."""
    import datasets

    if not 0.0 < test_size <= 0.5:
        raise MiexInputError(f"test_size must lie in (0, 0.5], got {test_size}", field="test_size")
    table = unit_table(dataset, by)
    k = round(1 / test_size)
    count = table["subject"].nunique()
    if count < k:
        raise MiexInputError(too_few_units(count, k, by), field="held_out")
    tested = set(kfold(table, k, seed=seed, stratify=True)[0].test_subjects)
    test = np.fromiter(((d, s) in tested for d, s in zip(table["dataset"], table["subject"], strict=True)), dtype=bool)
    return datasets.DatasetDict(
        train=dataset.select(np.flatnonzero(~test).tolist()), test=dataset.select(np.flatnonzero(test).tolist())
    )
