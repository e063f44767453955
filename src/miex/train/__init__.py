"""miex.train: recognizers, subject-independent protocols and UF1/UAR evaluation for micro-expressions.

Data flow: dataset -> protocol (folds) -> Trainer -> metrics -> model card.

- :mod:`miex.train.models`: recognizer families (branches, apexme, dtscnn, ststnet, offapexnet, htnet) as
  transformers config/model pairs registered with the Auto classes; ``create_model``, ``load_for_finetuning``.
- :mod:`miex.train.protocols`: LOSO, subject-wise k-fold, leave-one-dataset-out; JSON split files; leakage filter.
- :mod:`miex.train.data`: real clips and MiE-X as ``datasets`` objects, per-model inputs, ``Collator``.
- :mod:`miex.train.transforms`, :mod:`miex.train.flow`: augmentation and flow-derived inputs in torch ops.
- :mod:`miex.train.flow_inputs`: flow recognizers' composite flow images, computed once; trained on in memory by
  :mod:`miex.train.runner.tensor_stage` (the recipe runner's folds: :mod:`miex.train.runner.flow_run`).
- :mod:`miex.train.metrics`: pooled UF1/UAR functions and the offline ``evaluate`` module (``metrics.UF1_UAR``).
- :mod:`miex.train.api`: ``train_recognizer`` on ``datasets.Dataset`` objects (its :class:`~.train_result.TrainResult`
  loads without torch); ``miex train`` is :mod:`miex.cli.train`.

Importing this package loads nothing heavy; torch, transformers and datasets load with the module that needs them.
"""
