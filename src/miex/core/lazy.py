"""Names that import their module on first use: the one way miex defers an import.

``import miex``, every ``--help`` and the name registries (generators, corpus readers, commands) must not load torch,
datasets or mediapipe before a step that needs them runs. A deferred name is a *target*, ``"module:attribute"`` (or
``"module"`` for the module itself), the notation of entry points; a module that starts with a dot is relative to the
package that declares it. :func:`load` resolves one target; :func:`attach` gives a module its lazy public names.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

SHADOWED = "__lazy_shadowed__"
"""Where a package keeps its exports that live in a submodule of the same name (read by :class:`_KeepExports`)."""


def load(target: str, package: str | None = None) -> Any:
    """The object ``target`` names, its module imported now (``package``: the anchor of a relative module)."""
    module, _, attribute = target.partition(":")
    loaded = importlib.import_module(module, package)
    return getattr(loaded, attribute) if attribute else loaded


def attach(module: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``module`` (its ``__name__``), whose lazy names are ``exports`` (name ->
    target): each is imported on first use and then kept in the module, so later uses cost nothing. Call it at the
    top level of ``module``, which lists its public names in a literal ``__all__`` as usual::

        __getattr__, __dir__ = lazy.attach(__name__, {"run": ".run:run"})
    """
    namespace = sys.modules[module]
    package = module if hasattr(namespace, "__path__") else module.rpartition(".")[0]
    public = sorted(exports)

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {module!r} has no attribute {name!r} (the API: {', '.join(public)})")
        value = load(exports[name], package)
        namespace.__dict__[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace.__dict__, *public})

    shadowed = {}
    for name, target in exports.items():
        submodule, _, attribute = target.partition(":")
        if submodule.startswith(".") and submodule.lstrip(".") == name:
            shadowed[name] = (importlib.util.resolve_name(submodule, package), attribute)
    if shadowed:
        namespace.__dict__[SHADOWED] = shadowed
        namespace.__class__ = _KeepExports
    return __getattr__, __dir__


class _KeepExports(types.ModuleType):
    """A package that exports ``run`` from its submodule ``run``: importing that submodule makes the import system
    set the package's ``run`` to the submodule, which is replaced here by the submodule's export."""

    def __setattr__(self, name: str, value: Any) -> None:
        submodule, attribute = self.__dict__.get(SHADOWED, {}).get(name, (None, ""))
        if isinstance(value, types.ModuleType) and value.__name__ == submodule:
            value = getattr(value, attribute)
        super().__setattr__(name, value)
