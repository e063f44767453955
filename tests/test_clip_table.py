"""The clip table is declared once (the fields of ``Clip``): the parquet it writes, its column lists and the
reference's table all follow from that declaration, and the bytes of a written table stay as they were."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from miex.core.paths import with_paths_rule
from miex.data.corpora.clips import (
    APEX_SOURCE,
    CLIP_COLUMNS,
    TABLE_COLUMNS,
    Clip,
    clips_to_frame,
    columns_markdown,
    read_clip_table,
    write_clip_table,
)

ROOT = Path(__file__).resolve().parents[1]

WRITTEN_SCHEMA = pa.schema(
    [
        pa.field("dataset", pa.string()),
        pa.field("subject", pa.string()),
        pa.field("clip", pa.string()),
        pa.field("frames", pa.list_(pa.string())),
        pa.field("frame_numbers", pa.list_(pa.int64())),
        pa.field("onset", pa.int32()),
        pa.field("apex", pa.int32()),
        pa.field("offset", pa.int32()),
        pa.field("emotion", pa.string()),
        pa.field("label", pa.int8()),
        pa.field("fps", pa.float32()),
        pa.field("aus", pa.string()),
        pa.field("expression", pa.string()),
        pa.field("apex_source", pa.string()),
    ],
    metadata={b"miex.table": b"clips"},
)
"""The schema clip tables have always been written with: tables made before stay readable, and equal clips give
equal files."""


def two_clips() -> list[Clip]:
    return [
        Clip("smic", "s1", "s1_ne_01", ["/corpus/s1/a.bmp"], [5], 0, 0, 0, "negative", 0, 100.0),
        Clip(
            "casme2",
            "sub01",
            "EP01",
            ["/corpus/sub01/img1.jpg", "/corpus/sub01/img2.jpg"],
            [1, 2],
            0,
            1,
            1,
            "happiness",
            1,
            200.0,
            "12",
            "micro",
            "annotated",
        ),
    ]


def test_a_written_clip_table_has_the_bytes_of_the_schema_tables_were_always_written_with(tmp_path: Path) -> None:
    frame = clips_to_frame(two_clips())
    written = write_clip_table(frame, tmp_path / "clips.parquet", holds="flow-images")

    metadata = {**with_paths_rule(WRITTEN_SCHEMA.metadata), b"miex.input": b"flow-images"}
    expected = pa.Table.from_pandas(frame, schema=WRITTEN_SCHEMA.with_metadata(metadata), preserve_index=False)
    pq.write_table(expected, tmp_path / "expected.parquet", write_page_checksum=True)

    assert {key: pq.read_schema(written).metadata[key] for key in metadata} == metadata
    assert written.read_bytes() == (tmp_path / "expected.parquet").read_bytes()


def test_every_column_is_a_clip_field_and_the_optional_one_may_be_left_out(tmp_path: Path) -> None:
    assert tuple(WRITTEN_SCHEMA.names) == TABLE_COLUMNS
    assert (*CLIP_COLUMNS, APEX_SOURCE) == TABLE_COLUMNS
    frame = clips_to_frame(two_clips()).drop(columns=[APEX_SOURCE])
    table = read_clip_table(write_clip_table(frame, tmp_path / "clips.parquet"))
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table[APEX_SOURCE]) == ["", ""]
    assert [(clip, list(frames)) for clip, frames in zip(table["clip"], table["frames"], strict=True)] == [
        ("EP01", ["/corpus/sub01/img1.jpg", "/corpus/sub01/img2.jpg"]),
        ("s1_ne_01", ["/corpus/s1/a.bmp"]),
    ]


def test_the_reference_and_the_docstring_list_the_declared_columns() -> None:
    reference = (ROOT / "docs/reference.md").read_text(encoding="utf-8")
    assert columns_markdown() in reference
    documented = [line.split("`")[1] for line in columns_markdown().splitlines()[2:]]
    assert documented == list(TABLE_COLUMNS)
    assert all(f"``{name}``" in (Clip.__doc__ or "") for name in TABLE_COLUMNS)
