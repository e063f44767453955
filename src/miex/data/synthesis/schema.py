"""The MiE-X dataset schema: one row per synthetic sample, every column documented (the card renders this table)."""

from __future__ import annotations

import datasets

from miex.data.aus.schema import LABEL_NAMES, NUM_AUS
from miex.data.sources.triplet import SOURCES, VIDEO_FRAMES

COLUMN_DOCS: dict[str, str] = {
    "onset": "onset frame: the source face animated to `onset_au` (lossless PNG by default)",
    "apex": "apex frame: the SAME source face animated to `apex_au`",
    "frames": f"video config only: {VIDEO_FRAMES} frames from onset to apex, each animated to its row of `frames_au`",
    "label": "3-class MEGC2019 label: 0 negative, 1 positive, 2 surprise",
    "source": "AU source: mie (real micro-expression), mae (early macro-expression), expert (emotion rules)",
    "emotion": "the native emotion the AUs came from (e.g. happiness, disgust, repression)",
    "onset_au": f"{NUM_AUS} AU intensities of the onset frame, OpenFace order AU01..AU45, 0 to 5 scale",
    "apex_au": f"{NUM_AUS} AU intensities of the apex frame, same order and scale",
    "frames_au": f"video config only: {VIDEO_FRAMES} x {NUM_AUS} AU intensities, one row per frame",
    "identity": "identity of the source face (from the face pool)",
    "source_dataset": "corpus the AU triplet came from (empty for expert triplets)",
    "source_subject": "subject of that corpus; the fold filter drops rows of a fold's test subjects",
    "source_clip": "clip of that corpus",
    "generator": "JSON config of the face generator that rendered the frames",
    "sample_id": "unique id `<identity>-<source>-<label>-<k>` from the synthesis plan",
    "seed": "per-sample seed from the plan (frames are a pure function of face, AUs, generator and seed)",
}

TEXT_COLUMNS = ("emotion", "identity", "source_dataset", "source_subject", "source_clip", "generator", "sample_id")


def au_feature() -> datasets.List:
    return datasets.List(datasets.Value("float32"), length=NUM_AUS)


def miex_features(*, video: bool = False) -> datasets.Features:
    """Features of the image config (onset + apex) or, with ``video``, of the 10-frame config."""
    frames: dict[str, datasets.features.FeatureType] = (
        {"frames": datasets.List(datasets.Image(), length=VIDEO_FRAMES)}
        if video
        else {"onset": datasets.Image(), "apex": datasets.Image()}
    )
    return datasets.Features(
        {
            **frames,
            "label": datasets.ClassLabel(names=list(LABEL_NAMES)),
            "source": datasets.ClassLabel(names=list(SOURCES)),
            "emotion": datasets.Value("string"),
            "onset_au": au_feature(),
            "apex_au": au_feature(),
            **({"frames_au": datasets.List(au_feature(), length=VIDEO_FRAMES)} if video else {}),
            **{name: datasets.Value("string") for name in TEXT_COLUMNS if name != "emotion"},
            "seed": datasets.Value("int64"),
        }
    )


def column_table(features: datasets.Features) -> str:
    """A Markdown table of the columns present in ``features`` with their type and meaning."""
    lines = ["| column | type | meaning |", "|---|---|---|"]
    for name, feature in features.items():
        kind = type(feature).__name__
        if isinstance(feature, datasets.Value):
            kind = feature.dtype
        lines.append(f"| `{name}` | {kind} | {COLUMN_DOCS[name]} |")
    return "\n".join(lines)
