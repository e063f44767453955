"""One magnification default, named one way: the library, a recipe's ``data.magnify``, the API, the dataset card,
the app and the README all say "magnification α = 4", read from :data:`miex.data.magnify.DEFAULT_ALPHA`."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from miex.data.magnify import DEFAULT_ALPHA, Magnification, magnification_label, magnify_pair, magnify_sequence
from miex.data.synthesis.card import CARD_MAGNIFICATION, GRID_ROWS, grid_caption
from miex.train.runner.recipe import parse_recipe

ROOT = Path(__file__).resolve().parents[1]
LABEL = magnification_label()
FACTOR = re.compile(r"(×|\bx)\s?\d|\d\s?(×|x\b)")
"""A growth factor such as ×5 or 4×, the naming this test rules out."""


def test_the_default_is_four_and_within_the_documented_bound() -> None:
    assert DEFAULT_ALPHA == 4.0 and LABEL == "magnification α = 4"
    assert Magnification().alpha == DEFAULT_ALPHA
    for function in (magnify_pair, magnify_sequence):
        assert inspect.signature(function).parameters["spec"].default.alpha == DEFAULT_ALPHA
    reference = (ROOT / "docs/reference.md").read_text(encoding="utf-8")
    section = reference[reference.index("## Motion magnification") :].split("\n## ")[0]
    assert LABEL in section and "at α = 10 the product (1 + α) δ passes λ/8" in section  # why not 10


def test_a_recipe_and_the_api_default_to_it() -> None:
    raw = {
        "name": "r",
        "model": {"name": "branches"},
        "data": {"real": {"clips": "c.parquet"}, "magnify": {}},
        "protocol": {"kind": "loso"},
    }
    assert parse_recipe(raw).data.magnify.alpha == DEFAULT_ALPHA
    from miex.cli.train import EPILOG
    from miex.train.runner import recipe

    for example in (EPILOG, recipe.__doc__):  # `miex train --help` and the recipe module's example
        assert f"magnify: {{alpha: {DEFAULT_ALPHA:g}}}" in example
    from miex.train.api import train_recognizer

    assert inspect.signature(train_recognizer).parameters["magnify"].default is None  # off unless asked


def test_the_dataset_card_names_the_default() -> None:
    assert Magnification() == CARD_MAGNIFICATION
    magnified_row = GRID_ROWS[2].replace("\n", " ")
    assert LABEL in magnified_row and not FACTOR.search(magnified_row)
    meta = pd.DataFrame(
        {"label": [0], "source": ["expert"], "identity": ["a"], "onset_au": [np.zeros(17)], "apex_au": [np.ones(17)]}
    )
    caption = grid_caption(meta, video=False)
    assert f"apex with {LABEL} " in caption and not FACTOR.search(caption)


def test_the_app_names_the_default() -> None:
    pytest.importorskip("gradio")
    from miex.app import build_app

    demo = build_app()
    blocks = {block.elem_id: block for block in demo.blocks.values() if block.elem_id}
    assert blocks["alpha"].value == DEFAULT_ALPHA and blocks["alpha"].label == "magnification α"
    browse = blocks["browse-magnified"].label
    assert LABEL in browse and not FACTOR.search(browse)
    assert not FACTOR.search(blocks["magnified-image"].label)


def test_the_readme_names_the_default() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    bullet = readme[readme.index("- **Magnification**") :].split("\n- **")[0]
    assert LABEL in bullet and f"data.magnify: {{alpha: {DEFAULT_ALPHA:g}}}" in bullet
    assert "α = 10" not in bullet and not FACTOR.search(bullet)
