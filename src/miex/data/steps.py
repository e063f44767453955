"""The Python API's own small steps: each is what one ``miex`` command does, minus argument parsing and printing.

Where the library already has the function (``build_face_pool``, ``push_folder``, ``synthesize``) the API exports it
as it is; the functions here only fill in what a command line would have resolved for the caller (the face-landmarker
bundle, a path instead of a table), so a notebook needs one import.
"""

from __future__ import annotations

from os import PathLike
from typing import Any

import pandas as pd

from miex.core.report import ValidationReport

PathArg = str | PathLike[str]


def read_corpus(name: str, root: PathArg, *, strict: bool = False, **options: Any) -> pd.DataFrame:
    """Read a real corpus (``casme2``, ``samm``, ``smic``, ``megc2019``, ``ckplus``, ``mmew``) into a clip table.

    ``options`` are the reader's keyword arguments (e.g. ``sheet=`` for CASME II); problems are reported on the
    table's ``attrs["report"]`` and, with ``strict=True``, raised. Write it with
    :func:`miex.data.corpora.write_clip_table` to get the ``clips.parquet`` the other steps read.
    """
    from miex.core.errors import MiexInputError
    from miex.data.corpora import READERS, clips_to_frame

    if name not in READERS:
        raise MiexInputError(f"unknown corpus {name!r} (choose from {', '.join(READERS)})", field="name")
    corpus = READERS[name](root, strict=strict, **options)
    frame = clips_to_frame(corpus.clips)
    frame.attrs["report"] = corpus.report
    return frame


def extract_aus(
    source: PathArg,
    out: PathArg,
    *,
    backend: str = "mediapipe",
    openface_dir: PathArg | None = None,
    reference: str = "onset",
    model_path: PathArg | None = None,
    workers: int = 1,
    **options: Any,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Measure the 17 AUs (0-5) of images or of a clip table's onset/apex frames into the AU table ``out``.

    ``backend="mediapipe"`` is the geometry extractor (change from each clip's onset with ``reference="onset"``);
    ``backend="openface"`` reads the CSVs OpenFace 2.2 wrote into ``openface_dir``, the paper-exact path
    (docs/reference.md §AU extraction).
    """
    from miex.core.errors import MiexInputError
    from miex.data.faces.bundle import resolve_bundle
    from miex.data.faces.extract_aus import Backend
    from miex.data.faces.extract_aus import extract_aus as run_extraction

    if backend == "openface":
        if openface_dir is None:
            raise MiexInputError("backend='openface' needs openface_dir= (the folder of OpenFace CSVs)")
        chosen = Backend("openface", openface_dir=str(openface_dir))
    elif backend == "mediapipe":
        chosen = Backend("mediapipe", model_path=str(resolve_bundle(model_path)), reference=reference)
    else:
        raise MiexInputError(f"unknown AU backend {backend!r} (choose mediapipe or openface)", field="backend")
    return run_extraction(source, out, backend=chosen, workers=workers, **options)


def build_au_pool(config: Any = None, *, out: PathArg | None = None, **options: Any) -> Any:
    """AU triplets from real MiEs, early MaEs and expert rules (a :class:`miex.data.sources.PoolConfig`, or its
    fields as keywords); written to ``out`` when given. Returns the pool result (``.frame`` is the DataFrame)."""
    from miex.data.sources import PoolConfig, write_pool
    from miex.data.sources.pool import build_pool

    result = build_pool(config if config is not None else PoolConfig(**options))
    if out is not None:
        write_pool(result.frame, out, result.params)
    return result


def build_plan(
    faces: PathArg | pd.DataFrame,
    pool: PathArg | pd.DataFrame,
    config: Any = None,
    *,
    out: PathArg | None = None,
    **options: Any,
) -> Any:
    """The deterministic synthesis plan (one row per sample) from a face pool folder and an AU pool; written to
    ``out`` when given. ``config`` is a :class:`miex.data.plan.PlanConfig` (or its fields as keywords)."""
    from miex.data.plan import PlanConfig, load_faces, plan_samples, write_plan
    from miex.data.sources import read_pool

    face_table = faces if isinstance(faces, pd.DataFrame) else load_faces(faces)
    pool_table = pool if isinstance(pool, pd.DataFrame) else read_pool(pool)
    result = plan_samples(face_table, pool_table, config if config is not None else PlanConfig(**options))
    if out is not None:
        write_plan(result, out)
    return result


def load(path_or_repo: PathArg = "miex", *, split: str = "train", verify: bool = True, **options: Any) -> Any:
    """A MiE-X folder written by :func:`miex.synthesize` (or the Hub repo it was pushed to) as a
    ``datasets.Dataset``: exactly ``load_dataset(path_or_repo, split=split)``, after checking (``verify``) each shard
    of a local folder against its receipt, so a damaged shard is refused by name instead of failing at an image
    decode (:func:`miex.data.synthesis.verify.verify_shards`)."""
    from pathlib import Path

    from datasets import load_dataset

    if verify and Path(path_or_repo).is_dir():
        from miex.data.synthesis.verify import verify_shards

        verify_shards(path_or_repo)
    return load_dataset(str(path_or_repo), split=split, **options)
