"""Native emotion names -> the 3-class MEGC2019 label space (docs/reference.md §Corpora).

negative = repression, anger, contempt, disgust, fear, sadness; positive = happiness; surprise = surprise.
Emotions that are known but have no 3-class counterpart (others, tense, neutral) get :data:`NO_LABEL` and stay in the
clip table; a name that is not known at all is a validation problem, never a guess.
"""

from __future__ import annotations

from miex.data.aus.schema import LABEL_NAMES, NO_LABEL

NEGATIVE, POSITIVE, SURPRISE = 0, 1, 2

# canonical emotion name -> 3-class label
EMOTION_LABELS: dict[str, int] = {
    "repression": NEGATIVE,
    "anger": NEGATIVE,
    "contempt": NEGATIVE,
    "disgust": NEGATIVE,
    "fear": NEGATIVE,
    "sadness": NEGATIVE,
    "happiness": POSITIVE,
    "surprise": SURPRISE,
    # known emotions that the 3-class merge drops
    "others": NO_LABEL,
    "tense": NO_LABEL,
    "neutral": NO_LABEL,
    # already-merged names (SMIC folders, MEGC ground truth)
    "negative": NEGATIVE,
    "positive": POSITIVE,
}

# spellings found in the corpora's sheets and folders -> canonical name
EMOTION_SYNONYMS: dict[str, str] = {
    "happy": "happiness",
    "happiness": "happiness",
    "sad": "sadness",
    "sadness": "sadness",
    "angry": "anger",
    "anger": "anger",
    "disgusted": "disgust",
    "disgust": "disgust",
    "fearful": "fear",
    "fear": "fear",
    "surprised": "surprise",
    "surprise": "surprise",
    "contempt": "contempt",
    "repression": "repression",
    "other": "others",
    "others": "others",
    "tense": "tense",
    "neutral": "neutral",
    "negative": "negative",
    "positive": "positive",
    "ne": "negative",
    "po": "positive",
    "sur": "surprise",
}


def canonical_emotion(name: str) -> str | None:
    """Return the canonical emotion for a native spelling (case and spaces ignored), or None if unknown."""
    return EMOTION_SYNONYMS.get(str(name).strip().lower())


def emotion_to_label(name: str) -> int | None:
    """3-class label of a native emotion name; :data:`NO_LABEL` for known-but-dropped; None when unknown."""
    canonical = canonical_emotion(name)
    return None if canonical is None else EMOTION_LABELS[canonical]


def label_name(label: int) -> str:
    return "none" if label == NO_LABEL else LABEL_NAMES[label]


__all__ = [
    "EMOTION_LABELS",
    "EMOTION_SYNONYMS",
    "LABEL_NAMES",
    "NEGATIVE",
    "NO_LABEL",
    "POSITIVE",
    "SURPRISE",
    "canonical_emotion",
    "emotion_to_label",
    "label_name",
]
