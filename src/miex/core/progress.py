"""When progress bars appear: the one delay every waiting bar miex draws on stderr uses."""

from __future__ import annotations

PROGRESS_DELAY_S = 1.0
"""Seconds of work before a waiting bar appears: quick steps (most test runs, small corpora and pools) stay silent.
Bars of the long steps (rendering, training, flow) show at once."""
