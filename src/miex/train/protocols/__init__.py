"""Subject-independent protocols: folds (:mod:`.folds`), the rows each fold trains and tests on (:mod:`.splits`), and
held-out splits of MiE-X alone (:mod:`.heldout`)."""

from miex.train.protocols.folds import Fold, Subject, kfold, load_folds, lodo, loso, make_fold, save_folds, subjects_of
from miex.train.protocols.heldout import HELD_OUT_UNITS, au_draws, heldout_split
from miex.train.protocols.splits import PROVENANCE_COLUMNS, real_split, subject_mask, trainable_synthetic, validate_fold

__all__ = [
    "HELD_OUT_UNITS",
    "PROVENANCE_COLUMNS",
    "Fold",
    "Subject",
    "au_draws",
    "heldout_split",
    "kfold",
    "load_folds",
    "lodo",
    "loso",
    "make_fold",
    "real_split",
    "save_folds",
    "subject_mask",
    "subjects_of",
    "trainable_synthetic",
    "validate_fold",
]
