"""Recipe runner: ``miex train --recipe FILE.yaml`` and ``train.py`` (same code, also under ``torchrun`` and
``accelerate launch``).

- :mod:`.specs`: the recipe's sections, declared once as dataclasses (keys, types, defaults, constraints).
- :mod:`.schema`: checks a YAML mapping against those declarations (unknown keys with "did you mean", key paths).
- :mod:`.recipe`: parsing, ``--set`` overrides, recipe files and the shipped recipes.
- :mod:`.sources`: loading the real corpus, extra clip tables and MiE-X; per-fold training rows (leakage-free).
- :mod:`.checks`: every check before training (``preflight``); the :class:`~.checks.Plan` that training reads.
- :mod:`.schedule`: the constant-then-linear learning-rate factor (shared with GANimation training).
- :mod:`.stages`: one Trainer stage (Adam, clipping, the schedule) and prediction; also behind :mod:`miex.train.api`.
- :mod:`.cache`: weights after stages that several folds train on identical rows, trained once.
- :mod:`.tensor_stage`, :mod:`.flow_run`: flow recognizers' stages on in-memory flow images, folds in processes.
- :mod:`.run`: the seed x fold loop and the final model.
- :mod:`.outputs`: pooled UF1/UAR summaries, MEGC logs, confusion matrix and training curves.
- :mod:`.report`: the run folder: results.json, predictions, curves, plots, card.
- :mod:`.card`: the model card (``card_templates/model_card.md`` + ``model-index``) and the Hub push.

Importing the package runs nothing: its names resolve on first use, so ``miex train --list-recipes`` and the recipe
checks read YAML without loading torch (:mod:`.run` does, once training is asked for).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from miex.core import lazy

__all__ = ["Recipe", "load_recipe", "parse_recipe", "preflight", "run"]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from miex.train.runner.recipe import Recipe, load_recipe, parse_recipe
    from miex.train.runner.run import preflight, run

# ``run`` is the function, also after ``from miex.train.runner.run import ...`` imports the submodule of that name
__getattr__, __dir__ = lazy.attach(
    __name__,
    {
        "Recipe": ".recipe:Recipe",
        "load_recipe": ".recipe:load_recipe",
        "parse_recipe": ".recipe:parse_recipe",
        "preflight": ".run:preflight",
        "run": ".run:run",
    },
)
