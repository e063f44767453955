"""The recipe's data, loaded once, and the rows each fold's stages may train on.

Sources are ``real`` (the corpus tested on), ``miex`` and any named ``extra`` clip tables. For a fold, ``real`` gives
the clips of its training subjects (minus the validation subjects); an extra source gives every clip whose subject is
not held out (the paper removes pre-training samples that also appear in the test subset); ``miex`` gives the
samples the fold filter keeps (:func:`miex.train.protocols.trainable_synthetic`: none derived from a held-out
subject). The real test rows keep their ``dataset``, ``subject`` and ``clip`` for logs and per-dataset scores.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.data.corpora.clips import FLOW_IMAGES, FRAMES, read_clip_table, table_holds
from miex.data.sources.mae import apex_index
from miex.train.aligned_clips import AlignmentReport, align_table
from miex.train.data import FRAME_COLUMNS, SEQUENCE_COLUMNS, label_names_of, labelled_clips, load_miex, real_dataset
from miex.train.protocols import PROVENANCE_COLUMNS, Fold, Subject, make_fold, subject_mask, trainable_synthetic
from miex.train.runner.miex_subset import select_miex
from miex.train.runner.recipe import MiexSpec, RealSpec

logger = logging.getLogger(__name__)


@dataclass
class Corpus:
    """One clip table as a dataset (``onset``, ``apex``, ``label``, ``dataset``, ``subject``, ``clip``)."""

    name: str
    dataset: datasets.Dataset
    subjects: pd.DataFrame  # dataset, subject (and label) per row, for subject masks and folds
    table_subjects: set[Subject] = field(default_factory=set)  # every subject of the table, labelled or not
    alignment: AlignmentReport | None = None
    holds: str = FRAMES
    """``frames`` (onset/apex images) or ``flow-images`` (each row's ``onset`` is its composite flow image)."""

    @property
    def label_names(self) -> list[str]:
        return label_names_of(self.dataset)


@dataclass
class Sources:
    real: Corpus
    extra: dict[str, Corpus]
    miex: datasets.Dataset | None
    miex_path: str = ""
    columns: tuple[str, ...] = FRAME_COLUMNS
    """What a training row holds: onset/apex pairs, or the frame sequence of video recognizers."""
    miex_subset: dict[str, Any] | None = None
    """What ``data.miex.sources`` / ``data.miex.identities`` kept (results.json ``miex_subset``); ``None``: all."""

    def label_names(self, source: str) -> list[str]:
        if source == "real":
            return self.real.label_names
        if source == "miex":
            assert self.miex is not None
            return label_names_of(self.miex)
        return self.extra[source].label_names

    def alignment_info(self) -> dict[str, object]:
        """How each clip table was aligned (results.json ``alignment``: per source, settings, counts, skipped clips)."""
        corpora = {"real": self.real, **self.extra}
        return {name: corpus.alignment.to_json() for name, corpus in corpora.items() if corpus.alignment is not None}


def load_corpus(spec: RealSpec, name: str, sequence: int = 0) -> Corpus:
    """Read a clip table, keep ``spec.datasets``, apply the label space and the frame choice, then align the clips
    that remain (:func:`miex.train.aligned_clips.align_table`: only clips that will be used are detected). A MiE-X
    folder instead of a clip table is read by :func:`.miex_test.miex_corpus` (the data-free run)."""
    from miex.train.runner.miex_test import is_miex_folder, miex_corpus

    if is_miex_folder(spec):
        return miex_corpus(spec, name, sequence)
    table = read_clip_table(spec.clips)
    holds = table_holds(spec.clips)
    where = f"data.{name}" if name == "real" else f"data.extra.{name}"
    if holds == FLOW_IMAGES and (sequence or spec.frames == "early"):
        raise MiexInputError(
            "this clip table holds one flow image per clip (`miex corpus flow-images`): it has no "
            "frame sequence or early frames to read",
            file=spec.clips,
            field=where,
        )
    if spec.datasets is not None:
        present = sorted(set(table["dataset"].astype(str)))
        missing = [d for d in spec.datasets if d not in present]
        if missing:
            raise MiexInputError(
                f"datasets {missing} not in the clip table (it has {present})",
                file=spec.clips,
                field=f"{where}.datasets",
            )
        table = table[table["dataset"].astype(str).isin(spec.datasets)]
    table_subjects = {(str(d), str(s)) for d, s in table[["dataset", "subject"]].itertuples(index=False)}
    if spec.frames == "early":
        table = _early_apex(table, spec)
    # the index stays the table file's row number, so a missing frame is reported at its row in spec.clips
    table = labelled_clips(table) if spec.labels is None else _in_label_space(table, spec, where)
    alignment = None
    if holds == FRAMES:  # flow images were aligned before their flow was computed
        table, alignment = align_table(
            table,
            spec.alignment,
            sequence=sequence,
            on_missing_face=spec.on_missing_face,
            table_file=spec.clips,
            where=where,
        )
    dataset = (
        real_dataset(table, sequence=sequence, table_file=spec.clips)
        if spec.labels is None
        else _native_labels(table, spec, sequence)
    )
    if len(dataset) == 0:
        raise MiexInputError("no labelled clips left (check datasets: and labels:)", file=spec.clips, field=where)
    subjects = dataset.select_columns(["dataset", "subject", "label"]).to_pandas()
    return Corpus(
        name=name, dataset=dataset, subjects=subjects, table_subjects=table_subjects, alignment=alignment, holds=holds
    )


def _early_apex(table: pd.DataFrame, spec: RealSpec) -> pd.DataFrame:
    """Onset = first frame, apex = ``floor(N p)``, ``p ~ U(a, b)`` per clip (docs/reference.md §AU sources), seeded by
    ``spec.seed``."""
    rng = np.random.default_rng(spec.seed)
    low, high = spec.early_interval
    apex = [apex_index(len(frames), float(rng.uniform(low, high))) for frames in table["frames"]]
    return table.assign(onset=0, apex=apex)


def _in_label_space(table: pd.DataFrame, spec: RealSpec, where: str) -> pd.DataFrame:
    """The clips whose emotion is one of ``spec.labels``; the others are left out (logged)."""
    names = list(spec.labels or ())
    emotions = table["emotion"].astype(str)
    found = sorted(set(emotions))
    absent = [n for n in names if n not in found]
    if absent:
        raise MiexInputError(
            f"no clip has emotion(s) {absent}; emotions in the table: {found}", file=spec.clips, field=f"{where}.labels"
        )
    kept = emotions.isin(names)
    if (~kept).any():
        left = emotions[~kept].value_counts().to_dict()
        logger.info("%s: leaving out %d clip(s) outside the label space %s: %s", where, int((~kept).sum()), names, left)
    return table[kept]


def _native_labels(table: pd.DataFrame, spec: RealSpec, sequence: int = 0) -> datasets.Dataset:
    """Label = position of the clip's emotion in ``spec.labels`` (the table holds only those emotions)."""
    names = list(spec.labels or ())
    native = [names.index(e) for e in table["emotion"].astype(str)]
    # real_dataset speaks the 3-class space; relabel below
    dataset = real_dataset(table.assign(label=0), sequence=sequence, table_file=spec.clips)
    return dataset.remove_columns("label").add_column("label", native, feature=datasets.ClassLabel(names=names))


def load_sources(real: RealSpec, extra: dict[str, RealSpec], miex: MiexSpec | None, *, sequence: int = 0) -> Sources:
    """Every corpus of the recipe; ``sequence`` > 0 (video recognizers) adds each clip's onset-to-apex frames."""
    synthetic = load_miex(miex.path, split=miex.split) if miex else None
    if sequence and synthetic is not None and "frames" not in synthetic.column_names:
        raise MiexInputError(
            "a video recognizer needs the 10-frame MiE-X: make it with `miex synthesize --video`",
            file=miex.path,
            field="frames",
        )
    subset = None
    if synthetic is not None:
        synthetic, subset = select_miex(synthetic, miex)
    return Sources(
        real=load_corpus(real, "real", sequence),
        extra={name: load_corpus(spec, name, sequence) for name, spec in extra.items()},
        miex=synthetic,
        miex_path=str(miex.path) if miex else "",
        columns=SEQUENCE_COLUMNS if sequence else FRAME_COLUMNS,
        miex_subset=subset,
    )


def miex_provenance(miex: datasets.Dataset) -> pd.DataFrame:
    """``source`` (as names), ``source_dataset``, ``source_subject`` of every MiE-X row."""
    frame = miex.select_columns(list(PROVENANCE_COLUMNS)).to_pandas()
    names = getattr(miex.features.get("source"), "names", None)
    if names is not None:
        frame["source"] = [names[int(v)] for v in frame["source"]]
    return frame


def check_miex_subjects(miex: datasets.Dataset, real: Corpus, path: str) -> None:
    """Every ``mie`` sample must name its real subject the way the clip table does; otherwise the fold filter could
    not recognise a test subject's samples and would let them into training."""
    missing = [c for c in PROVENANCE_COLUMNS if c not in miex.column_names]
    if missing:
        raise MiexInputError(
            f"MiE-X lacks provenance column(s) {missing}, so samples derived from each fold's test subjects cannot "
            "be removed from training; re-create it with `miex synthesize` (which writes source, source_dataset, "
            "source_subject) or leave MiE-X out of this recipe",
            file=path,
            field=missing[0],
        )
    frame = miex_provenance(miex)
    mie = frame[frame["source"] == "mie"]
    empty = mie[(mie["source_dataset"].astype(str) == "") | (mie["source_subject"].astype(str) == "")]
    if len(empty):
        raise MiexInputError(
            f"{len(empty)} 'mie' sample(s) without source_dataset/source_subject (first: row "
            f"{int(empty.index[0])}); the fold filter needs them",
            file=path,
            row=int(empty.index[0]),
            field="source_subject",
        )
    known: dict[str, set[str]] = {}
    for dataset, subject in real.table_subjects:
        known.setdefault(dataset, set()).add(subject)
    pairs = {(str(d), str(s)) for d, s in mie[["source_dataset", "source_subject"]].itertuples(index=False)}
    unknown = sorted((d, s) for d, s in pairs if d in known and s not in known[d])
    if unknown:
        dataset = unknown[0][0]
        raise MiexInputError(
            f"MiE-X 'mie' samples name subjects {unknown[:5]} that the {dataset} clip table does not have (it has "
            f"{sorted(known[dataset])[:5]}...): the subject naming differs, so the fold filter would miss them. "
            "Build MiE-X from the same clip tables (subjects named as the corpus folders)",
            file=path,
            field="source_subject",
        )


# --------------------------------------------------------------------------------------------------------------
# per fold


@dataclass(frozen=True)
class FoldPlan:
    """A protocol fold plus the validation subjects carved from its training subjects."""

    fold: Fold
    validation: tuple[Subject, ...] = ()

    @property
    def name(self) -> str:
        return self.fold.name

    @property
    def held_out(self) -> set[Subject]:
        return set(self.fold.test_subjects) | set(self.validation)

    @property
    def train_subjects(self) -> tuple[Subject, ...]:
        return tuple(s for s in self.fold.train_subjects if s not in set(self.validation))

    def exclusion_fold(self) -> Fold:
        """The fold the MiE-X filter sees: everything held out (test and validation) counts as test."""
        return make_fold(self.fold.name, self.train_subjects, self.held_out)


def carve_validation(fold: Fold, real: Corpus, fraction: float, seed: int, index: int) -> FoldPlan:
    """Hold out ``fraction`` of the fold's training subjects that have clips (at least one, never all)."""
    if fraction <= 0:
        return FoldPlan(fold)
    present = {(str(d), str(s)) for d, s in real.subjects[["dataset", "subject"]].itertuples(index=False)}
    candidates = sorted(s for s in fold.train_subjects if s in present)
    if len(candidates) < 2:
        raise MiexInputError(
            f"fold {fold.name!r} has {len(candidates)} training subject(s) with clips: too few to carve a validation "
            "split; set protocol.validation.fraction: 0",
            field="protocol.validation",
        )
    count = min(len(candidates) - 1, max(1, round(fraction * len(candidates))))
    rng = np.random.default_rng([seed, index])
    chosen = [candidates[i] for i in sorted(rng.choice(len(candidates), size=count, replace=False))]
    return FoldPlan(fold, tuple(chosen))


def _frames(dataset: datasets.Dataset, rows: Iterable[int] | np.ndarray, columns: Sequence[str]) -> datasets.Dataset:
    return dataset.select(np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows).tolist()).select_columns(
        list(columns)
    )


def source_rows(plan: FoldPlan | None, sources: Sources, source: str) -> tuple[np.ndarray, int]:
    """Row positions of ``source`` trainable in ``plan`` (``None``: the final model, everything), and how many rows
    the fold removed (held-out subjects' clips or MiE-X samples derived from them)."""
    if source == "miex":
        assert sources.miex is not None
        total = len(sources.miex)
        if plan is None:
            return np.arange(total), 0
        kept = trainable_synthetic(plan.exclusion_fold(), sources.miex)
        return kept, total - len(kept)
    corpus = sources.real if source == "real" else sources.extra[source]
    total = len(corpus.subjects)
    if plan is None:
        return np.arange(total), 0
    if source == "real":
        mask = subject_mask(corpus.subjects, plan.train_subjects)
    else:
        mask = ~subject_mask(corpus.subjects, plan.held_out)
    return np.flatnonzero(mask), int(total - mask.sum())


def training_set(
    plan: FoldPlan | None, sources: Sources, names: Sequence[str]
) -> tuple[datasets.Dataset, dict[str, dict[str, int]]]:
    """The stage's training rows (``onset``, ``apex``, ``label``) and per-source counts (used / removed)."""
    parts, counts = [], {}
    for name in names:
        rows, removed = source_rows(plan, sources, name)
        counts[name] = {"used": len(rows), "removed": removed}
        if len(rows):
            corpus = sources.real if name == "real" else sources.extra.get(name)
            dataset = sources.miex if name == "miex" else corpus.dataset
            parts.append(_frames(dataset, rows, sources.columns))
    if not parts:
        where = plan.name if plan else "final model"
        raise MiexInputError(f"{where}: stage sources {list(names)} leave no training samples", field="stages")
    features = parts[0].features
    parts = [p if p.features == features else p.cast(features) for p in parts]
    return datasets.concatenate_datasets(parts), counts


def real_rows(sources: Sources, subjects: Iterable[Subject]) -> datasets.Dataset:
    """The real clips of ``subjects`` with every column (test and validation sets)."""
    rows = np.flatnonzero(subject_mask(sources.real.subjects, subjects))
    return sources.real.dataset.select(rows.tolist())
