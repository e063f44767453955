"""Card figures: the sample grid's tiles cover sources, classes and identities and show where each face changed; the
AU figure and the captions say what is drawn; model cards embed the figures that exist."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from miex.data.aus.schema import AU_INDEX, NUM_AUS
from miex.data.synthesis.card import (
    CLASS_COLOURS,
    GRID_ROWS,
    GRID_TILES,
    TILE,
    au_caption,
    au_plot,
    grid_caption,
    pick_tiles,
    read_columns,
    sample_grid,
    top_au_changes,
)
from miex.data.synthesis.schema import miex_features
from miex.data.synthesis.shards import plan_shards, write_shard
from miex.train.runner.card import CARD_FIGURES, figures_markdown

SIZE = 48
PATCH_ROWS = {0: 8, 1: 20, 2: 32}  # the apex's bright patch sits higher or lower by class: tiles can be told apart


def meta_of(cells: list[tuple[int, int, str]]) -> pd.DataFrame:
    zeros = np.zeros(NUM_AUS, np.float32)
    return pd.DataFrame(
        {
            "source": [c[0] for c in cells],
            "label": [c[1] for c in cells],
            "identity": [c[2] for c in cells],
            "onset_au": [zeros] * len(cells),
            "apex_au": [zeros] * len(cells),
        }
    )


def test_tiles_cover_every_present_cell_with_different_identities() -> None:
    cells = [(s, c, f"id{k}") for k in range(5) for s in (0, 2) for c in range(3)]  # no mae at all
    cells += [(1, 1, "id9")]  # one mae sample, positive
    meta = meta_of(cells)
    rows = pick_tiles(meta)
    picked = {(int(meta.source[r]), int(meta.label[r])) for r in rows}
    assert picked == {(s, c) for s, c, _ in cells}  # every present cell, mae-positive included, nothing invented
    assert len(rows) == 2 * GRID_TILES  # 7 cells: two full bands
    assert len(set(rows)) == len(rows) and rows == pick_tiles(meta)  # no repeats, deterministic
    labels = [int(meta.label[r]) for r in rows]
    assert labels == sorted(labels)  # grouped by class
    for cell in picked:  # a cell shown twice shows two identities
        shown = [meta.identity[r] for r in rows if (meta.source[r], meta.label[r]) == cell]
        assert len(set(shown)) == len(shown)
    assert len(pick_tiles(meta.iloc[:4].reset_index(drop=True))) == 4  # fewer rows than a band: all of them


def test_top_au_changes_are_signed_ranked_and_unknown_when_nan() -> None:
    onset, apex = np.zeros(NUM_AUS), np.zeros(NUM_AUS)
    apex[AU_INDEX["AU12"]], apex[AU_INDEX["AU06"]], apex[AU_INDEX["AU01"]] = 1.5, 0.7, 0.01
    onset[AU_INDEX["AU04"]] = 1.0  # a brow lowerer that relaxes: a negative change
    assert top_au_changes(onset, apex) == [("AU12", 1.5), ("AU04", -1.0), ("AU06", pytest.approx(0.7))]
    assert top_au_changes(onset, onset) == []  # nothing moved: nothing named (AU01's 0.01 is below the floor too)
    assert top_au_changes(np.full(NUM_AUS, np.nan), np.full(NUM_AUS, np.nan)) is None


def face(label: int | None, shift: int = 0) -> np.ndarray:
    """A flat grey frame; with a label, a bright 6-pixel patch at that class's height (``shift`` moves it)."""
    image = np.full((SIZE, SIZE, 3), 90, np.uint8)
    if label is not None:
        top = PATCH_ROWS[label] + shift
        image[top : top + 6, 18:30] = 160
    return image


def png(image: np.ndarray) -> dict:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def write_folder(out: Path, *, video: bool) -> None:
    features = miex_features(video=video)
    rows = []
    for k in range(9):
        source, label = k % 3, (k // 3) % 3
        apex_au = np.zeros(NUM_AUS, np.float32)
        apex_au[AU_INDEX[("AU04", "AU12", "AU02")[label]]] = 1.0 + 0.1 * k
        frames = (
            {
                "frames": [png(face(None))] * 9 + [png(face(label))],
                "frames_au": [[0.0] * NUM_AUS] * 9 + [apex_au.tolist()],
            }
            if video
            else {"onset": png(face(None)), "apex": png(face(label))}
        )
        rows.append(
            {
                **frames,
                "label": label,
                "source": source,
                "emotion": "x",
                "onset_au": [0.0] * NUM_AUS,
                "apex_au": apex_au.tolist(),
                "identity": f"person{k % 4}",
                "source_dataset": "",
                "source_subject": "",
                "source_clip": "",
                "generator": "{}",
                "sample_id": f"s{k}",
                "seed": k,
            }
        )
    for shard in plan_shards(len(rows), 4):
        write_shard(shard, out, rows[shard.start : shard.stop], features, "test")


@pytest.mark.parametrize("video", [False, True])
def test_grid_tiles_show_the_change_where_the_face_moved(tmp_path: Path, video: bool) -> None:
    write_folder(tmp_path, video=video)
    meta = read_columns(tmp_path, ["label", "source", "onset_au", "apex_au", "identity"])
    rows = pick_tiles(meta)
    grid = np.asarray(sample_grid(tmp_path, meta, video=video)).astype(int)
    band = grid.shape[0] // 2  # 9 cells: two bands
    assert grid.shape[1] > GRID_TILES * TILE and grid.shape[0] == 2 * band
    change_top = band - 8 - TILE  # the change row is the band's last
    left = grid.shape[1] - GRID_TILES * TILE
    scale = TILE / SIZE
    for c, row in enumerate(rows[:GRID_TILES]):
        label = int(meta.label[row])
        x = left + c * TILE
        tile = grid[change_top : change_top + TILE, x : x + TILE]
        redness = tile[..., 0] - tile[..., 2]
        hot_rows = np.nonzero((redness > 100).any(axis=1))[0] / scale
        # red (brighter at apex) exactly around this sample's patch, nowhere else
        assert hot_rows.min() >= PATCH_ROWS[label] - 3 and hot_rows.max() <= PATCH_ROWS[label] + 9
        head = grid[: change_top - 3 * TILE, x : x + TILE]  # the label above the tile, drawn in the class colour
        colour = np.array(CLASS_COLOURS[label])
        assert (np.abs(head - colour).sum(axis=-1) < 60).sum() > 20
        apex_row = grid[change_top - 2 * TILE : change_top - TILE, x : x + TILE]
        magnified_row = grid[change_top - TILE : change_top, x : x + TILE]
        patch_y = int((PATCH_ROWS[label] + 3) * scale)
        # the magnified apex brightens the patch beyond the apex itself
        assert magnified_row[patch_y, TILE // 2].mean() > apex_row[patch_y, TILE // 2].mean() + 20
    assert len(GRID_ROWS) == 4


def test_legacy_import_gets_the_grid_and_an_au_figure_that_says_there_are_none(tmp_path: Path) -> None:
    from miex.data.synthesis.legacy import import_legacy

    release = tmp_path / "release"
    for k, (source, label) in enumerate([("mie", 0), ("ck", 1), ("rule", 2), ("mie", 2)]):
        folder = release / f"{k:05d}_{source}_{label}"
        folder.mkdir(parents=True)
        Image.fromarray(face(None)).save(folder / "0.jpg", quality=95)
        Image.fromarray(face(label)).save(folder / "1.jpg", quality=95)
    out = tmp_path / "out"
    assert import_legacy(release, out)[0] == 4
    with Image.open(out / "images" / "sample_grid.png") as grid:
        pixels = np.asarray(grid.convert("RGB")).astype(int)
    assert grid.width == pixels.shape[1] and pixels.shape[1] > 4 * TILE
    assert ((pixels[..., 0] - pixels[..., 2]) > 100).any()  # the change row shows the patches
    meta = read_columns(out, ["label", "source", "onset_au", "apex_au", "identity"])
    assert "no AUs" in grid_caption(meta, video=False) and "no AU vectors" in au_caption(meta)
    with Image.open(out / "images" / "au_distribution.png") as figure:
        colours = {tuple(c) for c in np.unique(np.asarray(figure.convert("RGB")).reshape(-1, 3), axis=0)}
    assert not colours & set(CLASS_COLOURS)  # a note, not empty bars


def test_captions_describe_the_figures() -> None:
    meta = meta_of([(2, 0, "a"), (2, 1, "b")])
    meta.loc[0, "apex_au"][0] = 1.0
    grid = grid_caption(meta, video=False)
    assert "onset and apex" in grid and "magnification α = 4 " in grid and "red where the apex is brighter" in grid
    assert "first frame" in grid_caption(meta, video=True)
    assert "sources without samples are left out" in au_caption(meta)


def test_au_plot_of_a_dataset_with_aus_still_draws_bars(tmp_path: Path) -> None:
    meta = meta_of([(2, 1, "a")])
    meta.at[0, "apex_au"] = np.eye(NUM_AUS, dtype=np.float32)[AU_INDEX["AU12"]]
    au_plot(meta, tmp_path / "au.png")
    with Image.open(tmp_path / "au.png") as figure:
        colours = {tuple(c) for c in np.unique(np.asarray(figure.convert("RGB")).reshape(-1, 3), axis=0)}
    assert CLASS_COLOURS[1] in colours


def test_model_card_embeds_only_the_figures_that_exist() -> None:
    both = figures_markdown()
    assert "![confusion matrix](confusion_matrix.png)" in both and "![training curves](training_curves.png)" in both
    assert "rows are the true class" in both and "validation UF1" in both
    only = figures_markdown(["training_curves.png", "something_else.png"])
    assert "confusion_matrix.png" not in only and "training_curves.png" in only
    assert "png" not in figures_markdown([])
    assert set(CARD_FIGURES) == {"confusion_matrix.png", "training_curves.png"}


def test_the_dataset_card_captions_its_figures(tmp_path: Path) -> None:
    """The README says what each figure shows, next to the figure (needs dataset_card.md's caption fields)."""
    from miex.core.fileio import write_json_atomic
    from miex.data.layout import STATE_DIR
    from miex.data.synthesis.card import finish_dataset

    write_folder(tmp_path, video=False)
    write_json_atomic(
        tmp_path / STATE_DIR / "run.json",
        {"generator": {"name": "test"}, "plan_params": {}, "engine": {"encoding": {"format": "png"}}},
    )
    text = finish_dataset(tmp_path, miex_features(), video=False, context={}, progress=False).read_text()
    meta = read_columns(tmp_path, ["label", "source", "onset_au", "apex_au", "identity"])
    grid_at, au_at = text.index("images/sample_grid.png"), text.index("images/au_distribution.png")
    assert grid_at < text.index(grid_caption(meta, video=False)) < au_at < text.index(au_caption(meta))


def test_the_grid_label_font_has_a_glyph_for_alpha() -> None:
    """ "magnification α = 4" is drawn with a font that has α (PIL's built-in one shows an empty box)."""
    from matplotlib.ft2font import FT2Font

    from miex.data.synthesis.card import label_font

    assert FT2Font(label_font().path).get_char_index(ord("α")) != 0


def test_tile_labels_wrap_so_every_au_name_is_shown_whole() -> None:
    """A tile's AU line wider than the tile ("AU01 +1.04 inner brow raiser") continues on an indented line instead of
    losing the end of the AU's name."""
    from miex.data.synthesis.card import _wrap, label_font

    font = label_font()
    text = "AU01 +1.04 inner brow raiser"
    lines = _wrap(text, font, TILE - 4)
    assert font.getlength(text) > TILE - 4 and len(lines) == 2
    assert all(font.getlength(line) <= TILE - 4 for line in lines)
    assert " ".join(line.strip() for line in lines) == text and lines[1].startswith(" ")
    assert _wrap("AU12 +0.66 lip corner puller", font, TILE - 4) == ["AU12 +0.66 lip corner puller"]
