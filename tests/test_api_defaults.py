"""``train_recognizer``'s keywords are the recipe's settings: each keyword that is a recipe key defaults to what the
recipe declares, and every training key of a recipe can be given to the API, so a call and a recipe with the same
settings train the same model."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest

import miex
from miex.train.api import API_ONLY, RECIPE_KEYS, train_recognizer
from miex.train.runner.schema import RULE, keys_of
from miex.train.runner.specs import Recipe, TrainingSpec

API_DEFAULTS = inspect.signature(train_recognizer).parameters


def declared(path: str) -> dataclasses.Field:
    """The field of the recipe declaration behind a key path such as ``data.image.resize``."""
    section_name, _, key = path.partition(".")
    section = typing.get_type_hints(Recipe)[section_name]
    for item in dataclasses.fields(section):
        rule = item.metadata.get(RULE)
        if ((rule.key if rule else "") or item.name) == key:
            return item
    raise AssertionError(f"{path} is not a key of the recipe's {section_name} section")


def test_every_keyword_is_a_recipe_key_or_documented_as_api_only() -> None:
    assert not set(RECIPE_KEYS) & set(API_ONLY)
    assert set(API_DEFAULTS) == set(RECIPE_KEYS) | set(API_ONLY)


@pytest.mark.parametrize("keyword", sorted(RECIPE_KEYS))
def test_a_keyword_defaults_to_the_recipe_default(keyword: str) -> None:
    item = declared(RECIPE_KEYS[keyword])
    shown = API_DEFAULTS[keyword].default
    if item.default_factory is not dataclasses.MISSING:  # computed when read (the machine's cores): None asks for it
        assert shown is None, f"{keyword}: None lets the recipe compute its default"
    else:
        assert shown == item.default and type(shown) is type(item.default), (keyword, shown, item.default)


def test_every_training_key_of_a_recipe_is_a_keyword() -> None:
    training = {path.partition(".")[2] for path in RECIPE_KEYS.values() if path.startswith("training.")}
    assert set(keys_of(TrainingSpec)) - training == {"eval_batch_size"}  # the API predicts at batch_size


def test_help_shows_the_declared_defaults() -> None:
    """``help(miex)`` reads the signature from the source: the literal defaults it shows are the declared ones."""
    shown = inspect.signature(miex.train_recognizer).parameters
    assert {name: p.default for name, p in shown.items()} == {name: p.default for name, p in API_DEFAULTS.items()}
