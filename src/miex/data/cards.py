"""Card templates (``card_templates/*.md``): dataset cards for MiE-X folders and model cards for trained recognizers.

Templates are plain Markdown with ``{placeholder}`` fields filled by :func:`render_template`; YAML front matter is never
part of a template: callers generate it from what was actually written (docs/reference.md §Hugging Face stack), so split
sizes and metrics in a card cannot drift from the data. The templates are package data, read through
:mod:`importlib.resources`, so a checkout, an editable install, ``pip install --user`` and a wheel all find them.
"""

from __future__ import annotations

import string
from importlib import resources
from typing import Any

from miex.core.errors import MiexInputError

TEMPLATES = "card_templates"
"""The folder of this package that holds the templates (``[tool.setuptools.package-data]`` ships it)."""


def load_template(name: str) -> str:
    """The text of the template ``name`` (e.g. ``dataset_card.md``)."""
    template = resources.files(__package__) / TEMPLATES / name
    if not template.is_file():
        raise MiexInputError(f"card template {name} is missing from the miex package: reinstall miex")
    return template.read_text(encoding="utf-8")


def render_template(name: str, **fields: Any) -> str:
    """The template ``name`` with every ``{field}`` filled; a field the template names but the caller omits is an
    error."""
    template = load_template(name)
    wanted = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    missing = sorted(wanted - fields.keys())
    if missing:
        raise MiexInputError(f"card template {name} needs fields {missing}")
    return template.format(**fields)
