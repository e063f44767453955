"""Recipe runner: ``miex train --recipe FILE.yaml`` and ``train.py`` (same code, also under ``torchrun`` and
``accelerate launch``).

- :mod:`.specs`: the recipe's sections, declared once as dataclasses (keys, types, defaults, constraints).
- :mod:`.schema`: checks a YAML mapping against those declarations (unknown keys with "did you mean", key paths).
- :mod:`.recipe`: parsing, ``--set`` overrides, recipe files and the shipped recipes.
- :mod:`.sources`: loading the real corpus, extra clip tables and MiE-X; per-fold training rows (leakage-free).
- :mod:`.checks`: every check before training (``preflight``); the :class:`~.checks.Plan` that training reads.
- :mod:`.schedule`: the constant-then-linear learning-rate factor (shared with GANimation training).
- :mod:`.stages`: one Trainer stage (Adam, clipping, the schedule) and prediction; also behind :mod:`miex_train.api`.
- :mod:`.cache`: weights after stages that several folds train on identical rows, trained once.
- :mod:`.tensor_stage`, :mod:`.flow_run`: flow recognizers' stages on in-memory flow images, folds in processes.
- :mod:`.run`: the seed x fold loop and the final model.
- :mod:`.outputs`: pooled UF1/UAR summaries, MEGC logs, confusion matrix and training curves.
- :mod:`.report`: the run folder: results.json, predictions, curves, plots, card.
- :mod:`.card`: the model card (``cards/model_card.md`` + ``model-index``) and the Hub push.

Importing the package runs nothing: its names resolve on first use, so ``miex train --list-recipes`` and the recipe
checks read YAML without loading torch (:mod:`.run` does, once training is asked for).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__all__ = ["Recipe", "load_recipe", "parse_recipe", "preflight", "run"]

_EXPORTS: dict[str, str] = {
    "Recipe": ".recipe",
    "load_recipe": ".recipe",
    "parse_recipe": ".recipe",
    "preflight": ".run",
    "run": ".run",
}
"""Public name -> the submodule that defines it (imported when the name is first used)."""

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .recipe import Recipe, load_recipe, parse_recipe
    from .run import preflight, run


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:  # a submodule (``from miex_train.runner import stages``) is imported by the caller
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    setattr(sys.modules[__name__], name, value)
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Keeps ``miex_train.runner.run`` the function: importing the submodule of the same name
    (``from miex_train.runner.run import ...``) makes the import system set the package's ``run`` attribute to the
    submodule, which is replaced here by the submodule's function (the submodule stays in ``sys.modules``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "run" and isinstance(value, types.ModuleType):
            value = value.run
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
