"""What a run writes: MEGC-format prediction logs, the results JSON, a confusion-matrix plot and training curves.

Scores follow docs/reference.md §Protocols and metrics exactly: for each seed, the out-of-fold predictions of ALL test
folds are pooled into one confusion matrix (TP/FP/FN summed over folds first) and UF1/UAR computed from it; the
per-dataset parts of a composite come from the same pooled predictions restricted to that dataset
(:func:`miex.train.metrics.per_dataset`). The mean and the sample standard deviation (ddof 1; 0 for a single seed) are
then taken over seeds. The mean of per-fold scores is stored too, labelled as NOT the protocol's metric.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from miex.core.fileio import atomic_path
from miex.train.metrics import per_dataset, per_fold_mean

if TYPE_CHECKING:
    from matplotlib.figure import Figure

RESULTS_FORMAT = "miex.results/1"
METRIC_NOTE = (
    "UF1/UAR from one confusion matrix of all out-of-fold test predictions (TP/FP/FN summed over folds first; "
    "docs/reference.md §Protocols and metrics), per-dataset parts from the same pooled predictions; "
    "mean and sample std (ddof=1) over seeds"
)
LAST_NOTE = "weights after the LAST epoch of the last stage (no epoch is chosen on test data)"
BEST_NOTE = (
    "weights of the epoch with the best UF1 on a VALIDATION split carved from each fold's training subjects "
    "(never on test data); for reference only"
)


@dataclass
class FoldResult:
    """Out-of-fold predictions of one fold and seed, plus what was trained on and the training curves."""

    seed: int
    fold: str
    test_subjects: list[tuple[str, str]]
    datasets: list[str]
    subjects: list[str]
    clips: list[str]
    truth: np.ndarray
    last: np.ndarray
    best: np.ndarray | None = None
    best_epoch: float | None = None
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, seed: int, fold: Any, tested: Any, truth: np.ndarray, last: np.ndarray, **rest: Any) -> FoldResult:
        """The result of ``fold`` (a named protocol fold) whose test rows are ``tested`` (a table with dataset,
        subject and clip columns, in prediction order); ``rest``: best, best_epoch, counts, history."""
        columns = {name: [str(v) for v in tested[name]] for name in ("dataset", "subject", "clip")}
        return cls(
            seed=seed,
            fold=fold.name,
            test_subjects=list(fold.fold.test_subjects),
            datasets=columns["dataset"],
            subjects=columns["subject"],
            clips=columns["clip"],
            truth=truth,
            last=last,
            **rest,
        )


def _pooled(results: Sequence[FoldResult], which: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    predictions = np.concatenate([getattr(r, which) for r in results])
    truth = np.concatenate([r.truth for r in results])
    names = [d for r in results for d in r.datasets]
    return predictions, truth, names


def seed_scores(results: Sequence[FoldResult], num_classes: int, absent: str, which: str = "last") -> dict[str, Any]:
    """Per-dataset pooled scores (``all`` + each dataset) of one seed's folds, with accuracy added."""
    predictions, truth, names = _pooled(results, which)
    scores = per_dataset(predictions, truth, names, num_classes, absent=absent)
    for part in scores.values():
        matrix = np.asarray(part["confusion_matrix"])
        part["accuracy"] = float(np.trace(matrix) / matrix.sum()) if matrix.sum() else 0.0
        part["num_samples"] = int(matrix.sum())
    return scores


def spread(values: Iterable[float]) -> dict[str, Any]:
    runs = [float(v) for v in values]
    std = float(np.std(runs, ddof=1)) if len(runs) > 1 else 0.0
    return {"mean": float(np.mean(runs)), "std": std, "runs": runs}


def _over_seeds(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    summary = {}
    for part in per_seed[0]:
        rows = [scores[part] for scores in per_seed]
        summary[part] = {metric: spread(r[metric] for r in rows) for metric in ("uf1", "uar", "accuracy")}
        summary[part]["num_samples"] = rows[0]["num_samples"]
    return summary


def summarize(
    results: Sequence[FoldResult], seeds: Sequence[int], label_names: Sequence[str], absent: str
) -> dict[str, Any]:
    """The ``last_epoch`` (and, with validation, ``best_on_validation``) summaries plus per-seed details."""
    num_classes = len(label_names)
    runs, last, best = [], [], []
    for seed in seeds:
        folds = [r for r in results if r.seed == seed]
        scores = seed_scores(folds, num_classes, absent, "last")
        last.append(scores)
        run: dict[str, Any] = {
            "seed": seed,
            "last_epoch": scores,
            "per_fold_mean_NOT_the_protocol_metric": per_fold_mean(
                [(r.last, r.truth) for r in folds], num_classes, absent=absent
            ),
            "folds": [_fold_entry(r) for r in folds],
        }
        if all(r.best is not None for r in folds):
            run["best_on_validation"] = seed_scores(folds, num_classes, absent, "best")
            best.append(run["best_on_validation"])
        runs.append(run)
    summary: dict[str, Any] = {
        "metric": METRIC_NOTE,
        "absent_classes": absent,
        "last_epoch": {"note": LAST_NOTE, **_over_seeds(last)},
        "best_on_validation": {"note": BEST_NOTE, **_over_seeds(best)} if best else None,
        "runs": runs,
    }
    return summary


def _fold_entry(result: FoldResult) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": result.fold, "test_samples": len(result.truth), "train_counts": result.counts}
    if result.best is not None:
        entry["best_validation_epoch"] = result.best_epoch
    return entry


def pooled_confusion(results: Sequence[FoldResult], num_classes: int) -> np.ndarray:
    """Confusion matrix (rows truth, columns prediction) of the last-epoch predictions, summed over folds and seeds."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for r in results:
        np.add.at(matrix, (r.truth.astype(np.int64), r.last.astype(np.int64)), 1)
    return matrix


def megc_log(results: Sequence[FoldResult]) -> str:
    """MEGC2019 submission format (docs/reference.md §Protocols and metrics): per test subject a header
    ``<dataset> <subject>``, then one line ``<clip> <truth> <prediction>`` per clip (class ids), folds in protocol
    order."""
    lines = []
    for r in results:
        for dataset, subject in r.test_subjects:
            pairs = zip(r.datasets, r.subjects, strict=True)
            rows = [i for i, pair in enumerate(pairs) if pair == (dataset, subject)]
            if not rows:
                continue
            lines.append(f"{dataset} {subject}")
            lines += [f"{r.clips[i]} {int(r.truth[i])} {int(r.last[i])}" for i in rows]
    return "\n".join(lines) + "\n"


def predictions_csv(results: Sequence[FoldResult], label_names: Sequence[str]) -> str:
    header = "fold,dataset,subject,clip,truth,prediction,truth_name,prediction_name" + (
        ",prediction_best_on_validation" if results and results[0].best is not None else ""
    )
    lines = [header]
    for r in results:
        for i in range(len(r.truth)):
            row = [
                r.fold,
                r.datasets[i],
                r.subjects[i],
                r.clips[i],
                str(int(r.truth[i])),
                str(int(r.last[i])),
                label_names[int(r.truth[i])],
                label_names[int(r.last[i])],
            ]
            if r.best is not None:
                row.append(str(int(r.best[i])))
            lines.append(",".join(_csv_cell(v) for v in row))
    return "\n".join(lines) + "\n"


def _csv_cell(value: str) -> str:
    return f'"{value.replace(chr(34), chr(34) * 2)}"' if any(c in value for c in ',"\n') else value


def write_json(path: Path, payload: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:  # a killed run never leaves a half-written results.json
        temporary.write_text(
            json.dumps(payload, indent=1, sort_keys=True, default=_json_default) + "\n", encoding="utf-8"
        )
    return path


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --------------------------------------------------------------------------------------------------------------
# plots (matplotlib's object API: no global pyplot state, no display needed)


def plot_confusion(matrix: np.ndarray, label_names: Sequence[str], path: Path, title: str) -> Path:
    from matplotlib.figure import Figure

    size = 1.2 + 0.9 * len(label_names)
    figure = Figure(figsize=(size + 1.2, size))
    axes = figure.add_subplot()
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    image = axes.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if share[row, column] > 0.6 else "black"
        axes.text(column, row, f"{count}\n{share[row, column]:.0%}", ha="center", va="center", color=colour, fontsize=8)
    ticks = range(len(label_names))
    axes.set_xticks(ticks, labels=list(label_names), rotation=30, ha="right")
    axes.set_yticks(ticks, labels=list(label_names))
    axes.set_xlabel("prediction")
    axes.set_ylabel("truth")
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true class")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path


def curve_points(history: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [(float(h["epoch"]), float(h[key])) for h in history if key in h and "epoch" in h]
    return [p[0] for p in points], [p[1] for p in points]


CURVES: tuple[tuple[str, str, str, str], ...] = (
    ("loss", "train loss", "-", "."),
    ("eval_loss", "validation loss", "--", "x"),
    ("eval_uf1", "validation UF1", ":", "^"),
)
"""Trainer log keys drawn per stage: key, legend text, line style, marker (``eval_uf1`` on the right axis)."""
LABELLED_RUNS = 8
"""Up to this many seed x fold runs get a legend entry each; beyond, one entry for all of them and their mean."""


def run_label(result: FoldResult, results: Sequence[FoldResult]) -> str:
    """``fold0`` (one seed) or ``seed 1 fold0``: what a line of the curves belongs to."""
    return result.fold if len({r.seed for r in results}) == 1 else f"seed {result.seed} {result.fold}"


def curves_figure(results: Sequence[FoldResult], stages: Sequence[str]) -> Figure:
    """Per stage: training loss per epoch of every seed x fold, validation loss (dashed) and validation UF1 (dotted,
    right axis) where a validation split exists. Every line is in the legend (per run up to :data:`LABELLED_RUNS`
    runs, else one entry per kind plus the bold mean of the training loss)."""
    from matplotlib.figure import Figure

    labelled = len(results) <= LABELLED_RUNS
    figure = Figure(figsize=(5.6 * len(stages), 4.2))
    for index, stage in enumerate(stages):
        axes = figure.add_subplot(1, len(stages), index + 1)
        twin = None
        train_curves = []
        for number, result in enumerate(results):
            history = result.history.get(stage, [])
            name = run_label(result, results) if labelled else "each run"
            first = labelled or number == 0  # beyond LABELLED_RUNS, one legend entry stands for every run
            colour = f"C{number % 10}" if labelled else "tab:blue"
            style = {"color": colour, "linewidth": 1.2 if labelled else 0.6, "alpha": 1.0 if labelled else 0.3}
            for key, kind, linestyle, marker in CURVES:
                epochs, values = curve_points(history, key)
                if not epochs:
                    continue
                if key == "loss":
                    train_curves.append((epochs, values))
                if key == "eval_uf1":
                    twin = twin or axes.twinx()
                target = twin if key == "eval_uf1" else axes
                target.plot(
                    epochs,
                    values,
                    linestyle=linestyle,
                    marker=marker,
                    label=f"{kind}, {name}" if first else "_nolegend_",
                    **style,
                )
        lengths = {len(e) for e, _ in train_curves}
        if not labelled and len(lengths) == 1:
            axes.plot(
                train_curves[0][0],
                np.mean([c for _, c in train_curves], axis=0),
                color="tab:blue",
                linewidth=2,
                marker="o",
                label=f"train loss, mean of {len(train_curves)} runs",
            )
        axes.set_title(f"stage {stage!r}", fontsize=9)
        axes.set_xlabel("epoch")
        axes.set_ylabel("loss")
        handles, labels = axes.get_legend_handles_labels()
        if twin is not None:
            twin.set_ylabel("validation UF1")
            twin.set_ylim(0, 1)
            more = twin.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        if handles:
            axes.legend(handles, labels, fontsize=6, loc="upper right")
    figure.tight_layout()
    return figure


def plot_curves(results: Sequence[FoldResult], stages: Sequence[str], path: Path) -> Path:
    """:func:`curves_figure`, saved as a PNG."""
    figure = curves_figure(results, stages)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    return path
