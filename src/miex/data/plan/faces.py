"""The face side of the plan: a face-pool folder (index.parquet, CONTRIBUTING.md) or a plain image folder."""

from __future__ import annotations

import os
from collections.abc import Iterable
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from miex.core.errors import MiexInputError
from miex.core.fileio import read_parquet
from miex.core.paths import absolute, resolve_paths, store_paths
from miex.data.faces.image import FACE_IMAGE_SUFFIXES

FACE_COLUMNS = ("identity", "face", "yaw", "pitch", "roll")


def load_faces(folder: str | PathLike[str]) -> pd.DataFrame:
    """Faces as (identity, face path, yaw, pitch, roll), sorted by (identity, face) so input order never matters.

    Face paths are absolute, so a plan made from them works from any folder. A plain image folder is one identity
    per image (the relative path without suffix); it has no head pose.
    """
    folder = Path(absolute(folder))
    if not folder.is_dir():
        raise MiexInputError("face folder not found", file=folder)
    index = folder / "index.parquet"
    if index.is_file():
        frame = read_parquet(index, "face-pool index").to_pandas()
        missing = [c for c in ("identity", "file") if c not in frame.columns]
        if missing:
            raise MiexInputError(f"face index lacks columns {missing}", file=index)
        faces = pd.DataFrame(
            {
                "identity": frame["identity"].astype(str),
                "face": resolve_paths(frame["file"].map(str), folder),  # the pool contract: relative to the folder
                **{c: frame[c].astype(np.float64) if c in frame else np.nan for c in ("yaw", "pitch", "roll")},
            }
        )
    else:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in FACE_IMAGE_SUFFIXES)
        faces = pd.DataFrame(
            {
                "identity": [p.relative_to(folder).with_suffix("").as_posix() for p in files],
                "face": [str(p) for p in files],
                "yaw": np.nan,
                "pitch": np.nan,
                "roll": np.nan,
            }
        )
    if faces.empty:
        raise MiexInputError("no faces found (expected index.parquet or image files)", file=folder)
    if faces["face"].duplicated().any():
        raise MiexInputError(
            f"duplicate face file {faces.loc[faces['face'].duplicated(), 'face'].iloc[0]!r}", file=index, field="file"
        )
    return faces.sort_values(["identity", "face"], kind="stable").reset_index(drop=True)[list(FACE_COLUMNS)]


def portable_faces(faces: Iterable[str | PathLike[str]]) -> list[str]:
    """Face paths relative to the deepest folder holding them all (``/`` separators): what a plan's faces are
    wherever the folder lies, so a fingerprint of the plan survives moving the pool, plan and output together
    (docs/reference.md §File contract)."""
    located = [absolute(face) for face in faces]
    if not located:
        return []
    base = os.path.commonpath([os.path.dirname(face) for face in located])
    return [Path(os.path.relpath(face, base)).as_posix() for face in located]


def published_faces(faces: Iterable[str | PathLike[str]], pool: str | PathLike[str] | None) -> list[str]:
    """Face paths as the dataset's own ``plan.parquet`` (published by ``miex push``) records them: relative to the
    face pool (``crops/ann_0.png``), or, for faces outside it, relative to the folder holding them all. Never a path
    of the machine that rendered the dataset (a home folder, a user name); ``miex synthesize --plan P --faces POOL``
    finds the faces from these names."""
    faces = list(faces)
    if pool is not None:
        stored = store_paths(faces, pool)
        if not any(os.path.isabs(face) for face in stored):
            return stored
    return portable_faces(faces)


def frontal(faces: pd.DataFrame, max_yaw: float, max_pitch: float, *, where: str = "faces") -> pd.DataFrame:
    """Crops with |yaw| <= max_yaw and |pitch| <= max_pitch (degrees, from the face index)."""
    if faces[["yaw", "pitch"]].isna().any().any():
        raise MiexInputError(
            "--frontal-only needs yaw/pitch for every crop: use a face pool made by `miex faces`",
            file=where,
            field="yaw",
        )
    keep = (faces["yaw"].abs() <= max_yaw) & (faces["pitch"].abs() <= max_pitch)
    return faces.loc[keep].reset_index(drop=True)
