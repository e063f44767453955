"""``miex`` subcommands that live in :mod:`miex_train` (registered in :mod:`miex_dataset.cli`)."""
