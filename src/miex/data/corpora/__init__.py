"""Readers that turn each real micro-/macro-expression corpus into one clip table (see :mod:`.clips`).

:data:`READERS` maps a corpus name to its reader ``reader(root, **options) -> Corpus(clips, report)``; the CLI and
other code look readers up there. Readers are imported lazily so importing this package stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from miex.core import lazy
from miex.data.corpora.clips import (
    CLIP_COLUMNS,
    Clip,
    clips_to_frame,
    read_clip_table,
    summarize_clips,
    write_clip_table,
)
from miex.data.corpora.common import Corpus
from miex.data.corpora.labels import canonical_emotion, emotion_to_label
from miex.data.corpora.sheets import open_sheet

_READER_PATHS: dict[str, str] = {
    "casme2": ".casme2:read_casme2",
    "samm": ".samm:read_samm",
    "smic": ".smic:read_smic",
    "megc2019": ".megc2019:read_megc2019",
    "ckplus": ".ckplus:read_ckplus",
    "mmew": ".mmew:read_mmew",
    "sequences": ".sequences:read_sequences",
    "faces": ".faces:read_faces",
    "flow-images": ".flow_images:read_flow_images",
}


class _Readers(Mapping[str, Callable[..., Corpus]]):
    """name -> reader function, importing the reader's module on first lookup."""

    def __getitem__(self, name: str) -> Callable[..., Corpus]:
        return lazy.load(_READER_PATHS[name], __name__)

    def __iter__(self) -> Iterator[str]:
        return iter(_READER_PATHS)

    def __len__(self) -> int:
        return len(_READER_PATHS)


READERS: Mapping[str, Callable[..., Corpus]] = _Readers()

__all__ = [
    "CLIP_COLUMNS",
    "READERS",
    "Clip",
    "Corpus",
    "canonical_emotion",
    "clips_to_frame",
    "emotion_to_label",
    "open_sheet",
    "read_clip_table",
    "summarize_clips",
    "write_clip_table",
]
