"""The browse tab's logic: open a MiE-X (a folder written by `miex synthesize`, or a Hub dataset repo), filter its
samples by class, AU source and identity, and show a sample's frames and AUs.

Only the small metadata columns are read into a table for filtering; images are decoded for the samples shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.data.aus.schema import AU_NAMES

SHOWN = 60
"""Samples shown in the gallery at once (the count says how many match)."""

FILTER_COLUMNS = ("label", "source", "identity")
META_COLUMNS = (*FILTER_COLUMNS, "emotion", "sample_id")


@dataclass
class Browser:
    """An opened MiE-X: the dataset (images decoded on access) and its metadata with class and source names."""

    where: str
    dataset: Any  # datasets.Dataset
    table: pd.DataFrame

    @property
    def classes(self) -> list[str]:
        return self._present("label")

    @property
    def sources(self) -> list[str]:
        return self._present("source") if "source" in self.table else []

    def _present(self, column: str) -> list[str]:
        """The names a categorical column uses, in its category (label) order."""
        used = set(self.table[column].dropna())
        return [str(name) for name in self.table[column].cat.categories if name in used]

    @property
    def identities(self) -> list[str]:
        return sorted(set(self.table["identity"])) if "identity" in self.table else []

    def matching(
        self, classes: list[str] | None, sources: list[str] | None, identities: list[str] | None
    ) -> np.ndarray:
        """Row numbers whose class, source and identity are among those chosen; an empty or None choice of
        identities means every identity (a MiE-X can hold thousands), of classes or sources means none."""
        keep = self.table["label"].isin(classes or [])
        if "source" in self.table:
            keep &= self.table["source"].isin(sources or [])
        if identities and "identity" in self.table:
            keep &= self.table["identity"].isin(identities)
        return np.flatnonzero(keep.to_numpy())

    def frames(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Onset and apex of sample ``row`` (first and last frame in the video config) as uint8 RGB."""
        sample = self.dataset[int(row)]
        first, last = (
            (sample["onset"], sample["apex"]) if "apex" in sample else (sample["frames"][0], sample["frames"][-1])
        )
        return np.asarray(first.convert("RGB")), np.asarray(last.convert("RGB"))

    def caption(self, row: int) -> str:
        record = self.table.iloc[int(row)]
        parts = [str(record[c]) for c in ("label", "source", "identity") if c in self.table]
        return " · ".join(parts)

    def gallery(self, rows: np.ndarray, limit: int = SHOWN) -> list[tuple[np.ndarray, str]]:
        """(apex, caption) of the first ``limit`` rows, for a gallery."""
        return [(self.frames(row)[1], self.caption(row)) for row in rows[:limit]]

    def details(self, row: int) -> pd.DataFrame:
        """Sample ``row``'s onset and apex AU intensities, one row per AU (AUs at 0 in both frames left out)."""
        columns = [c for c in ("onset_au", "apex_au") if c in self.dataset.column_names]
        sample = self.dataset.select_columns(columns)[int(row)] if columns else {}
        onset, apex = (
            np.asarray(sample.get(c) or np.zeros(len(AU_NAMES)), np.float64) for c in ("onset_au", "apex_au")
        )
        frame = pd.DataFrame({"AU": AU_NAMES, "onset": onset.round(2), "apex": apex.round(2)})
        return frame[(frame["onset"] != 0) | (frame["apex"] != 0)].reset_index(drop=True)


def open_miex(where: str, split: str = "train") -> Browser:
    """A local MiE-X folder, or a Hub dataset repo ``ORG/NAME`` (downloaded once into the datasets cache)."""
    where = str(where).strip()
    if not where:
        raise MiexInputError("give a MiE-X folder (made by `miex synthesize`) or a Hub dataset repo ORG/NAME")
    return _open(where, split)


@lru_cache(maxsize=4)
def _open(where: str, split: str) -> Browser:
    import datasets

    from miex.core.fileio import first_line

    folder = Path(where).expanduser()
    if not folder.is_dir():
        if folder.exists() or where.startswith((".", "/", "~")):
            raise MiexInputError("not a MiE-X folder (make one with `miex synthesize --out DIR`)", file=where)
        from miex.data.hub import check_repo_id

        check_repo_id(where)
    try:
        if (folder / "state.json").is_file() or (folder / "dataset_dict.json").is_file():  # Dataset.save_to_disk
            loaded = datasets.load_from_disk(str(folder))
            dataset = loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
        else:  # parquet shards + card, on disk or on the Hub
            dataset = datasets.load_dataset(str(folder) if folder.is_dir() else where, split=split)
    except Exception as error:  # offline, missing repo, no access, no such split: one line that says which
        raise MiexInputError(
            f"could not load a MiE-X: {type(error).__name__}: {first_line(error)}", file=where
        ) from error
    if "apex" not in dataset.column_names and "frames" not in dataset.column_names:
        raise MiexInputError("not a MiE-X dataset: no onset/apex (or frames) columns", file=where, field="apex")
    return Browser(where, dataset, metadata(dataset, where))


def metadata(dataset: Any, where: str = "dataset") -> pd.DataFrame:
    """The filter columns of ``dataset`` with class and source numbers turned into their names (categoricals in
    label order)."""
    import datasets

    present = [c for c in META_COLUMNS if c in dataset.column_names]
    if "label" not in present:
        raise MiexInputError("not a MiE-X dataset: no 'label' column", file=where, field="label")
    table = dataset.select_columns(present).to_pandas()
    for column in ("label", "source"):
        feature = dataset.features.get(column)
        if isinstance(feature, datasets.ClassLabel):
            table[column] = pd.Categorical.from_codes(table[column].to_numpy(), categories=feature.names)
        elif column in table:
            table[column] = pd.Categorical(table[column].astype(str))
    return table
