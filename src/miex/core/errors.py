"""Errors that point at the exact place in a user's file that needs fixing."""

from __future__ import annotations

from os import PathLike


class MiexInputError(ValueError):
    """Bad user input: carries the file, row and field so the message says where to look."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | PathLike[str] | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = None if file is None else str(file)
        self.row = row
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = [
            part
            for part in (
                self.file,
                None if self.row is None else f"row {self.row}",
                None if self.field is None else f"field {self.field!r}",
            )
            if part
        ]
        return f"{': '.join([', '.join(where), self.reason]) if where else self.reason}"
