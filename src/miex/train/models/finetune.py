"""Fine-tuning across label spaces (e.g. MiE-X 3 classes -> a 5-class corpus): keep encoders, fresh head."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike

from transformers import AutoModelForImageClassification

from miex.core.errors import MiexInputError
from miex.train.models.base import MiexPreTrainedModel

logger = logging.getLogger(__name__)


def load_for_finetuning(
    path: str | PathLike[str], *, num_labels: int | None = None, label_names: Sequence[str] | None = None
) -> MiexPreTrainedModel:
    """Load a miex checkpoint for fine-tuning on ``label_names`` (or ``num_labels`` generic ones).

    Same label space: the checkpoint as saved. Different: every encoder weight is kept, the head is re-initialised
    and a warning says so, because a reused head would map classes of one label space onto another.
    """
    model = AutoModelForImageClassification.from_pretrained(path)
    if not isinstance(model, MiexPreTrainedModel):
        raise MiexInputError(f"not a miex recognizer checkpoint (got {type(model).__name__})", file=path)
    if label_names is None and num_labels is None:
        return model
    if label_names is not None and num_labels is not None and len(label_names) != num_labels:
        raise MiexInputError(f"num_labels={num_labels} but {len(label_names)} label_names given", field="num_labels")
    names = list(label_names) if label_names is not None else [f"LABEL_{i}" for i in range(int(num_labels or 0))]
    if len(names) < 2:
        raise MiexInputError(f"need at least 2 classes to fine-tune, got {names}", field="num_labels")
    old = model.config.label_names
    if names == old or (label_names is None and len(names) == len(old)):
        return model
    model.reset_head(dict(enumerate(names)))
    logger.warning(
        "%s: head re-initialised for a new label space (%d classes %s -> %d classes %s); encoder weights kept",
        path,
        len(old),
        old,
        len(names),
        names,
    )
    return model
