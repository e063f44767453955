"""Claims from facts: what a run did (:class:`Ran`, read from results.json) against the setup a published figure
came from (a recipe's ``reproduces`` section, :class:`~.specs.ReproducesSpec`).

A run reproduces a published figure only when every fact of the published setup that is known matches what the run
did; each fact that differs becomes one clause of the card ("it tested 12 clips of 3 subjects where the paper tested
442 clips of 68 subjects"). A fact the publication does not state is not compared (and is named as unpublished),
and a published fact the run could not measure (the identities or AU sources of a MiE-X without that column) counts
as a difference: it cannot be shown to match. results.json is read as the runner writes it: one that lacks a fact
came from another miex version and is refused (:func:`recorded`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from miex.core.errors import MiexInputError
from miex.train.runner.specs import PublishedCount, Recipe, ReproducesSpec
from miex.train.runner.titles import dataset_title, listed, method_title, plural, titles

INPUT_VERBS = {
    "frames": "computed its inputs from the clips' frames",
    "flow-images": "read the shared composite flow images",
}
"""What a model read, for ``input``: the corpus's video frames, or the composite flow images the field shares."""
INPUT_NOUNS = {"frames": "inputs computed from the clips' frames", "flow-images": "the shared composite flow images"}


@dataclass(frozen=True)
class Count:
    """Clips and subjects tested in one dataset."""

    clips: int
    subjects: int


@dataclass(frozen=True)
class Stage:
    name: str
    sources: tuple[str, ...]
    epochs: int


RESULTS_FILE = "results.json"


def recorded(entry: Mapping[str, Any], key: str, where: str = "") -> Any:
    """``entry[key]`` of results.json (``where``: the path to ``entry``, for the message). The runner writes every
    fact a card states, so a file without one came from another miex version: refused, never described by guesses."""
    if key not in entry:
        raise MiexInputError(
            "missing: written by another miex version; re-run `miex train` to record it",
            file=RESULTS_FILE,
            field=f"{where}{key}",
        )
    return entry[key]


@dataclass(frozen=True)
class Ran:
    """The facts of one run that a published setup can state, read from results.json as :mod:`.facts` and
    :mod:`.report` write them."""

    datasets: tuple[str, ...]
    tested: dict[str, Count]
    protocol: str
    folds: int
    folds_defined: int
    label_names: tuple[str, ...]
    input: str
    stages: tuple[Stage, ...]
    backbone: str | None
    seeds: tuple[int, ...]
    miex: Mapping[str, Any] | None
    """samples, identities (None: the MiE-X has no ``identity`` column), sources (name -> samples; None: no
    ``source`` column) of the MiE-X trained on; None when no stage trained on one."""
    magnified: bool
    validation: float

    @classmethod
    def of(cls, results: Mapping[str, Any]) -> Ran:
        """The facts of ``results`` (results.json); :class:`MiexInputError` naming the first one it lacks."""
        datasets = tuple(part for part in recorded(results, "last_epoch") if part not in ("note", "all"))
        tested = recorded(results, "tested")
        protocol = recorded(results, "protocol")
        initialisation = recorded(results, "initialisation")
        return cls(
            datasets=datasets,
            tested={d: _count(recorded(tested, d, "tested."), f"tested.{d}.") for d in datasets},
            protocol=recorded(protocol, "short", "protocol."),
            folds=int(recorded(protocol, "folds", "protocol.")),
            folds_defined=int(recorded(protocol, "folds_defined", "protocol.")),
            label_names=tuple(recorded(results, "label_names")),
            input=recorded(results, "real_input"),
            stages=tuple(_stage(entry, f"stages[{i}].") for i, entry in enumerate(recorded(results, "stages"))),
            backbone=recorded(initialisation, "backbone", "initialisation."),
            seeds=tuple(recorded(results, "seeds")),
            miex=_miex_of(recorded(results, "miex")),
            magnified=bool(recorded(results, "inputs").get("magnify")),  # written only when magnification was on
            validation=float(recorded(protocol, "validation_fraction", "protocol.")),
        )


def _count(entry: Mapping[str, Any], where: str) -> Count:
    return Count(int(recorded(entry, "clips", where)), int(recorded(entry, "subjects", where)))


def _miex_of(entry: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """results.json ``miex``, its ``samples``, ``identities`` and ``sources`` present (None: no MiE-X trained on)."""
    for key in ("samples", "identities", "sources") if entry is not None else ():
        recorded(entry, key, "miex.")
    return entry


def _stage(entry: Mapping[str, Any], where: str) -> Stage:
    """A stage's name, sources and epochs in all, from its results.json ``stages`` entry."""
    sources = tuple(recorded(entry, "train", where))
    return Stage(recorded(entry, "name", where), sources, int(recorded(entry, "total_epochs", where)))


# --------------------------------------------------------------------------------------------------------------
# wording


def count_text(count: Count | PublishedCount) -> str:
    """``442 clips of 68 subjects``; ``72 clips`` when the subjects are unknown."""
    clips = "an unknown number of clips" if count.clips is None else plural(count.clips, "clip")
    return f"{clips} of {plural(count.subjects, 'subject')}" if count.subjects is not None else clips


def tested_text(counts: Mapping[str, Count | PublishedCount]) -> str:
    """The total, then each dataset when there are several: ``442 clips of 68 subjects (CASME II 145 of 24, ...)``
    (a publication may state clips without subjects)."""
    parts = list(counts.values())
    clips = None if any(p.clips is None for p in parts) else sum(p.clips for p in parts)  # type: ignore[misc]
    subjects = None if any(p.subjects is None for p in parts) else sum(p.subjects for p in parts)  # type: ignore[misc]
    text = count_text(PublishedCount(clips=clips, subjects=subjects))
    if len(counts) == 1:
        return text
    each = ", ".join(
        f"{dataset_title(d)} {'?' if c.clips is None else f'{c.clips:,}'}"
        + (f" of {c.subjects:,}" if c.subjects is not None else "")
        for d, c in counts.items()
    )
    return f"{text} ({each})"


def source_name(source: str) -> str:
    return {"real": "the test corpus's training subjects", "miex": "MiE-X"}.get(source, dataset_title(source))


def stages_text(stages: tuple[tuple[str, ...], ...]) -> str:
    """``MiE-X, then the test corpus's training subjects``."""
    return ", then ".join(" + ".join(source_name(s) for s in sources) for sources in stages)


def miex_text(samples: int | None, identities: int | None, sources: Any) -> str:
    """``45,000 samples of 5,000 identities, AU sources mie, mae and expert`` (unknown parts left out)."""
    size = plural(samples, "sample") if samples is not None else "samples"
    size += f" of {plural(identities, 'identity', 'identities')}" if identities else ""
    if sources:
        size += f", AU sources {listed(list(sources))}"
    return size


def published_setup(paper: ReproducesSpec) -> str:
    """The published setup in words (unpublished facts left out)."""
    parts = [
        f"tested on {titles(paper.datasets)}" + (f", {tested_text(paper.tested)}" if paper.tested else ""),
        paper.protocol,
    ]
    if paper.classes:
        parts.append(f"{paper.classes} classes")
    if paper.input:
        parts.append(INPUT_NOUNS[paper.input])
    if paper.stages:
        parts.append(f"trained on {stages_text(paper.stages)}")
    if paper.pretrain_epochs:
        parts.append(f"{plural(paper.pretrain_epochs, 'epoch')} per pre-training stage")
    if paper.epochs:
        parts.append(plural(paper.epochs, "epoch") + (" in the last stage" if paper.pretrain_epochs else ""))
    if paper.initialisation:
        parts.append("ImageNet initialisation" if paper.initialisation == "imagenet" else "random initialisation")
    if paper.runs:
        parts.append(f"mean of {plural(paper.runs, 'run')}")
    if paper.miex:
        parts.append(f"MiE-X of {miex_text(paper.miex.samples, paper.miex.identities, paper.miex.sources)}")
    parts.append("motion-magnified inputs" if paper.magnified else "no motion magnification")
    parts.append("a validation split" if paper.validation else "no validation split")
    return "; ".join(parts)


def unpublished(paper: ReproducesSpec) -> list[str]:
    """The facts a card could compare that this publication does not state."""
    missing = {
        "clips and subjects tested": not paper.tested,
        "classes": paper.classes is None,
        "input": paper.input is None,
        "training stages": paper.stages is None,
        "epochs": paper.epochs is None,
        "initialisation": paper.initialisation is None,
        "number of runs": paper.runs is None,
        "pre-training epochs": len(paper.stages or ()) > 1 and paper.pretrain_epochs is None,
    }
    uses_miex = paper.miex is not None or any("miex" in stage for stage in paper.stages or ())
    if uses_miex and (paper.miex is None or paper.miex.samples is None or paper.miex.sources is None):
        missing["MiE-X size and sources"] = True
    return [name for name, absent in missing.items() if absent]


# --------------------------------------------------------------------------------------------------------------
# comparison: one function per fact, each returning the clauses that name a difference


def _datasets(paper: ReproducesSpec, ran: Ran) -> list[str]:
    if set(ran.datasets) == set(paper.datasets):
        return []
    return [f"it was tested on {titles(ran.datasets)} instead of {titles(paper.datasets)}"]


def _tested(paper: ReproducesSpec, ran: Ran) -> list[str]:
    if not paper.tested:
        return []
    for dataset, published in paper.tested.items():
        mine = ran.tested.get(dataset, Count(0, 0))
        if (published.clips is not None and mine.clips != published.clips) or (
            published.subjects is not None and mine.subjects != published.subjects
        ):
            break
    else:
        return []
    return [f"it tested {tested_text(ran.tested)} where the paper tested {tested_text(paper.tested)}"]


def _protocol(paper: ReproducesSpec, ran: Ran) -> list[str]:
    return [] if ran.protocol == paper.protocol else [f"its protocol is {ran.protocol} instead of {paper.protocol}"]


def _folds(paper: ReproducesSpec, ran: Ran) -> list[str]:
    if ran.folds >= ran.folds_defined:
        return []
    return [f"it ran {ran.folds} of the protocol's {ran.folds_defined} folds (protocol.max_folds)"]


def _classes(paper: ReproducesSpec, ran: Ran) -> list[str]:
    if paper.classes is None or len(ran.label_names) == paper.classes:
        return []
    return [
        f"it told {len(ran.label_names)} classes apart ({', '.join(ran.label_names)}) where the paper told "
        f"{paper.classes}"
    ]


def _validation(paper: ReproducesSpec, ran: Ran) -> list[str]:
    if bool(ran.validation) == paper.validation:
        return []
    if ran.validation:
        return [
            f"it held {ran.validation:g} of each fold's training subjects out for validation where the paper "
            "trained on all of them"
        ]
    return ["it carved no validation split from the training subjects where the paper did"]


def _input(paper: ReproducesSpec, ran: Ran) -> list[str]:
    if paper.input is None or ran.input == paper.input:
        return []
    return [f"it {INPUT_VERBS.get(ran.input, ran.input)} where the published model {INPUT_VERBS[paper.input]}"]


def _stages(paper: ReproducesSpec, ran: Ran) -> list[str]:
    mine = tuple(stage.sources for stage in ran.stages)
    if paper.stages is None or [set(s) for s in mine] == [set(s) for s in paper.stages]:
        return []
    return [f"it trained on {stages_text(mine)} where the paper trained on {stages_text(paper.stages)}"]


def _epochs(paper: ReproducesSpec, ran: Ran) -> list[str]:
    clauses = []
    last = ran.stages[-1]
    if paper.epochs is not None and last.epochs != paper.epochs:
        which = "it" if len(ran.stages) == 1 else f"its last stage ({last.name})"
        clauses.append(f"{which} trained {plural(last.epochs, 'epoch')} where the paper trained {paper.epochs}")
    if paper.pretrain_epochs is not None:
        if len(ran.stages) == 1:
            clauses.append(f"it has no pre-training stage where the paper pre-trained {paper.pretrain_epochs} epochs")
        for stage in ran.stages[:-1]:
            if stage.epochs != paper.pretrain_epochs:
                clauses.append(
                    f"its {stage.name} stage trained {plural(stage.epochs, 'epoch')} where the paper "
                    f"pre-trained {paper.pretrain_epochs}"
                )
    return clauses


def _initialisation(paper: ReproducesSpec, ran: Ran) -> list[str]:
    if paper.initialisation == "imagenet" and ran.backbone is None:
        return ["its backbone was randomly initialised where the paper used ImageNet weights"]
    if paper.initialisation == "random" and ran.backbone is not None:
        return [f"its encoders started from `{ran.backbone}` where the paper's started from random weights"]
    return []


def _runs(paper: ReproducesSpec, ran: Ran) -> list[str]:
    if paper.runs is None or len(ran.seeds) == paper.runs:
        return []
    seeds = ", ".join(map(str, ran.seeds))
    return [
        f"it averaged {plural(len(ran.seeds), 'run')} (seed{'s' if len(ran.seeds) > 1 else ''} {seeds}) where "
        f"the paper averaged {paper.runs}"
    ]


def _miex(paper: ReproducesSpec, ran: Ran) -> list[str]:
    published = paper.miex
    if published is None:
        return []
    if ran.miex is None:
        return ["it trained on no MiE-X where the paper did"]
    samples, identities, sources = ran.miex["samples"], ran.miex["identities"], ran.miex["sources"]
    clauses = []
    size_differs = (published.samples is not None and samples != published.samples) or (
        published.identities is not None and identities != published.identities
    )
    if size_differs:
        mine = miex_text(samples, identities, None)
        if published.identities is not None and identities is None:
            mine += " (identities not recorded: no `identity` column)"
        clauses.append(
            f"its MiE-X held {mine} where the paper's held {miex_text(published.samples, published.identities, None)}"
        )
    if published.sources is not None:
        used = [name for name, n in (sources or {}).items() if n]
        if sources is None:
            clauses.append("results.json does not record its MiE-X's AU sources (no `source` column)")
        elif set(used) != set(published.sources):
            clauses.append(
                f"its MiE-X drew on AU sources {listed(used)} where the paper's drew on "
                f"{listed(list(published.sources))}"
            )
    return clauses


def _magnified(paper: ReproducesSpec, ran: Ran) -> list[str]:
    if ran.magnified == paper.magnified:
        return []
    return [
        "its inputs were motion-magnified where the paper's were not"
        if ran.magnified
        else "its inputs were not motion-magnified where the paper's were"
    ]


CHECKS: tuple[Callable[[ReproducesSpec, Ran], list[str]], ...] = (
    _datasets,
    _tested,
    _protocol,
    _folds,
    _classes,
    _validation,
    _input,
    _stages,
    _epochs,
    _initialisation,
    _runs,
    _miex,
    _magnified,
)
"""Every fact compared, in the order the card names differences."""


def differences(paper: ReproducesSpec, ran: Ran) -> list[str]:
    """One clause per fact of the published setup that this run does not match (empty: it matches them all)."""
    return [clause for check in CHECKS for clause in check(paper, ran)]


def attribution(recipe: Recipe) -> str:
    """Who produced the published figure: the recipe's ``method``, else its model family and that family's paper."""
    paper = recipe.reproduces
    return paper.method if paper is not None and paper.method else method_title(recipe.model.name)
