"""Validation reports: every problem found while reading a corpus is kept with its file, row, field and reason.

Default behaviour is to skip the offending clip and print all problems at the end; ``strict=True`` raises at the
first one. Nothing is dropped without a line in the report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from os import PathLike

import pandas as pd

from miex.core.errors import MiexInputError


@dataclass(frozen=True)
class Problem:
    """One reason a clip (or a row, or a file) was not taken."""

    reason: str
    file: str = ""
    row: int | None = None
    field: str = ""
    clip: str = ""
    kept: bool = False
    """True for a notice about a clip that was still taken (e.g. the MEGC2019 label overriding a sheet's emotion)."""


@dataclass
class ValidationReport:
    """Collects :class:`Problem` s; in strict mode the first one raises :class:`MiexInputError`."""

    strict: bool = False
    problems: list[Problem] = field(default_factory=list)

    def add(
        self,
        reason: str,
        *,
        file: str | PathLike[str] = "",
        row: int | None = None,
        field: str = "",
        clip: str = "",
    ) -> None:
        problem = Problem(reason=reason, file=str(file), row=row, field=field, clip=clip)
        if self.strict:
            raise MiexInputError(
                f"{reason}{f' (clip {clip})' if clip else ''} [--strict: fix the input or drop --strict to skip it]",
                file=problem.file or None,
                row=row,
                field=field or None,
            )
        self.problems.append(problem)

    def note(
        self,
        reason: str,
        *,
        file: str | PathLike[str] = "",
        row: int | None = None,
        field: str = "",
        clip: str = "",
    ) -> None:
        """Record a notice about a clip that is KEPT; never raises, even in strict mode (nothing was rejected)."""
        self.problems.append(Problem(reason=reason, file=str(file), row=row, field=field, clip=clip, kept=True))

    @property
    def skipped(self) -> list[Problem]:
        return [p for p in self.problems if not p.kept]

    @property
    def notes(self) -> list[Problem]:
        return [p for p in self.problems if p.kept]

    def extend(self, other: ValidationReport) -> None:
        self.problems.extend(other.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def __bool__(self) -> bool:  # a report object is always truthy; use len() for "any problems"
        return True

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [asdict(p) for p in self.problems], columns=["file", "row", "field", "clip", "reason", "kept"]
        )

    def render(self) -> str:
        if not self.problems:
            return "No problems found."
        lines: list[str] = []
        if self.skipped:
            lines.append(f"{len(self.skipped)} problem(s); the clips concerned were skipped:")
            lines.extend(_render_line(p) for p in self.skipped)
        if self.notes:
            lines.append(f"{len(self.notes)} note(s); the clips concerned were kept:")
            lines.extend(_render_line(p) for p in self.notes)
        return "\n".join(lines)


def _render_line(p: Problem) -> str:
    where = ", ".join(
        part for part in (p.file, f"row {p.row}" if p.row is not None else "", p.field and f"field {p.field}") if part
    )
    return f"  - {where}{' | ' if where else ''}{f'clip {p.clip}: ' if p.clip else ''}{p.reason}"
