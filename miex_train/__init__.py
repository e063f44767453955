"""miex_train: recognizers, subject-independent protocols and UF1/UAR evaluation for micro-expressions.

Data flow: dataset -> protocol (folds) -> Trainer -> metrics -> model card.
"""

__version__ = "0.1.0"
