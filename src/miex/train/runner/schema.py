"""A declared schema for YAML sections: each section is a frozen dataclass whose fields ARE its keys.

One declaration per field gives the key, its type (``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``Path``,
``tuple[str, ...]``, ``tuple[int, ...]``, a nested section, ``Mapping[str, section]``, ``X | None``), its default and
its constraints (:func:`setting`). :class:`Reader` checks a mapping against the declaration: an unknown key is an
error that names the closest known key (a typo would otherwise fall back to a default silently), and every error
names the file and the key path (``stages[1].learning_rate``). Checks across fields live in the dataclass's
``__post_init__`` (raising :class:`MiexInputError` with the field), so a section built in code is checked the same
way; the reader adds the file and the section's path.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from miex.core.errors import MiexInputError

RULE = "miex.schema"
"""Field metadata key holding a field's :class:`Rule`."""

Parse = Callable[["Reader", Any, str, dict[str, Any]], Any]
"""A field's own reader: ``(reader, value or None when absent, key path, fields read so far) -> value``."""


@dataclass(frozen=True)
class Rule:
    """What a field's type does not say."""

    key: str = ""
    """YAML key path inside the section when it differs from the field name (``image.resize``: a sub-mapping)."""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    """Allowed strings kept elsewhere (a ``Literal`` type carries its own)."""
    missing: str = ""
    """Message when a field without default is absent (default: ``missing <key>``)."""
    what: str = ""
    """What a list or mapping holds, for messages (``integer seeds``)."""
    shorthand: str = ""
    """Nested section: a value that is not a mapping stands for this one key (``miex: DIR`` = ``miex: {path: DIR}``)."""
    flatten: bool = False
    """Nested section whose keys sit beside this section's own (a stage's training keys beside ``name``, ``train``)."""
    hidden: bool = False
    """Not a key: the parser fills it (through ``defaults``)."""
    parse: Parse | None = None
    fields: Mapping[str, Rule] = field(default_factory=dict)
    """Rules for the fields of a nested section declared elsewhere, whose fields carry none."""


def setting(default: Any = MISSING, *, default_factory: Any = MISSING, repr: bool = True, **rule: Any) -> Any:
    """A dataclass field with a :class:`Rule` (``minimum=1``, ``key="image.resize"``, ``missing="..."``, ...)."""
    return field(default=default, default_factory=default_factory, repr=repr, metadata={RULE: Rule(**rule)})


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _rule(item: dataclasses.Field, extra: Mapping[str, Rule]) -> Rule:
    return extra.get(item.name) or item.metadata.get(RULE) or Rule()


def _default(item: dataclasses.Field) -> Any:
    if item.default is not MISSING:
        return item.default
    if item.default_factory is not MISSING:
        return item.default_factory()
    return MISSING


def _optional(hint: Any) -> Any:
    """``X | None`` -> ``X``; anything else unchanged."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        kept = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(kept) == 1:
            return kept[0]
    return hint


def _section(hint: Any) -> type | None:
    hint = _optional(hint)
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where and key else where or key


def did_you_mean(word: str, known: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``known``, or nothing."""
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def keys_of(cls: type, rules: Mapping[str, Rule] | None = None) -> list[str]:
    """The keys a section accepts, in declaration order (``image.resize`` as such; flattened sections inlined)."""
    keys: list[str] = []
    for item in dataclasses.fields(cls):
        rule = _rule(item, rules or {})
        if rule.hidden:
            continue
        nested = _section(_hints(cls)[item.name])
        keys += keys_of(nested, rule.fields) if rule.flatten and nested else [rule.key or item.name]
    return keys


def key_rows(cls: type, rules: Mapping[str, Rule] | None = None, prefix: str = "") -> list[tuple[str, str, str]]:
    """``(key path, what it takes, default)`` of every key a section accepts, nested sections expanded (a list of
    sections as ``stages[].key``): the rows of the recipe reference, made from the declaration itself."""
    rows: list[tuple[str, str, str]] = []
    for item in dataclasses.fields(cls):
        rule = _rule(item, rules or {})
        if rule.hidden:
            continue
        hint = _hints(cls)[item.name]
        key = _join(prefix, rule.key or item.name)
        nested = _section(hint) or _listed_section(hint)
        if nested is not None and rule.flatten:  # its keys sit beside this section's and default to the recipe's
            rows.append((_join(prefix, f"<{item.name} key>"), f"any `{item.name}` key", f"the recipe's `{item.name}`"))
        elif nested is not None:
            rows += key_rows(nested, rule.fields, key + ("[]" if _listed_section(hint) else ""))
        else:
            rows.append((key, _takes(hint, rule), _default_text(item)))
    return rows


def _listed_section(hint: Any) -> type | None:
    """The section of a ``tuple[Section, ...]`` field (a list of sections in YAML), else None."""
    args = typing.get_args(_optional(hint))
    return _section(args[0]) if typing.get_origin(_optional(hint)) is tuple and args else None


def _takes(hint: Any, rule: Rule) -> str:
    """What a key takes, in words: its type, choices and bounds."""
    hint = _optional(hint)
    if typing.get_origin(hint) is Literal:
        text = "one of " + ", ".join(str(choice) for choice in typing.get_args(hint))
    elif rule.choices:
        text = "one of " + ", ".join(rule.choices)
    elif typing.get_origin(hint) in (tuple, list):
        text = f"list of {rule.what or _name(typing.get_args(hint)[0])}"
    elif typing.get_origin(hint) in (dict, Mapping) or hint in (dict, Mapping):
        text = f"mapping ({rule.what})" if rule.what else "mapping"
    else:
        text = _name(hint)
    bounds = [f">= {rule.minimum:g}"] if rule.minimum is not None else []
    bounds += [f"<= {rule.maximum:g}"] if rule.maximum is not None else []
    return f"{text} ({', '.join(bounds)})" if bounds else text


def _name(hint: Any) -> str:
    return {int: "integer", float: "number", str: "text", bool: "true/false", Path: "path"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _default_text(item: dataclasses.Field) -> str:
    """The default as a reader sees it: required, computed (a factory that measures the machine) or the value."""
    if item.default is MISSING and item.default_factory is MISSING:
        return "required"
    if item.default_factory is not MISSING and item.default_factory not in (dict, list, tuple):
        return "computed"
    value = _default(item)
    if value is None:
        return "none"
    return "`" + (repr(value) if value == "" else str(list(value) if isinstance(value, tuple) else value)) + "`"


def keys_markdown(cls: type) -> str:
    """The key table of a section (a recipe: :class:`~miex.train.runner.specs.Recipe`) for docs/reference.md."""
    lines = ["| key | takes | default |", "|---|---|---|"]
    lines += [f"| `{key}` | {takes} | {default} |" for key, takes, default in key_rows(cls)]
    return "\n".join(lines)


class Reader:
    """Reads sections of one file; every error names that file and the key path."""

    def __init__(self, file: str | PathLike[str] | None = None) -> None:
        self.file = Path(file) if file is not None else None

    def fail(self, reason: str, where: str) -> typing.NoReturn:
        raise MiexInputError(reason, file=self.file, field=where or None)

    # ----------------------------------------------------------------------------------------------------------
    # sections

    def mapping(self, value: Any, where: str, known: list[str]) -> dict[str, Any]:
        """``value`` as a dict whose keys are all in ``known`` (``None``: empty)."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(f"expected a mapping with keys {known}, got {type(value).__name__}", where)
        for key in value:
            if key not in known:
                self.fail(
                    f"unknown key {key!r}{did_you_mean(str(key), known)}; known keys here: {', '.join(known)}",
                    _join(where, str(key)),
                )
        return dict(value)

    def read(
        self,
        cls: type,
        value: Any,
        where: str,
        *,
        defaults: Mapping[str, Any] | None = None,
        missing: Mapping[str, str] | None = None,
        rule: Rule | None = None,
    ) -> Any:
        """An instance of the section ``cls`` from ``value``. ``defaults`` replace the declared defaults (and fill
        hidden fields; a section instance stands for its fields), ``missing`` the messages for absent keys; ``rule``
        is the rule of the field holding the section (its ``shorthand`` and ``fields``)."""
        rule = rule or Rule()
        defaults = dict(defaults or {})
        if rule.shorthand and value is not None and not isinstance(value, Mapping):
            if not isinstance(value, str | PathLike):
                self.fail(
                    f"expected a {rule.shorthand} or a mapping with keys {keys_of(cls, rule.fields)}, got "
                    f"{type(value).__name__}",
                    where,
                )
            hint = _hints(cls)[rule.shorthand]
            value = {rule.shorthand: self.convert(hint, value, where, rule.fields.get(rule.shorthand) or Rule())}
        own = keys_of(cls, rule.fields)
        top = list(dict.fromkeys(k.split(".")[0] for k in own))
        groups: dict[str, list[str]] = {}
        for key in own:
            head, _, tail = key.partition(".")
            if tail:
                groups.setdefault(head, []).append(tail)
        given = self.mapping(value, where, top)
        nested_values = {name: self.mapping(given.get(name), _join(where, name), keys) for name, keys in groups.items()}
        got: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            item_rule = _rule(item, rule.fields)
            key = item_rule.key or item.name
            path = _join(where, key)
            hint = _hints(cls)[item.name]
            if item_rule.hidden:
                got[item.name] = defaults.get(item.name, _default(item))
                continue
            if item_rule.flatten:
                section = _section(hint)
                assert section is not None, f"{cls.__name__}.{item.name}: flatten needs a section type"
                mine = {k: v for k, v in given.items() if k in keys_of(section, item_rule.fields)}
                base = defaults.get(item.name)
                got[item.name] = self.read(section, mine, where, defaults=_as_defaults(base), rule=item_rule)
                continue
            head, _, tail = key.partition(".")
            raw = nested_values[head].get(tail) if tail else given.get(key)
            if item_rule.parse is not None:
                got[item.name] = item_rule.parse(self, raw, path, got)
            elif raw is not None:
                got[item.name] = self.convert(hint, raw, path, item_rule, defaults.get(item.name))
            elif item.name in defaults:
                got[item.name] = defaults[item.name]
            elif (default := _default(item)) is not MISSING:
                got[item.name] = default
            elif (missing or {}).get(item.name) or item_rule.missing:
                self.fail((missing or {}).get(item.name) or item_rule.missing, path)
            elif _section(hint) is not None:  # an absent section reads as empty: its own required keys speak
                got[item.name] = self.read(_section(hint), {}, path, rule=item_rule)
            else:
                self.fail("missing path" if _optional(hint) is Path else f"missing {key}", path)
        try:
            return cls(**got)
        except MiexInputError as error:  # a check across fields (__post_init__): add file and section path
            if error.file is not None:
                raise
            self.fail(error.reason, _join(where, error.field or ""))

    # ----------------------------------------------------------------------------------------------------------
    # values

    def convert(self, hint: Any, value: Any, where: str, rule: Rule, base: Any = None) -> Any:
        """``value`` (not ``None``) checked and converted to the type ``hint``."""
        hint = _optional(hint)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is Literal:
            return self.string(value, where, choices=tuple(args))
        if hint is bool:
            if not isinstance(value, bool):
                self.fail(f"expected true or false, got {value!r}", where)
            return value
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(f"expected an integer, got {value!r}", where)
            return int(self.bounded(value, where, rule))
        if hint is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.fail(f"expected a number, got {value!r}", where)
            if not math.isfinite(value):  # NaN passes every bound; YAML spells them .nan, .inf
                self.fail(f"expected a finite number, got {value!r}", where)
            return float(self.bounded(value, where, rule))
        if hint is str:
            return self.string(value, where, choices=rule.choices)
        if hint is Path:
            if not isinstance(value, str | PathLike) or not str(value).strip():
                self.fail(f"expected a path, got {value!r}", where)
            return Path(os.path.expanduser(os.path.expandvars(str(value))))
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis and args[0] in (str, int):
            return self.names(value, where, rule) if args[0] is str else self.integers(value, where, rule)
        if origin in (Mapping, dict) or hint in (Mapping, dict):
            if not isinstance(value, Mapping):
                self.fail(
                    f"expected a mapping of {rule.what}"
                    if rule.what
                    else f"expected a mapping, got {type(value).__name__}",
                    where,
                )
            section = _section(args[1]) if len(args) == 2 else None
            if section is None:
                return dict(value)
            return {name: self.read(section, item, _join(where, str(name)), rule=rule) for name, item in value.items()}
        section = _section(hint)
        if section is not None:
            return self.read(section, value, where, defaults=_as_defaults(base), rule=rule)
        raise TypeError(f"no reader for type {hint!r} (at {where})")

    def string(self, value: Any, where: str, *, choices: tuple[str, ...] = ()) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(f"expected a non-empty string, got {value!r}", where)
        if choices and value not in choices:
            self.fail(f"{value!r} is not one of {', '.join(choices)}{did_you_mean(value, list(choices))}", where)
        return value

    def bounded(self, value: float, where: str, rule: Rule) -> float:
        low, high = rule.minimum, rule.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = " and ".join(f"{sign} {limit}" for sign, limit in ((">=", low), ("<=", high)) if limit is not None)
            self.fail(f"must be {bounds}, got {value}", where)
        return value

    def names(self, value: Any, where: str, rule: Rule) -> tuple[str, ...]:
        """A non-empty list of distinct non-empty strings (one string: a list of one)."""
        items = [value] if isinstance(value, str) else value
        what = rule.what or "names"
        if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
            self.fail(f"expected a non-empty list of {what}, got {value!r}", where)
        if len(set(items)) != len(items):
            self.fail(f"{what} repeat in {items}", where)
        return tuple(items)

    def integers(self, value: Any, where: str, rule: Rule) -> tuple[int, ...]:
        """A non-empty list of distinct integers (one integer: a list of one)."""
        items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in items)
            or len(set(items)) != len(items)
        ):
            self.fail(f"expected a non-empty list of distinct {rule.what or 'integers'}, got {value!r}", where)
        return tuple(int(v) for v in items)


def _as_defaults(base: Any) -> dict[str, Any] | None:
    """A section instance as per-field defaults (a stage's training keys default to the recipe's ``training``)."""
    if base is None or not dataclasses.is_dataclass(base):
        return base
    return {item.name: getattr(base, item.name) for item in dataclasses.fields(base)}
