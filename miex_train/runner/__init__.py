"""Recipe runner: ``miex train --recipe FILE.yaml`` and ``train.py`` (same code, also under ``torchrun`` and
``accelerate launch``).

- :mod:`.recipe`: the YAML schema, strict validation, ``--set`` overrides.
- :mod:`.sources`: loading the real corpus, extra clip tables and MiE-X; per-fold training rows (leakage-free).
- :mod:`.stages`: one Trainer stage (Adam, clipping, constant then linear-decay schedule) and prediction.
- :mod:`.outputs`: pooled UF1/UAR summaries, MEGC logs, confusion matrix and training curves.
- :mod:`.card`: the model card (``cards/model_card.md`` + ``model-index``) and the Hub push.
- :mod:`.run`: checks everything before training, then the seed x fold loop and the final model.
"""

from .recipe import Recipe, load_recipe, parse_recipe
from .run import preflight, run

__all__ = ["Recipe", "load_recipe", "parse_recipe", "preflight", "run"]
