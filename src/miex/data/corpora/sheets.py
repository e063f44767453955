"""Coding sheets (xlsx) read by column NAME, shared by the CASME II, SAMM and MMEW readers.

Real sheets differ in spacing (``OnsetFrame`` vs ``Onset Frame``), have blank columns (CASME II) and preamble rows
(SAMM: 13 rows before the header), so columns are matched after removing spaces and case, the header row is found by
its names, and every row keeps its 1-based number as Excel shows it, so a report can say where to look.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from miex.core.errors import MiexInputError
from miex.core.fileio import first_line

HEADER_SEARCH_ROWS = 40
"""How many leading rows may precede the header (SAMM has 13)."""


def column_key(name: object) -> str:
    """``' Onset Frame'`` and ``'OnsetFrame'`` -> ``'onsetframe'``: the spelling-independent column key."""
    return "".join(str(name).split()).lower()


@dataclass(frozen=True)
class SheetRow:
    """One data row: ``row`` is the Excel row number; ``values`` maps column keys to raw cell values."""

    row: int
    values: dict[str, Any]

    def get(self, key: str) -> Any:
        return self.values.get(column_key(key))


@dataclass(frozen=True)
class Sheet:
    path: Path
    header_row: int
    headers: dict[str, str]
    """column key -> the header as written in the sheet (used to name the field in reports)."""
    rows: list[SheetRow]

    def header(self, key: str) -> str:
        return self.headers.get(column_key(key), key)

    def __iter__(self) -> Iterator[SheetRow]:
        return iter(self.rows)


def open_sheet(
    path: str | PathLike[str], *, required: Sequence[str], sheet: str | int = 0, option: str = "--sheet"
) -> Sheet:
    """Read one worksheet: find the header row holding all ``required`` columns, return the non-blank rows below it.

    ``sheet`` is a worksheet name or a 0-based index. A missing file, worksheet or column raises
    :class:`MiexInputError` naming it: the reader cannot do anything sensible without them. ``option`` is the
    command-line flag that gives the sheet, named in those errors.
    """
    import openpyxl

    path = Path(path)
    if path.is_dir():
        raise MiexInputError(f"coding sheet is a folder; pass the .xlsx file with {option}", file=path)
    if not path.is_file():
        raise MiexInputError(f"coding sheet not found (pass its path with {option})", file=path)
    try:
        workbook = openpyxl.load_workbook(path, data_only=True)
    except Exception as error:  # openpyxl raises several unrelated types for a non-xlsx file
        reason = first_line(error)
        raise MiexInputError(
            f"cannot read as an xlsx workbook ({reason}); pass the release's .xlsx coding sheet with {option} "
            "(not a CSV, .xls or text export)",
            file=path,
        ) from error
    try:
        worksheet = workbook[sheet] if isinstance(sheet, str) else workbook.worksheets[sheet]
    except (KeyError, IndexError) as error:
        raise MiexInputError(f"no worksheet {sheet!r}; the workbook has {workbook.sheetnames}", file=path) from error
    table = [list(values) for values in worksheet.iter_rows(min_row=1, values_only=True)]
    workbook.close()
    header_index = _find_header(table, required, path, sheet)
    headers = {column_key(cell): str(cell).strip() for cell in table[header_index] if _filled(cell)}
    keys = [column_key(cell) if _filled(cell) else None for cell in table[header_index]]
    rows = [
        SheetRow(row=number, values={key: value for key, value in zip(keys, values, strict=False) if key})
        for number, values in enumerate(table[header_index + 1 :], start=header_index + 2)
        if any(_filled(value) for value in values)
    ]
    return Sheet(path=path, header_row=header_index + 1, headers=headers, rows=rows)


def _filled(value: object) -> bool:
    return value is not None and str(value).strip() != ""


def _find_header(table: list[list[Any]], required: Sequence[str], path: Path, sheet: str | int) -> int:
    wanted = {column_key(name) for name in required}
    for index, values in enumerate(table[:HEADER_SEARCH_ROWS]):
        if wanted <= {column_key(v) for v in values if _filled(v)}:
            return index
    where = f"worksheet {sheet!r}" if isinstance(sheet, str) else f"worksheet {sheet + 1}"
    raise MiexInputError(
        f"no header row with columns {list(required)} in the first {HEADER_SEARCH_ROWS} rows of {where}: is this "
        "the coding sheet of this corpus?",
        file=path,
    )


def utf8_csv_text(path: Path, advice: str) -> str:
    """A CSV file as text; UTF-16 (Excel's "Unicode Text") or binary content is refused, ending with ``advice``
    (how to save it)."""
    raw = path.read_bytes()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\0" in raw[:4096]:
        raise MiexInputError(f"not a UTF-8 text CSV (UTF-16 or binary content); {advice}", file=path)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise MiexInputError(
            f"not UTF-8 text (undecodable byte at offset {error.start}); {advice}", file=path
        ) from error


def cell_text(value: object) -> str:
    """Cell -> stripped text; integral floats (openpyxl reads ``12`` typed as a number as 12 or 12.0) lose ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def cell_int(value: object) -> int | None:
    """Frame-number cell -> int; None for ``'/'``, empty, or anything that is not a whole number."""
    text = cell_text(value)
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


_AU_SEPARATORS = re.compile(r"[+,;\s]+")


def normalize_aus(value: object) -> str:
    """FACS cell -> ``'4+L10+R12'``: numbers lose ``.0``, separators become ``+``, codes such as ``'?'`` are kept.

    CASME II mixes int cells (``4``) and strings (``'4+L10'``, ``'R12'``, ``'?'``); keeping the coder's text
    (laterality, uncertainty) loses nothing, and :func:`au_numbers` extracts what a program needs.
    """
    text = cell_text(value)
    return "+".join(part for part in _AU_SEPARATORS.split(text) if part)


def au_numbers(aus: str) -> list[int]:
    """AU numbers of a FACS string in order, without side prefixes or intensity letters: ``'4+L10'`` -> [4, 10]."""
    return [int(match) for match in re.findall(r"(?<!\d)(\d{1,3})(?!\d)", aus)]
