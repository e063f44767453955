"""The clip table: one row per annotated clip of a real corpus, the common output of every corpus reader.

Its columns are declared once, as the fields of :class:`Clip` (:func:`column`: the value's Arrow type and what it
means); :data:`CLIP_COLUMNS`, :func:`clip_table_schema`, ``Clip``'s docstring and the table in docs/reference.md
§Corpora (:func:`columns_markdown`) are derived from them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import Field, asdict, dataclass, field, fields
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from miex.core.errors import MiexInputError
from miex.core.fileio import atomic_path, read_parquet
from miex.core.paths import absolute, resolve_paths, store_paths, with_paths_rule
from miex.core.report import ValidationReport
from miex.data.aus.schema import LABEL_NAMES, NO_LABEL
from miex.data.corpora.labels import label_name

ARROW_TYPE, MEANING, OPTIONAL = "arrow_type", "meaning", "optional"
"""Metadata keys of a clip-table column (:func:`column`)."""


def column(arrow_type: pa.DataType, meaning: str, default: Any = ..., *, optional: bool = False) -> Any:
    """A :class:`Clip` field that is a column of the clip table, stored as ``arrow_type``; ``meaning`` documents it
    (reStructuredText, as docstrings write it). ``optional``: a text column that a frame given to
    :func:`write_clip_table` may omit (written as '')."""
    metadata = {ARROW_TYPE: arrow_type, MEANING: meaning, OPTIONAL: optional}
    return field(metadata=metadata) if default is ... else field(default=default, metadata=metadata)


APEX_SOURCES: dict[str, str] = {
    "annotated": "the corpus's own coding sheet",
    "apex-sheet": "an apex sheet the user gave (SMIC: --apex-sheet / --smic-apex-sheet)",
    "middle": "the middle frame: no apex annotation (SMIC), or --apex-fallback middle",
    "fraction": "a fixed fraction of the clip (SMIC --apex F)",
    "last": "the last frame: a posed sequence's peak (CK+, macro-expression folders)",
}
"""Values of ``apex_source`` and what each means."""


@dataclass
class Clip:
    dataset: str = column(
        pa.string(),
        "corpus key (``casme2``, ``samm``, ``smic``, ``ckplus``, ``mmew``, or a user name for sequence folders)",
    )
    subject: str = column(
        pa.string(),
        "the subject as named by the corpus FOLDER (``sub01``, ``006``, ``s1``, ``S005``), unique within a dataset; "
        "folds and the synthetic-sample fold filter key on ``(dataset, subject)``",
    )
    clip: str = column(pa.string(), "the clip's folder name (unique within dataset and subject)")
    frames: list[str] = column(  # noqa: RUF009 - column() is dataclasses.field with metadata
        pa.list_(pa.string()), "ordered frame file paths (the reader's root joined with the release's relative paths)"
    )
    frame_numbers: list[int] = column(  # noqa: RUF009 - column() is dataclasses.field with metadata
        pa.list_(pa.int64()), "the absolute frame number of each entry of ``frames``"
    )
    onset: int = column(pa.int32(), "0-based INDEX into ``frames`` (not a frame number) of the onset")
    apex: int = column(pa.int32(), "0-based INDEX into ``frames`` of the apex")
    offset: int = column(pa.int32(), "0-based INDEX into ``frames`` of the offset")
    emotion: str = column(
        pa.string(), "the corpus's native label, canonical spelling (see :mod:`miex.data.corpora.labels`)"
    )
    label: int = column(
        pa.int8(), "3-class label (0 negative, 1 positive, 2 surprise; -1 when the emotion has no 3-class counterpart)"
    )
    fps: float = column(pa.float32(), "recording frame rate")
    aus: str = column(pa.string(), "the FACS string of the corpus ('' when it has none)", "")
    expression: str = column(pa.string(), "``micro`` or ``macro``", "micro")
    apex_source: str = column(
        pa.string(),
        f"how ``apex`` was chosen: {', '.join(f'``{name}``' for name in APEX_SOURCES)}, "
        "or '' when the reader does not say",
        "",
        optional=True,
    )

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.dataset, self.subject, self.clip)


TABLE_FIELDS: tuple[Field[Any], ...] = fields(Clip)
"""The clip table's columns, in order: the fields of :class:`Clip`."""
CLIP_COLUMNS: tuple[str, ...] = tuple(item.name for item in TABLE_FIELDS if not item.metadata[OPTIONAL])
"""The columns of a clip table that every corpus reader fills."""
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(item.name for item in TABLE_FIELDS if item.metadata[OPTIONAL])
"""The columns a frame given to :func:`write_clip_table` may omit."""
APEX_SOURCE = "apex_source"
"""The column saying how ``apex`` was chosen (:data:`APEX_SOURCES`)."""
TABLE_COLUMNS: tuple[str, ...] = tuple(item.name for item in TABLE_FIELDS)
"""Every column of a clip table, in order."""
Clip.__doc__ = "One row of the clip table.\n\nColumns:\n\n" + "\n".join(
    f"- ``{item.name}``: {item.metadata[MEANING]}" for item in TABLE_FIELDS
)


def columns_markdown() -> str:
    """The clip table's columns as the Markdown table of docs/reference.md §Corpora."""
    rows = ["| column | type | meaning |", "|---|---|---|"]
    for item in TABLE_FIELDS:
        meaning = re.sub(r":\w+:`", "`", item.metadata[MEANING].replace("``", "`"))
        rows.append(f"| `{item.name}` | `{item.metadata[ARROW_TYPE]}` | {meaning} |")
    return "\n".join(rows)


LABELS: tuple[int, ...] = (*range(len(LABEL_NAMES)), NO_LABEL)
"""The values of ``label``: the 3-class ids and :data:`NO_LABEL`."""


def clip_table_schema() -> pa.Schema:
    return pa.schema(
        [pa.field(item.name, item.metadata[ARROW_TYPE]) for item in TABLE_FIELDS], metadata={b"miex.table": b"clips"}
    )


def clips_to_frame(clips: Iterable[Clip]) -> pd.DataFrame:
    """Clips -> clip table DataFrame, sorted by (dataset, subject, clip) so output is deterministic."""
    frame = pd.DataFrame([asdict(clip) for clip in clips], columns=list(TABLE_COLUMNS))
    return frame.sort_values(["dataset", "subject", "clip"], kind="stable").reset_index(drop=True)


def duplicate_keys(frame: pd.DataFrame) -> list[tuple[str, str, str]]:
    dup = frame.duplicated(["dataset", "subject", "clip"], keep=False)
    return sorted({tuple(x) for x in frame.loc[dup, ["dataset", "subject", "clip"]].itertuples(index=False)})


FRAMES, FLOW_IMAGES = "frames", "flow-images"
TABLE_INPUTS: tuple[str, ...] = (FRAMES, FLOW_IMAGES)
"""What a clip table's ``frames`` hold: video frames (onset, apex, ... indexed by ``onset``/``apex``), or one
composite flow image per clip (:mod:`miex.data.corpora.flow_images`). Stored in the parquet metadata."""
INPUT_KEY = b"miex.input"


def write_clip_table(frame: pd.DataFrame, path: str | PathLike[str], *, holds: str = FRAMES) -> Path:
    """Write a clip table as parquet (atomic rename). Duplicate (dataset, subject, clip) keys are an error.
    ``holds`` says what the frame paths are (:data:`TABLE_INPUTS`).

    Frame paths (relative to the current folder, or absolute) are stored by the rule of :mod:`miex.core.paths`:
    relative to the table's folder when inside it, else absolute, so the table works from any folder."""
    duplicates = duplicate_keys(frame)
    if duplicates:
        raise MiexInputError(f"duplicate clips in clip table: {duplicates[:5]}", file=path)
    path = Path(path)
    stored = frame[list(CLIP_COLUMNS)].assign(frames=[store_paths(frames, path.parent) for frames in frame["frames"]])
    for name in OPTIONAL_COLUMNS:
        stored[name] = frame[name].fillna("").astype(str) if name in frame else ""
    if holds not in TABLE_INPUTS:
        raise ValueError(f"holds must be one of {TABLE_INPUTS}, got {holds!r}")
    schema = clip_table_schema()
    schema = schema.with_metadata({**with_paths_rule(schema.metadata), INPUT_KEY: holds.encode()})
    arrow = pa.Table.from_pandas(stored, schema=schema, preserve_index=False)
    with atomic_path(path) as temporary:
        pq.write_table(arrow, temporary, write_page_checksum=True)
    return path


def read_clip_table(path: str | PathLike[str]) -> pd.DataFrame:
    """Read a clip table; missing columns are an error that names them. ``frames`` come back absolute, resolved
    against the table's folder."""
    path = Path(path)
    if not path.is_file():
        raise MiexInputError("clip table not found (make one with `miex corpus ...`)", file=path)
    arrow = read_parquet(path, "clip table")
    frame = arrow.to_pandas()
    missing = [c for c in TABLE_COLUMNS if c not in frame.columns]
    if missing:
        raise MiexInputError(f"not a clip table: missing columns {missing}", file=path)
    frame["frames"] = [resolve_paths(frames, path.parent) for frames in frame["frames"]]
    frame["frame_numbers"] = frame["frame_numbers"].map(lambda values: [int(v) for v in values])
    check_clip_rows(frame, path)
    return frame


def check_clip_rows(frame: pd.DataFrame, path: str | PathLike[str]) -> None:
    """Refuse, naming ``path``, the row and the field, what would silently become wrong data downstream: a clip
    listed twice (both rows would take the AUs of one clip's frames) and a label that is not a class id."""
    frame = frame.reset_index(drop=True)
    keys = frame[["dataset", "subject", "clip"]].astype(str)
    repeated = keys.duplicated()
    if repeated.any():
        later = int(np.flatnonzero(repeated.to_numpy())[0])
        first = int(np.flatnonzero((keys == keys.iloc[later]).all(axis=1).to_numpy())[0])
        name = "/".join(keys.iloc[later])
        raise MiexInputError(
            f"clip {name} is listed twice (rows {first} and {later}): one row per clip (dataset, subject, clip); "
            "remove one, or re-create the table with `miex corpus`",
            file=path,
            row=later,
            field="clip",
        )
    for row, value in enumerate(frame["label"]):
        integral = isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)
        if not integral or int(value) not in LABELS:
            raise MiexInputError(
                f"label {value!r} is not a class id: expected 0 (negative), 1 (positive), 2 (surprise) or "
                f"{NO_LABEL} (no 3-class label)",
                file=path,
                row=row,
                field="label",
            )


def table_holds(path: str | PathLike[str]) -> str:
    """What the clip table at ``path`` holds: ``frames`` (every table written before flow images existed) or
    ``flow-images``."""
    metadata = pq.read_schema(path).metadata or {}
    return metadata.get(INPUT_KEY, FRAMES.encode()).decode()


def check_clip_frames(
    clip: Clip, report: ValidationReport, *, file: str | PathLike[str] = "", row: int | None = None
) -> bool:
    """Shared checks every reader runs: non-empty, indices ordered and in range, every frame file on disk."""
    name = f"{clip.subject}/{clip.clip}"
    if not clip.frames:
        report.add("no frame files found for this clip", file=file, row=row, field="frames", clip=name)
        return False
    if not (0 <= clip.onset <= clip.apex <= clip.offset < len(clip.frames)):
        report.add(
            f"need onset <= apex <= offset within the clip's {len(clip.frames)} frames; got frame numbers "
            f"onset {_number(clip, clip.onset)}, apex {_number(clip, clip.apex)}, offset {_number(clip, clip.offset)}",
            file=file,
            row=row,
            field="ApexFrame",
            clip=name,
        )
        return False
    missing = [absolute(frame) for frame in clip.frames if not Path(frame).is_file()]
    if missing:
        more = f" ({len(missing) - 1} more frame(s) of this clip missing too)" if len(missing) > 1 else ""
        report.add(f"frame {missing[0]} not found{more}", file=file, row=row, field="frames", clip=name)
        return False
    return True


def _number(clip: Clip, index: int) -> str:
    return str(clip.frame_numbers[index]) if 0 <= index < len(clip.frame_numbers) else f"index {index}"


def index_of_frame(frame_numbers: Sequence[int], number: int) -> int:
    """Index in the clip of absolute frame ``number``; -1 when the clip has no such frame."""
    try:
        return list(frame_numbers).index(number)
    except ValueError:
        return -1


def summarize_clips(frame: pd.DataFrame) -> str:
    """Clips per dataset and class, and subjects per dataset: the numbers a researcher checks first."""
    if frame.empty:
        return "0 clips."
    labels = frame["label"].map(lambda value: label_name(int(value)))
    counts = pd.crosstab(frame["dataset"], labels, margins=True, margins_name="total")
    ordered = [c for c in ("negative", "positive", "surprise", "none") if c in counts.columns] + ["total"]
    counts = counts[ordered]
    subjects = frame.groupby("dataset")["subject"].nunique()
    counts["subjects"] = [*subjects.reindex(counts.index[:-1]).tolist(), int(subjects.sum())]
    unlabelled = int((frame["label"] == NO_LABEL).sum())
    lines = [counts.to_string(), "", f"{len(frame)} clips, {int(subjects.sum())} subjects"]
    if unlabelled:
        lines.append(f"{unlabelled} clip(s) have no 3-class label (label -1): kept, excluded from 3-class training")
    guessed = frame[frame[APEX_SOURCE].isin(("middle", "fraction"))] if APEX_SOURCE in frame else frame.iloc[:0]
    if len(guessed):
        per = ", ".join(f"{d} {n}" for d, n in guessed["dataset"].value_counts().sort_index().items())
        lines.append(
            f"{len(guessed)} clip(s) have no annotated apex ({per}): apex = the middle frame or a fixed "
            "fraction of the clip (column apex_source; for SMIC, an apex sheet gives real ones: "
            "--apex-sheet, or --smic-apex-sheet for megc2019)"
        )
    return "\n".join(lines)
