"""miex_train: recognizers, subject-independent protocols and UF1/UAR evaluation for micro-expressions.

Data flow: dataset -> protocol (folds) -> Trainer -> metrics -> model card.

- :mod:`miex_train.models`: recognizer families (branches, apexme, dtscnn, ststnet, offapexnet, htnet) as
  transformers config/model pairs registered with the Auto classes; ``create_model``, ``load_for_finetuning``.
- :mod:`miex_train.protocols`: LOSO, subject-wise k-fold, leave-one-dataset-out; JSON split files; leakage filter.
- :mod:`miex_train.data`: real clips and MiE-X as ``datasets`` objects, per-model inputs, ``Collator``.
- :mod:`miex_train.transforms`, :mod:`miex_train.flow`: augmentation and flow-derived inputs in torch ops.
- :mod:`miex_train.flow_inputs`: flow recognizers' composite flow images, computed once; trained on in memory by
  :mod:`miex_train.runner.tensor_stage` (the recipe runner's folds: :mod:`miex_train.runner.flow_run`).
- :mod:`miex_train.metrics`: pooled UF1/UAR functions and the offline ``evaluate`` module (``metrics.UF1_UAR``).
- :mod:`miex_train.api`: ``train_recognizer`` on ``datasets.Dataset`` objects (its :class:`~.train_result.TrainResult`
  loads without torch); ``python -m miex_train`` is ``miex train``, for ``torchrun``/``accelerate launch -m``.

Importing this package loads nothing heavy; torch, transformers and datasets load with the module that needs them.
"""

__version__ = "0.1.0"
