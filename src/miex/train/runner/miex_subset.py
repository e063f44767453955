"""A part of MiE-X chosen by a recipe: some AU sources (``data.miex.sources``), some identities
(``data.miex.identities``).

The paper studies MiE-X built from one or two AU sources (its Fig. 5) and from fewer identities (Fig. 6 b). A MiE-X
made with all three sources holds, for every identity, one sample per class and source, so keeping the rows of some
sources (or of some identities) is the smaller MiE-X those studies describe, without synthesizing it again. Which
identities are kept must not depend on row order or on the run: identities are ranked by the SHA-256 digest of their
name and the first N are kept, so the choice looks random (like the paper's random choice of faces), is the same on
every machine, and is nested (the first 700 are among the first 1,000).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import datasets
import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.train.runner.specs import MiexSpec

IDENTITY_RULE = "identities ranked by the SHA-256 digest of their name (UTF-8), the first N kept"
"""How ``data.miex.identities`` chooses; written into results.json beside the choice."""


def identity_order(names: Iterable[str]) -> list[str]:
    """Distinct identity names, ranked by the SHA-256 digest of the name (ties, impossible in practice, by name)."""
    return sorted(set(names), key=lambda name: (hashlib.sha256(name.encode("utf-8")).hexdigest(), name))


def _column(dataset: datasets.Dataset, name: str, spec: MiexSpec, option: str) -> pd.Series:
    if name not in dataset.column_names:
        raise MiexInputError(
            f"data.miex.{option} needs MiE-X's {name!r} column, which this dataset lacks; re-create "
            f"it with `miex synthesize` or remove data.miex.{option}",
            file=spec.path,
            field=name,
        )
    return column_text(dataset, name)


def column_text(dataset: datasets.Dataset, name: str) -> pd.Series:
    """Column ``name`` as text: a ``ClassLabel``'s numbers as its names, any other value as ``str``."""
    values = dataset.select_columns([name]).to_pandas()[name]
    names = getattr(dataset.features[name], "names", None)  # ClassLabel: numbers -> names
    return values.map(lambda v: names[int(v)]) if names is not None else values.astype(str)


def select_miex(dataset: datasets.Dataset, spec: MiexSpec) -> tuple[datasets.Dataset, dict[str, Any] | None]:
    """``dataset`` reduced to ``spec.sources`` and ``spec.identities`` (unchanged when neither is set), and what was
    kept, for results.json (``None`` when nothing was asked)."""
    if spec.sources is None and spec.identities is None:
        return dataset, None
    keep = np.ones(len(dataset), dtype=bool)
    record: dict[str, Any] = {"samples_before": len(dataset)}
    if spec.sources is not None:
        sources = _column(dataset, "source", spec, "sources")
        present = sorted(set(sources))
        absent = [s for s in spec.sources if s not in present]
        if absent:
            raise MiexInputError(
                f"data.miex.sources asks for {absent} but this MiE-X has no such sample (its "
                f"sources: {', '.join(present) or 'none'}); synthesize it with those sources",
                file=spec.path,
                field="source",
            )
        keep &= sources.isin(spec.sources).to_numpy()
        record["sources"] = list(spec.sources)
    if spec.identities is not None:
        identities = _column(dataset, "identity", spec, "identities")
        ranked = identity_order(identities[keep])
        if len(ranked) < spec.identities:
            raise MiexInputError(
                f"data.miex.identities is {spec.identities} but this MiE-X has {len(ranked)} "
                "identit(ies) with samples of the chosen sources; lower it or synthesize more "
                "identities",
                file=spec.path,
                field="identity",
            )
        chosen = ranked[: spec.identities]
        keep &= identities.isin(chosen).to_numpy()
        record |= {
            "identities": spec.identities,
            "identities_available": len(ranked),
            "identity_rule": IDENTITY_RULE,
            "first_identities": chosen[:5],
        }
    record["samples"] = int(keep.sum())
    return dataset.select(np.flatnonzero(keep).tolist()), record
