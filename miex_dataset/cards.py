"""Card templates (``cards/*.md``): dataset cards for MiE-X folders and model cards for trained recognizers.

Templates are plain Markdown with ``{placeholder}`` fields filled by :func:`render_template`; YAML front matter is never
part of a template: callers generate it from what was actually written (docs/reference.md §Hugging Face stack), so split
sizes and metrics in a card cannot drift from the data. The folder is found beside the source tree (checkout or editable
install) or under ``<prefix>/share/miex/cards`` (wheel install, see ``[tool.setuptools.data-files]``).
"""

from __future__ import annotations

import string
import sys
from pathlib import Path
from typing import Any

from .errors import MiexInputError


def cards_dir() -> Path:
    """The folder holding the card templates."""
    candidates = (Path(__file__).resolve().parents[1] / "cards", Path(sys.prefix) / "share" / "miex" / "cards")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise MiexInputError(f"card templates not found in {', '.join(map(str, candidates))}: reinstall miex")


def load_template(name: str) -> str:
    """The text of ``cards/<name>`` (e.g. ``dataset_card.md``)."""
    path = cards_dir() / name
    if not path.is_file():
        raise MiexInputError("card template not found", file=path)
    return path.read_text(encoding="utf-8")


def render_template(name: str, **fields: Any) -> str:
    """``cards/<name>`` with every ``{field}`` filled; a field the template names but the caller omits is an error."""
    template = load_template(name)
    wanted = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    missing = sorted(wanted - fields.keys())
    if missing:
        raise MiexInputError(f"card template {name} needs fields {missing}")
    return template.format(**fields)
