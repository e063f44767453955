"""Subject-independent protocols: folds (:mod:`.folds`) and the rows each fold trains and tests on (:mod:`.splits`)."""

from .folds import Fold, Subject, kfold, load_folds, lodo, loso, make_fold, save_folds, subjects_of
from .splits import PROVENANCE_COLUMNS, real_split, subject_mask, trainable_synthetic, validate_fold

__all__ = [
    "PROVENANCE_COLUMNS",
    "Fold",
    "Subject",
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
