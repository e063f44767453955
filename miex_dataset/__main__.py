"""``python -m miex_dataset ...`` runs the ``miex`` command line (useful from an unactivated environment)."""

from .cli import main

raise SystemExit(main())
