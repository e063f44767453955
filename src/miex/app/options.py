"""What the app serves and where (one dataclass for `miex app` and the Space entry), and the offline-safe import
of Gradio; :mod:`.ui` builds the page from these options and launches it.

Gradio is an optional extra (``pip install 'miex[app]'``); it is imported only here and in :mod:`.ui`, so every
other command, and ``miex app --help``, work without it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

from miex.core.errors import MiexInputError

INSTALL_HINT = "pip install 'miex[app]'"

ENV_PREFIX = "MIEX_APP_"
"""Space settings: ``MIEX_APP_FACES``, ``MIEX_APP_MIEX``, ``MIEX_APP_RECOGNIZER``, ``MIEX_APP_CHECKPOINT`` (variables of
the Space), read by :meth:`AppOptions.from_env`."""

QUIET_ENVIRONMENT: dict[str, str] = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # no usage reports, no version check against the network
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
"""Set before Gradio is imported: the app sends nothing anywhere on its own."""


@dataclass(frozen=True)
class AppOptions:
    """What the tabs open at start and where the server listens (None: Gradio's default, or its
    ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` variables, which a Space sets)."""

    faces: str | None = None
    """Face pool folder of `miex faces` (index.parquet + crops); None: the embedded default, the astronaut."""
    miex: str | None = None
    """MiE-X folder of `miex synthesize`, or a Hub dataset repo, opened in the browse tab at start."""
    recognizer: str | None = None
    """Recognizer folder (`miex train` writes OUT/model) or Hub model repo, loaded in the classify tab at start."""
    checkpoint: str | None = None
    """GANimation checkpoint (folder or .pth): adds the ``ganimation`` generator beside the warp."""
    host: str | None = None
    port: int | None = None
    share: bool = False
    """A public gradio.live link (off by default: it reaches Gradio's share server)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppOptions:
        """Options of a Hugging Face Space: ``MIEX_APP_*`` variables (empty or unset: the default)."""
        env = os.environ if environ is None else environ

        def value(name: str) -> str | None:
            return env.get(ENV_PREFIX + name, "").strip() or None

        return cls(
            faces=value("FACES"), miex=value("MIEX"), recognizer=value("RECOGNIZER"), checkpoint=value("CHECKPOINT")
        )


def require_gradio() -> ModuleType:
    """The ``gradio`` module, imported with analytics off, or an input error saying how to install the extra."""
    for name, setting in QUIET_ENVIRONMENT.items():
        os.environ[name] = setting
    try:
        import gradio
    except ImportError as error:
        raise MiexInputError(f"the app needs Gradio, an optional extra: {INSTALL_HINT} ({error})") from error
    return gradio
