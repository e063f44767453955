"""The one built-in face: scikit-image's public-domain astronaut photo, aligned like every face miex renders.

``miex synthesize`` with no inputs renders it (the embedded default), ``miex eval-generator`` measures it when no
``--faces`` is given, and the app shows it: the same aligned crop everywhere, so a figure measured on the built-in
face is a figure about the frames the default dataset holds."""

from __future__ import annotations

import os
from pathlib import Path

from miex.core.errors import MiexInputError


def builtin_face_pool() -> Path:
    """The face pool of the aligned astronaut (``miex faces`` output), made on first use in
    ``$XDG_CACHE_HOME/miex/default-faces`` (``~/.cache`` when unset) and reused after."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "miex" / "default-faces"
    if (base / "index.parquet").is_file():
        return base
    from PIL import Image
    from skimage import data

    from miex.data.faces.pool import build_face_pool

    source = base.with_name("default-faces-source")
    source.mkdir(parents=True, exist_ok=True)
    Image.fromarray(data.astronaut()).save(source / "astronaut.png")
    index, report = build_face_pool(source, base, workers=1)
    if index.empty:
        raise MiexInputError("could not align the built-in astronaut face:\n" + report.render())
    return base
