"""Expert-knowledge AU source (docs/reference.md §AU sources): Bernoulli activation from an emotion->AU table, zero
onset."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from os import PathLike
from pathlib import Path

import numpy as np
from tqdm import tqdm

from miex.core.errors import MiexInputError
from miex.core.progress import PROGRESS_DELAY_S
from miex.data.aus.schema import AU_INDEX, NUM_AUS
from miex.data.corpora.labels import NEGATIVE, POSITIVE, SURPRISE
from miex.data.sources.triplet import VIDEO_FRAMES, Triplet

# docs/reference.md §AU sources: positive -> Happiness; surprise -> Surprise; negative -> one of five, uniformly.
CLASS_EMOTIONS: dict[int, tuple[str, ...]] = {
    NEGATIVE: ("sadness", "fear", "anger", "disgust", "contempt"),
    POSITIVE: ("happiness",),
    SURPRISE: ("surprise",),
}
MICRO_INTENSITY: tuple[float, float] = (0.5, 1.5)
"""Default apex intensity range on the 0 to 5 scale (docs/reference.md §AU sources)."""
MACRO_INTENSITY: tuple[float, float] = (1.5, 4.0)
"""Macro-expression control preset (docs/reference.md §AU sources)."""
EMPTY_DRAW_RULES = ("redraw", "keep")
MAX_REDRAWS = 1000
MAX_PER_CLASS = 100_000
"""Most expert draws per class one pool may hold (300,000 triplets, about 12 s and 0.8 GB): the paper's scaling
study used 4k to 30k triplets in all; a larger count is a typo, not a dataset (docs/reference.md §AU sources)."""

ExpertTable = dict[str, dict[str, float]]


def default_table_path() -> Path:
    return Path(str(resources.files(__package__) / "expert_table.json"))


def load_expert_table(path: str | PathLike[str] | None = None) -> ExpertTable:
    """Read and validate an emotion->{AU: probability} JSON table; unknown names are errors naming the entry."""
    path = default_table_path() if path is None else Path(path)
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise MiexInputError(f"cannot read expert table: {error}", file=path) from error
    if not isinstance(raw, dict):
        raise MiexInputError("expert table must be a JSON object {emotion: {AU: probability}}", file=path)
    known = {e for names in CLASS_EMOTIONS.values() for e in names}
    table: ExpertTable = {}
    for emotion, aus in raw.items():
        if emotion.startswith("_"):
            continue  # comments
        key = emotion.strip().lower()
        if key not in known:
            raise MiexInputError(
                f"unknown emotion {emotion!r} (expected one of {sorted(known)})", file=path, field=emotion
            )
        if not isinstance(aus, dict):
            raise MiexInputError("expected {AU: probability}", file=path, field=emotion)
        entry: dict[str, float] = {}
        for au, probability in aus.items():
            if au not in AU_INDEX or au == "AU45":
                raise MiexInputError(
                    f"unknown or unusable AU {au!r} (AU45, blink, is never set)", file=path, field=f"{emotion}.{au}"
                )
            number = isinstance(probability, int | float) and not isinstance(probability, bool)
            if not number or not 0.0 <= float(probability) <= 1.0:
                raise MiexInputError(
                    f"probability {probability!r} is not in [0, 1]", file=path, field=f"{emotion}.{au}"
                )
            entry[au] = float(probability)
        if not any(probability > 0.0 for probability in entry.values()):
            raise MiexInputError(
                f"{emotion!r} activates no AU (every probability is 0): its samples would show no expression; give "
                "at least one of its AUs a probability above 0",
                file=path,
                field=emotion,
            )
        table[key] = entry
    absent = sorted(known - set(table))
    if absent:
        raise MiexInputError(f"expert table lacks emotions {absent}", file=path)
    return table


@dataclass(frozen=True)
class ExpertConfig:
    intensity: tuple[float, float] = MICRO_INTENSITY
    empty_draw: str = "redraw"
    """A Fear draw can activate nothing (all four AUs at p = 0.5): 'redraw' (default) resamples the activation
    mask until at least one AU is on, so every sample shows an expression; 'keep' keeps all-zero apexes."""
    video: bool = False

    def __post_init__(self) -> None:
        low, high = self.intensity
        if not 0.0 <= low <= high <= 5.0:
            raise MiexInputError(f"expert intensity range {self.intensity} must satisfy 0 <= c <= d <= 5")
        if self.empty_draw not in EMPTY_DRAW_RULES:
            raise MiexInputError(f"empty_draw must be one of {EMPTY_DRAW_RULES}, got {self.empty_draw!r}")


def draw_apex(
    emotion: str, table: ExpertTable, config: ExpertConfig, rng: np.random.Generator, *, where: str | None = None
) -> np.ndarray:
    """One apex vector: each AU of ``emotion`` on with its probability, intensity ~ U(c, d).

    With 'redraw', an emotion whose AUs stay off through :data:`MAX_REDRAWS` tries (probabilities of 0 or nearly)
    is an error naming the table (``where``) and the emotion, never a silent all-zero apex."""
    entry = table[emotion]
    indices = np.array([AU_INDEX[au] for au in entry], dtype=np.int64)
    probabilities = np.array(list(entry.values()), dtype=np.float64)
    for _ in range(MAX_REDRAWS):
        active = rng.random(len(indices)) < probabilities
        if active.any() or config.empty_draw == "keep":
            break
    else:
        raise MiexInputError(
            f"{emotion!r} activated no AU in {MAX_REDRAWS} draws: its probabilities are too small to draw an "
            "expression; raise them, or pass --expert-empty keep to keep all-zero apexes",
            file=where or "builtin:expert_table.json",
            field=emotion,
        )
    apex = np.zeros(NUM_AUS, dtype=np.float32)
    low, high = config.intensity
    apex[indices[active]] = rng.uniform(low, high, size=int(active.sum()))
    return apex


def linear_ramp(apex: np.ndarray, frames: int = VIDEO_FRAMES) -> np.ndarray:
    """Video variant of the expert source: linear from the zero vector to the apex (docs/reference.md §AU sources,
    video)."""
    return (np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None] * apex[None, :]).astype(np.float32)


def expert_triplets(
    per_class: int,
    rng: np.random.Generator,
    *,
    table: ExpertTable | None = None,
    config: ExpertConfig | None = None,
    where: str | None = None,
) -> list[Triplet]:
    """``per_class`` triplets for each of the 3 classes, classes in label order (deterministic given ``rng``);
    ``where`` names the table file in errors. At most :data:`MAX_PER_CLASS`; a progress bar after 2 s."""
    check_per_class(per_class)
    table = load_expert_table() if table is None else table
    config = config or ExpertConfig()
    triplets = []
    with tqdm(
        total=per_class * len(CLASS_EMOTIONS), desc="au-pool expert", unit="triplet", delay=PROGRESS_DELAY_S
    ) as bar:
        for label, emotions in CLASS_EMOTIONS.items():
            for _ in range(per_class):
                emotion = emotions[int(rng.integers(len(emotions)))]
                apex = draw_apex(emotion, table, config, rng, where=where)
                triplets.append(
                    Triplet(
                        source="expert",
                        emotion=emotion,
                        label=label,
                        onset_au=np.zeros(NUM_AUS, np.float32),
                        apex_au=apex,
                        frames_au=linear_ramp(apex) if config.video else None,
                    )
                )
                bar.update()
    return triplets


def check_per_class(per_class: int, option: str = "--expert") -> None:
    """Refuse a draw count that is not a whole number in 0..:data:`MAX_PER_CLASS`, naming the option."""
    if isinstance(per_class, bool) or not isinstance(per_class, int | np.integer) or per_class < 0:
        raise MiexInputError(f"{option} must be a whole number >= 0, got {per_class!r}")
    if per_class > MAX_PER_CLASS:
        raise MiexInputError(
            f"{option} {per_class}: at most {MAX_PER_CLASS} draws per class ({3 * MAX_PER_CLASS} triplets; the "
            "paper's largest pool held 30k): ask for fewer"
        )
