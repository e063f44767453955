"""Finishing a MiE-X folder: the dataset card (YAML generated from the written shards), a sample grid, AU plots.

The card's ``dataset_info`` split sizes are counted from the parquet files on disk, never from the plan, so
``load_dataset`` cannot raise ``NonMatchingSplitsSizesError`` (docs/reference.md §Hugging Face stack).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCardData
from PIL import Image

from miex.core.fileio import atomic_path, read_json, read_parquet
from miex.core.progress import PROGRESS_DELAY_S
from miex.data.aus.schema import AU_DESCRIPTIONS, AU_NAMES, LABEL_NAMES
from miex.data.cards import render_template
from miex.data.layout import CARD_NAME, IMAGES_DIR, STATE_DIR
from miex.data.magnify import Magnification, magnification_label, magnify_pair, motion_image
from miex.data.sources.triplet import SOURCES
from miex.data.synthesis.schema import column_table
from miex.data.synthesis.shards import SPLIT, shard_files


def config_name(video: bool) -> str:
    return "miex-video" if video else "miex"


def split_info(out: Path) -> datasets.SplitInfo:
    """Rows and (uncompressed) bytes of the train split, read from the shards' parquet footers."""
    rows = size = 0
    for path in shard_files(out):
        metadata = pq.ParquetFile(path).metadata
        rows += metadata.num_rows
        size += sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    return datasets.SplitInfo(name=SPLIT, num_bytes=size, num_examples=rows, dataset_name="miex")


def card_data(out: Path, features: datasets.Features, *, video: bool) -> DatasetCardData:
    """The YAML header: configs (data files) and dataset_info (features, split sizes), both from the library."""
    name = config_name(video)
    split = split_info(out)
    splits = datasets.SplitDict(dataset_name="miex")
    splits.add(split)
    info = datasets.DatasetInfo(features=features, splits=splits, dataset_name="miex", config_name=name)
    data = DatasetCardData(
        pretty_name="MiE-X (synthetic micro-expressions)",
        license="other",
        task_categories=["image-classification"],
        tags=["micro-expression", "facial-action-units", "synthetic", "affective-computing", "miex"],
        size_categories=[_size_category(split.num_examples)],
    )
    DatasetInfosDict({name: info}).to_dataset_card_data(data)
    configs = {name: {"data_files": [{"split": SPLIT, "path": f"data/{SPLIT}-*"}], "default": True}}
    MetadataConfigs(configs).to_dataset_card_data(data)
    return data


def _size_category(rows: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < limit:
            return label
    return "n>1M"


def read_columns(out: Path, columns: list[str]) -> pd.DataFrame:
    parts = [read_parquet(path, "MiE-X shard", columns=columns).to_pandas() for path in shard_files(out)]
    return pd.concat(parts, ignore_index=True)


def counts_table(meta: pd.DataFrame) -> str:
    """Markdown table of samples per source x class, with totals."""
    table = pd.crosstab(
        meta["source"].map(dict(enumerate(SOURCES))),
        meta["label"].map(dict(enumerate(LABEL_NAMES))),
        margins=True,
        margins_name="total",
    )
    header = "| source | " + " | ".join(map(str, table.columns)) + " |"
    lines = [header, "|---" * (len(table.columns) + 1) + "|"]
    lines += [f"| {index} | " + " | ".join(str(int(v)) for v in row) + " |" for index, row in table.iterrows()]
    return "\n".join(lines)


GRID_TILES = 6
"""Tiles per band of the sample grid; more bands when there are more (source, class) cells than tiles."""
TILE = 176
"""Displayed tile size in pixels (frames are resized to it, so every grid reads the same whatever the frame size)."""
FONT_SIZE = 12
CARD_MAGNIFICATION = Magnification()
"""The default, :data:`~miex.data.magnify.DEFAULT_ALPHA` (docs/reference.md §Motion magnification): synthetic
expressions move faces by pixels, and a larger α smears them."""
TOP_AUS = 3
AU_VISIBLE = 0.05
"""AU changes smaller than this (0-5 scale) are not named on a tile."""


def label_font() -> Any:
    """The figures' label font: matplotlib's DejaVu Sans, which has the Greek of "magnification α = 4" (PIL's
    built-in font draws α as an empty box)."""
    from matplotlib import font_manager
    from PIL import ImageFont

    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), FONT_SIZE)


def pick_tiles(meta: pd.DataFrame, per_band: int = GRID_TILES) -> list[int]:
    """Rows to show: round-robin over the present (source, class) cells so every cell gets a tile, each time from
    the identity shown least so far; whole bands of ``per_band`` tiles (fewer only when the data runs out).

    Deterministic: candidates are taken in row order. The result is sorted by class, then source."""
    sources, labels, identities = (meta[c].to_numpy() for c in ("source", "label", "identity"))
    cells: dict[tuple[int, int], dict[str, list[int]]] = {}  # cell -> identity -> its rows, in row order
    for row in range(len(meta)):
        cells.setdefault((int(sources[row]), int(labels[row])), {}).setdefault(str(identities[row]), []).append(row)
    order = sorted(cells)
    target = min(len(meta), -(-max(len(order), per_band) // per_band) * per_band)
    shown: Counter[str] = Counter()
    picked: list[int] = []
    while len(picked) < target:
        for cell in order:
            people = cells[cell]
            if len(picked) >= target or not people:
                continue
            # the identity shown least so far; ties go to the earliest row
            person = min(people, key=lambda name: (shown[name], people[name][0]))
            picked.append(people[person].pop(0))
            shown[person] += 1
            if not people[person]:
                del people[person]
    return sorted(picked, key=lambda r: (int(labels[r]), int(sources[r]), r))


def top_au_changes(onset_au: np.ndarray, apex_au: np.ndarray, count: int = TOP_AUS) -> list[tuple[str, float]] | None:
    """The ``count`` AUs that changed most from onset to apex (signed, 0-5 scale); None when the AUs are unknown."""
    change = np.asarray(apex_au, dtype=np.float64) - np.asarray(onset_au, dtype=np.float64)
    if not np.isfinite(change).any():
        return None
    change = np.nan_to_num(change)
    order = np.argsort(-np.abs(change), kind="stable")[:count]
    return [(AU_NAMES[i], float(change[i])) for i in order if abs(change[i]) >= AU_VISIBLE]


def tile_label(meta: pd.DataFrame, row: int) -> list[tuple[str, tuple[int, int, int]]]:
    """Lines (text, colour) above a tile: identity, source and class, then the top AU changes."""
    record = meta.iloc[row]
    label = int(record["label"])
    lines = [
        (str(record["identity"]), (0, 0, 0)),
        (f"{SOURCES[int(record['source'])]} · {LABEL_NAMES[label]}", CLASS_COLOURS[label]),
    ]
    changes = top_au_changes(record["onset_au"], record["apex_au"])
    if changes is None:
        lines.append(("AUs not in the data", (110, 110, 110)))
    elif not changes:
        lines.append(("no AU change", (110, 110, 110)))
    for name, value in changes or []:
        lines.append((f"{name} {value:+.2f} {AU_DESCRIPTIONS[name]}", (0, 0, 0)))
    return lines


def tile_images(onset: np.ndarray, apex: np.ndarray) -> list[np.ndarray]:
    """Onset, apex, the apex magnified (EVM) and the change image, at the frames' own resolution."""
    return [onset, apex, magnify_pair(onset, apex, CARD_MAGNIFICATION), motion_image(onset, apex)]


GRID_ROWS = (
    "onset",
    "apex",
    f"apex,\n{magnification_label(CARD_MAGNIFICATION.alpha)}\n(EVM)",
    "change\nred brighter\nblue darker",
)


def sample_grid(out: Path, meta: pd.DataFrame, *, video: bool) -> Image.Image:
    """Labelled tiles spread over identities, sources and classes: onset, apex, the magnified apex and the change.

    For the video config the onset is the clip's first frame and the apex its last."""
    from PIL import ImageDraw

    rows = pick_tiles(meta)
    frames = _rows_images(out, rows, ["frames"] if video else ["onset", "apex"])
    font = label_font()
    labels = {
        row: [(part, colour) for text, colour in tile_label(meta, row) for part in _wrap(text, font, TILE - 4)]
        for row in rows
    }
    line = FONT_SIZE + 3
    head = 6 + line * max((len(lines) for lines in labels.values()), default=1)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = 8 + max(int(measure.textlength(part, font=font)) for name in GRID_ROWS for part in name.split("\n"))
    bands = [rows[i : i + GRID_TILES] for i in range(0, len(rows), GRID_TILES)] or [[]]
    band_height = head + len(GRID_ROWS) * TILE + 8
    canvas = Image.new("RGB", (left + GRID_TILES * TILE, len(bands) * band_height), "white")
    draw = ImageDraw.Draw(canvas)
    for b, band in enumerate(bands):
        top = b * band_height
        for r, name in enumerate(GRID_ROWS):
            parts = name.split("\n")
            y = top + head + r * TILE + TILE // 2 - len(parts) * line // 2
            for k, part in enumerate(parts):
                draw.text((4, y + k * line), part, fill="black", font=font)
        for c, row in enumerate(band):
            x = left + c * TILE
            for k, (text, colour) in enumerate(labels[row]):
                draw.text((x + 2, top + 3 + k * line), text, fill=colour, font=font)
            onset, apex = frames[row][0], frames[row][-1]
            for r, image in enumerate(tile_images(onset, apex)):
                shown = Image.fromarray(image).resize((TILE, TILE), Image.Resampling.LANCZOS)
                canvas.paste(shown, (x, top + head + r * TILE))
            draw.line([(x, top + head), (x, top + head + len(GRID_ROWS) * TILE - 1)], fill="white", width=2)
    return canvas


CONTINUATION = "   "
"""Indent of a label's wrapped lines, so they read as the line above continued."""


def _wrap(text: str, font: Any, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` pixels, broken at spaces (an AU's name is never cut: a reader must see
    which AU moved); a single word wider than the tile is cut with an ellipsis as the last resort."""
    lines: list[str] = []
    words = text.split(" ")
    current = words[0]
    for word in words[1:]:
        if font.getlength(f"{current} {word}") <= width:
            current = f"{current} {word}"
        else:
            lines.append(current)
            current = CONTINUATION + word
    lines.append(current)
    return [_cut(line, font, width) for line in lines]


def _cut(text: str, font: Any, width: int) -> str:
    """``text`` cut with an ellipsis so it fits ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _has_aus(meta: pd.DataFrame) -> bool:
    """Whether any AU value is known (an imported release stores NaN vectors)."""
    return bool(len(meta)) and bool(np.isfinite(np.stack(meta["apex_au"].to_numpy())).any())


def grid_caption(meta: pd.DataFrame, *, video: bool) -> str:
    """What a reader sees in the sample grid (Markdown)."""
    frames = "the clip's first frame (onset) and last frame (apex)" if video else "the onset and apex frames"
    aus = (
        "the 3 AUs that changed most from onset to apex (signed, 0-5 scale)"
        if _has_aus(meta)
        else "no AUs (this dataset carries none)"
    )
    alpha = CARD_MAGNIFICATION.alpha
    return (
        f"*Sample grid.* Each column is one sample, chosen to cover every AU source and class present and as many "
        f"identities as possible; its label gives the identity, the source · class and {aus}. Rows: {frames}; the "
        f"apex with {magnification_label(alpha)} (linear Eulerian video magnification: the motion grows about "
        f"{1 + alpha:g}-fold); and "
        "the change from onset to apex, red where the apex is brighter and blue where it is darker, over a faint "
        "grey onset (gain set per tile, so the largest change is always visible): the coloured bands sit on the "
        "facial parts the AUs moved."
    )


def au_caption(meta: pd.DataFrame) -> str:
    """What a reader sees in the AU figure (Markdown)."""
    if not _has_aus(meta):
        return (
            "*AU figure.* This dataset carries no AU vectors (`onset_au`/`apex_au` are NaN), so the figure only "
            "says so; the sample grid's change row shows where the faces moved."
        )
    return (
        "*AU figure.* One panel per AU source present (sources without samples are left out), with the number of "
        "samples: for every AU, one bar per class giving the mean change of its intensity from the onset to the "
        "apex frame (0-5 scale): the expression each sample was asked to show. A `mie` onset carries the real "
        "clip's onset AUs, so absolute apex values would mostly show the resting face."
    )


def _rows_images(out: Path, wanted: list[int], columns: list[str]) -> dict[int, list[np.ndarray]]:
    """Decoded frames of the given global row numbers, reading one shard at a time."""
    found: dict[int, list[np.ndarray]] = {}
    offset = 0
    for path in shard_files(out):
        count = pq.ParquetFile(path).metadata.num_rows
        local = [i - offset for i in wanted if offset <= i < offset + count]
        if local:
            table = read_parquet(path, "MiE-X shard", columns=columns).take(local).to_pylist()
            for i, row in zip(local, table, strict=True):
                cells = row[columns[0]] if len(columns) == 1 else [row[c] for c in columns]
                found[i + offset] = [_decode(cell["bytes"]) for cell in cells]
        offset += count
    return found


def _decode(data: bytes) -> np.ndarray:
    import io

    with Image.open(io.BytesIO(data)) as image:
        return np.array(image.convert("RGB"))


CLASS_COLOURS = ((214, 39, 40), (44, 160, 44), (31, 119, 180))
"""Bar colours of negative, positive, surprise."""


def au_changes(meta: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """Per source present: its title and the mean AU change (apex - onset), classes x 17 (NaN AUs, as in an imported
    legacy release, count as no change)."""
    change = np.stack(meta["apex_au"].to_numpy()) - np.stack(meta["onset_au"].to_numpy())
    panels = []
    for code, name in enumerate(SOURCES):
        rows = (meta["source"] == code).to_numpy()
        if not rows.any():
            continue
        means = np.zeros((len(LABEL_NAMES), len(AU_NAMES)))
        for label in range(len(LABEL_NAMES)):
            chosen = change[rows & (meta["label"] == label).to_numpy()]
            if np.isfinite(chosen).any():
                means[label] = np.nan_to_num(np.nanmean(chosen, axis=0))
        panels.append((f"{name} (n={int(rows.sum())})", means))
    return panels


def au_plot(meta: pd.DataFrame, path: Path) -> None:
    """Mean AU change (apex - onset) per source x class: the expression each sample was asked to show. Absolute apex
    means would mostly show a mie clip's resting AUs, which its onset carries too. Sources without samples are left
    out. Drawn with PIL: no plotting library to import, a few milliseconds instead of seconds."""
    if len(meta) and not _has_aus(meta):
        _no_aus_panel().save(path, format="PNG")
        return
    panels = au_changes(meta)
    top = max(0.5, *(float(m.max()) for _, m in panels)) if panels else 0.5
    bottom = min(0.0, *(float(m.min()) for _, m in panels)) if panels else 0.0
    images = [_bar_panel(title, means, bottom, top) for title, means in panels]
    images = images or [_bar_panel("no samples", None, 0.0, 1.0)]
    figure = Image.new("RGB", (sum(i.width for i in images), images[0].height), "white")
    for k, image in enumerate(images):
        figure.paste(image, (k * images[0].width, 0))
    figure.save(path, format="PNG")


def _no_aus_panel() -> Image.Image:
    """The AU figure of a dataset without AU vectors (an imported release): a note instead of empty bars."""
    from PIL import ImageDraw

    font = label_font()
    panel = Image.new("RGB", (460, 60), "white")
    draw = ImageDraw.Draw(panel)
    draw.text((10, 12), "No AU vectors in this dataset (onset_au / apex_au are NaN):", fill="black", font=font)
    draw.text((10, 32), "nothing to plot; the sample grid's change row shows the motion.", fill="black", font=font)
    return panel


def _bar_panel(title: str, means: np.ndarray | None, bottom: float, top: float) -> Image.Image:
    """One source: grouped bars (one per class) for every AU, a zero line, a y axis in intensity units."""
    from PIL import ImageDraw

    bar, gap, left, right, head, foot, height = 6, 6, 44, 10, 30, 34, 180
    group = bar * len(LABEL_NAMES) + gap
    panel = Image.new("RGB", (left + group * len(AU_NAMES) + right, head + height + foot), "white")
    draw = ImageDraw.Draw(panel)
    scale = height / max(top - bottom, 1e-6)

    def y(value: float) -> float:
        return head + (top - value) * scale

    draw.text((left, 4), title, fill="black")
    step = 0.5 if top - bottom <= 3 else 1.0
    for tick in np.arange(np.ceil(bottom / step) * step, top + 1e-9, step):
        draw.line([(left - 3, y(tick)), (panel.width - right, y(tick))], fill=(225, 225, 225))
        draw.text((4, y(tick) - 5), f"{tick:+.1f}" if tick else "0", fill="black")
    if means is not None:
        for a in range(len(AU_NAMES)):
            for label, colour in enumerate(CLASS_COLOURS):
                x0 = left + a * group + label * bar
                value = float(means[label, a])
                draw.rectangle([x0, min(y(value), y(0)), x0 + bar - 1, max(y(value), y(0))], fill=colour)
    draw.line([(left, y(0)), (panel.width - right, y(0))], fill="black")
    draw.line([(left, head), (left, head + height)], fill="black")
    for a, name in enumerate(AU_NAMES):
        draw.text((left + a * group + 1, head + height + 4), name[2:], fill="black")
    draw.text(
        (left, head + height + 18),
        "AU (bars: " + ", ".join(LABEL_NAMES) + "); mean apex - onset, 0-5 scale",
        fill="black",
    )
    for label, colour in enumerate(CLASS_COLOURS):
        x0 = panel.width - right - 70
        draw.rectangle([x0, 6 + 9 * label, x0 + 6, 12 + 9 * label], fill=colour)
        draw.text((x0 + 9, 3 + 9 * label), LABEL_NAMES[label], fill="black")
    return panel


def finish_dataset(
    out: Path, features: datasets.Features, *, video: bool, context: dict[str, Any], progress: bool = True
) -> Path:
    """Write ``README.md`` (card + YAML), ``images/sample_grid.png`` and ``images/au_distribution.png``, each
    atomically; ``progress`` shows the steps on stderr when they take more than a moment."""
    from tqdm.auto import tqdm

    steps = tqdm(
        total=4, desc="dataset card", unit="step", delay=PROGRESS_DELAY_S, disable=not progress, dynamic_ncols=True
    )
    meta = read_columns(out, ["label", "source", "onset_au", "apex_au", "identity"])
    steps.update()
    (out / IMAGES_DIR).mkdir(exist_ok=True)
    with atomic_path(out / IMAGES_DIR / "sample_grid.png", suffix=".png") as temporary:
        sample_grid(out, meta, video=video).save(temporary)
    steps.update()
    with atomic_path(out / IMAGES_DIR / "au_distribution.png", suffix=".png") as temporary:
        au_plot(meta, temporary)
    steps.update()
    run = read_json(out / STATE_DIR / "run.json")
    generation = {
        "generator": run["generator"],
        "plan": run["plan_params"],
        "engine": {k: v for k, v in run["engine"].items() if k not in ("overwrite", "device", "strict")},
        **{k: v for k, v in context.items() if k not in ("notes", "load_path")},
    }
    encoding = run["engine"]["encoding"]
    body = render_template(
        "dataset_card.md",
        pretty_name="MiE-X (synthetic micro-expressions)",
        frames_per_sample=10 if video else 2,
        samples=len(meta),
        identities=meta["identity"].nunique(),
        frames=len(meta) * (10 if video else 2),
        config_name=config_name(video),
        kind="10 frames per sample" if video else "onset + apex frames",
        generator_name=run["generator"]["name"],
        image_format="lossless PNG" if encoding["format"] == "png" else f"JPEG quality {encoding['jpeg_quality']}",
        load_path=context.get("load_path", str(out)),
        column_table=column_table(features),
        notes=f"\n{context['notes']}\n" if context.get("notes") else "",
        counts_table=counts_table(meta),
        generation_json=json.dumps(generation, indent=2, sort_keys=True),
        sample_grid_caption=grid_caption(meta, video=video),
        au_figure_caption=au_caption(meta),
    )
    text = f"---\n{card_data(out, features, video=video).to_yaml()}\n---\n\n{body}"
    with atomic_path(out / CARD_NAME) as temporary:
        temporary.write_text(text, encoding="utf-8")
    steps.update()
    steps.close()
    return out / CARD_NAME
