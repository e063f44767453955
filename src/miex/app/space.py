"""The app as a Hugging Face Space: the entry's functions (:func:`space_app`, :func:`serve`) and a ready-to-upload
Space folder (``miex app --space DIR``, :func:`write_space`).

A Gradio Space runs ``app.py`` from its root, installs ``requirements.txt`` and reads its settings from the YAML
header of ``README.md`` (SDK and its version, Python version, entry file). The folder holds those, the ``miex`` package
(imported from the Space's root, so nothing needs publishing to PyPI) and MediaPipe's landmarker bundle, which the
mediapipe wheel lacks and which ``app.py`` points ``MIEX_FACE_LANDMARKER`` at.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import shutil
import sys
from os import PathLike
from pathlib import Path
from typing import Any

from miex.core.errors import MiexInputError

PACKAGES = ("miex",)
BUNDLE_NAME = "face_landmarker.task"
"""MediaPipe's bundle (:data:`miex.data.faces.bundle.BUNDLE_NAME`), copied beside the Space's entry."""
COMMAND = "miex app --space"
UPLOAD_EXCLUDE = ".miex/*"
"""The Space folder's run state (its kind marker and lock), left out of the upload."""
ENTRY = "app.py"
"""The Space's entry: the repository's ``app.py``, of which :data:`ENTRY_SOURCE` is a copy (a test keeps them equal),
so a wheel install, which has no ``app.py``, writes the same file."""
ENTRY_SOURCE = '''\
"""Hugging Face Space entry: the app of `miex app`, configured by the Space's variables (see miex.app.space;
`miex app --space DIR` writes a Space folder around this file). Locally: `python app.py`."""

from miex.app.space import serve, space_app

demo = space_app()  # module-level, as Gradio's reload mode (`gradio app.py`) expects

if __name__ == "__main__":
    serve(demo)
'''
SPACE_README = """\
---
title: miex
emoji: 🙂
colorFrom: blue
colorTo: gray
sdk: gradio
sdk_version: "{gradio}"
python_version: "{python}"
app_file: app.py
pinned: false
---

# miex: micro-expression toolkit

Animate a face with the 17 Action Units, browse a MiE-X dataset, classify an onset/apex pair with a trained recognizer.
Made with `miex app --space DIR`. Space variables (Settings -> Variables), all optional: `MIEX_APP_MIEX` (a MiE-X
dataset repo ORG/NAME for the Browse tab), `MIEX_APP_RECOGNIZER` (a recognizer model repo for the Classify tab),
`MIEX_APP_FACES` (a face pool folder in this Space), `MIEX_APP_CHECKPOINT` (a GANimation checkpoint).
"""


def space_app() -> Any:
    """The app configured by the Space's variables (:meth:`AppOptions.from_env`); a landmarker bundle in the working
    folder (the Space's root, where :func:`write_space` puts it) is used unless ``MIEX_FACE_LANDMARKER`` is set."""
    from miex.app.options import AppOptions
    from miex.app.ui import build_app

    if (Path.cwd() / BUNDLE_NAME).is_file():
        os.environ.setdefault("MIEX_FACE_LANDMARKER", str(Path.cwd() / BUNDLE_NAME))
    return build_app(AppOptions.from_env())


def serve(app: Any) -> None:
    """Serve the Space's app until stopped (host and port: Gradio's, from the Space's environment)."""
    from miex.app.options import AppOptions
    from miex.app.ui import launch

    launch(AppOptions.from_env(), app=app)


def requirements() -> list[str]:
    """miex's runtime dependencies (no extras; Gradio comes with the Space's SDK), from the installed metadata."""
    try:
        listed = importlib.metadata.requires("miex") or []
    except importlib.metadata.PackageNotFoundError as error:
        raise MiexInputError("miex is not installed (pip install -e '.[app]' in the repository)") from error
    return [line for line in listed if "extra ==" not in line and not re.match(r"gradio\b", line)]


def write_space(folder: str | PathLike[str], overwrite: bool = False) -> Path:
    """Write the Space into ``folder`` and return it. The folder is new, empty, or a Space this function wrote
    (rewritten in place); a folder of anything else is refused unless ``overwrite`` (docs/reference.md §File
    contract), and it may not lie inside the packages it copies."""
    from miex.core.fileio import SPACE_KIND, OutputLock, guard_output_folder, mark_output
    from miex.data.faces.bundle import resolve_bundle

    out = Path(folder)
    sources = [Path(importlib.import_module(name).__file__ or "").parent for name in PACKAGES]
    written = [ENTRY, *PACKAGES, BUNDLE_NAME, "requirements.txt", "README.md"]
    guard_output_folder(
        out,
        overwrite,
        kind=SPACE_KIND,
        command=COMMAND,
        writes=written,
        trees=PACKAGES,
        inputs=sources,
        replaced="its app.py, packages, requirements.txt and README.md",
    )
    try:
        gradio = importlib.metadata.version("gradio")
    except importlib.metadata.PackageNotFoundError as error:
        raise MiexInputError("the Space pins the Gradio it was made with: pip install 'miex[app]'") from error
    bundle = resolve_bundle()
    out.mkdir(parents=True, exist_ok=True)
    with OutputLock(out):
        mark_output(out, SPACE_KIND, COMMAND)
        (out / ENTRY).write_text(ENTRY_SOURCE, encoding="utf-8")
        for name, source in zip(PACKAGES, sources, strict=True):
            if (out / name).is_dir():  # a Space written before: its copy is replaced, never merged
                shutil.rmtree(out / name)
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy2(bundle, out / BUNDLE_NAME)
        (out / "requirements.txt").write_text("\n".join(requirements()) + "\n", encoding="utf-8")
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        (out / "README.md").write_text(SPACE_README.format(gradio=gradio, python=python), encoding="utf-8")
    return out
