"""``miex app``: a local web app (Gradio) over the toolkit: animate a face with AU sliders, browse a MiE-X, classify
an onset/apex pair with a trained recognizer.

The logic lives in plain modules that import no web framework (:mod:`.generate`, :mod:`.browse`,
:mod:`.classify`); :mod:`.ui` wires them into one ``gr.Blocks``. The same :func:`build_app` serves ``miex app`` and
the Hugging Face Space entry (``app.py`` at the repository root). Gradio is imported only when the app is built.
"""

from __future__ import annotations

from miex.app.options import AppOptions
from miex.app.ui import build_app, launch

__all__ = ["AppOptions", "build_app", "launch"]
