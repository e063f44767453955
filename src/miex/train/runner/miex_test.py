"""A MiE-X folder as the corpus a recipe tests on: the data-free run (``miex train --recipe miex_heldout_samples``).

Without a licensed corpus, the only labelled data is MiE-X itself, so ``data.real.clips`` may name a MiE-X folder.
Each sample becomes a "clip" of dataset ``miex`` whose subject is its held-out unit (``data.real.held_out``: its
identity, or its AU draw; :mod:`miex.train.protocols.heldout`), and the protocols, folds, flow tensors, results and
card then work unchanged. MiE-X frames are the generator's aligned crops and are used as they are.

Such a score is reported with what it means (:func:`note`; results.json ``evaluation`` and the protocol description
say it too): held-out synthetic samples of the same generator show that the pipeline learns; they are not a
micro-expression recognition result on real data.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from miex.core.errors import MiexInputError
from miex.data.corpora.clips import FRAMES
from miex.train.aligned_clips import AlignmentSettings
from miex.train.data import FRAME_COLUMNS, SEQUENCE_COLUMNS, load_miex
from miex.train.protocols.heldout import unit_table
from miex.train.runner.specs import RealSpec

if TYPE_CHECKING:
    from miex.train.runner.checks import Plan
    from miex.train.runner.sources import Corpus

logger = logging.getLogger(__name__)

UNIT_NAMES = {"identity": ("identity", "identities"), "au_draw": ("AU draw", "AU draws")}


def is_miex_folder(spec: RealSpec) -> bool:
    """Clip tables are files; a folder in ``clips`` is a MiE-X folder."""
    return spec.clips.is_dir()


def _refuse_clip_options(spec: RealSpec, where: str) -> None:
    """Options that select or align a clip table's frames mean nothing for MiE-X: refused rather than ignored."""
    for key, set_to in (
        ("labels", spec.labels is not None),
        ("datasets", spec.datasets is not None),
        ("frames", spec.frames != "annotated"),
        ("alignment", spec.alignment != AlignmentSettings()),
    ):
        if set_to:
            raise MiexInputError(
                f"{key} applies to clip tables; {spec.clips} is a MiE-X folder (3 classes, "
                "aligned crops, one onset and apex per sample): remove it",
                field=f"{where}.{key}",
            )


def miex_corpus(spec: RealSpec, name: str, sequence: int = 0) -> Corpus:
    """The samples of the MiE-X folder ``spec.clips`` as a corpus whose subjects are the ``spec.held_out`` units."""
    from miex.train.runner.sources import Corpus

    where = f"data.{name}" if name == "real" else f"data.extra.{name}"
    _refuse_clip_options(spec, where)
    dataset = load_miex(spec.clips)
    columns = SEQUENCE_COLUMNS if sequence else FRAME_COLUMNS
    missing = [column for column in columns if column not in dataset.column_names]
    if missing:
        raise MiexInputError(
            f"this recognizer reads {list(columns)}; the MiE-X folder lacks {missing} (a video "
            "recognizer needs `miex synthesize --video`)",
            file=spec.clips,
            field=where,
        )
    identities = len(set(dataset["identity"])) if "identity" in dataset.column_names else None
    if spec.held_out == "identity" and identities is not None and identities < 2:
        raise MiexInputError(
            f"held_out: identity needs several identities, and this MiE-X shows {identities} (the "
            "embedded default's one face): set held_out: au_draw to hold out AU draws, or synthesize "
            "from a face pool (miex synthesize --faces pool/)",
            file=spec.clips,
            field=f"{where}.held_out",
        )
    subjects = unit_table(dataset, spec.held_out)
    samples = (
        dataset["sample_id"]
        if "sample_id" in dataset.column_names
        else [f"sample-{row}" for row in range(len(dataset))]
    )
    corpus = (
        dataset.select_columns(list(columns))
        .add_column("dataset", subjects["dataset"].tolist())
        .add_column("subject", subjects["subject"].tolist())
        .add_column("clip", [str(sample) for sample in samples])
    )
    pairs = set(subjects[["dataset", "subject"]].itertuples(index=False, name=None))
    subjects.attrs["identities"] = identities  # for results.json, without reading the folder again
    faces = f", {identities} identit{'y' if identities == 1 else 'ies'}" if spec.held_out == "au_draw" else ""
    logger.info(
        "%s: %d MiE-X samples from %s held out by %s (%d %s%s): a synthetic test set",
        where,
        len(corpus),
        spec.clips,
        UNIT_NAMES[spec.held_out][0],
        len(pairs),
        UNIT_NAMES[spec.held_out][1],
        faces,
    )
    return Corpus(name=name, dataset=corpus, subjects=subjects, table_subjects=pairs, alignment=None, holds=FRAMES)


def evaluation(plan: Plan) -> dict[str, Any] | None:
    """results.json ``evaluation`` when the test corpus is MiE-X (None otherwise): what was held out and what the
    score means."""
    spec = plan.recipe.data.real
    if not is_miex_folder(spec):
        return None
    subjects = plan.sources.real.subjects
    units, identities = subjects["subject"].nunique(), subjects.attrs.get("identities")
    return {
        "test_data": "MiE-X (synthetic)",
        "miex": str(spec.clips),
        "held_out": spec.held_out,
        "held_out_units": int(units),
        "identities": identities,
        "claim": "none: not a result on real data",
        "note": note(spec.held_out, identities),
    }


def note(held_out: str, identities: int | None) -> str:
    """The sentence printed with a MiE-X-tested score."""
    if held_out == "identity":
        faces = "faces never seen in training"
    else:
        faces = "the same face as in training" if identities == 1 else "faces seen in training"
    what = UNIT_NAMES[held_out][1]
    return (
        f"What this score means: the test samples are held-out MiE-X samples (other {what}, {faces}) made by the "
        "same generator as the training samples, so it shows that the pipeline learns; it is not a "
        "micro-expression recognition result on real data."
    )


def annotate(plan: Plan, payload: dict[str, Any]) -> None:
    """A MiE-X-tested run's results (and so its card) say so: ``evaluation``, and a protocol description that names
    what its "subjects" are."""
    info = evaluation(plan)
    if info is None:
        return
    singular, plural = UNIT_NAMES[info["held_out"]]
    count = info["identities"]
    seen = ""
    if info["held_out"] == "au_draw" and count is not None:
        seen = f"; {count} identit{'y' if count == 1 else 'ies'}, seen in training"
    meaning = (
        "MiE-X samples of the generator that made the training samples: the score shows that the pipeline "
        "learns, it is not a result on real data"
    )
    protocol = payload["protocol"]
    protocol["description"] = (
        f"a held-out synthetic evaluation ({meaning}): {protocol['description']}, each subject "
        f"being one {singular} ({info['held_out_units']} {plural}, never split between "
        f"training and test{seen})"
    )
    payload["evaluation"] = info


def explain(payload: dict[str, Any]) -> None:
    """Log the meaning of a MiE-X-tested score right after the score."""
    info = payload.get("evaluation")
    if info:
        logger.info("%s", info["note"])
