"""Counters that add up: per-batch or per-process tallies merged into one total."""

from __future__ import annotations

from dataclasses import fields
from typing import Self


class Tally:
    """Mixin for a dataclass whose fields are all numbers: :meth:`add` sums another tally of the same class into
    this one, field by field, so a new counter needs no new merging code."""

    def add(self, other: Self) -> None:
        for item in fields(self):  # type: ignore[arg-type]
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))
