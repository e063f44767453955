"""Every failure of a command reaches the user as one line and an exit code, never a traceback."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest

from miex.cli import run_reporting_errors
from miex.core.errors import MiexInputError


def _raise(error: BaseException) -> Callable[[], int]:
    def run() -> int:
        raise error

    return run


@pytest.mark.parametrize(
    ("error", "code", "expected"),
    [
        (
            MiexInputError("label 7 is not 0, 1 or 2", file="plan.parquet", row=3, field="label"),
            2,
            "miex plan: error: plan.parquet, row 3, field 'label': label 7 is not 0, 1 or 2",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "miex/data/x.parquet"),
            1,
            "the disk is full (miex/data/x.parquet); free space and run the same command again",
        ),
        (OSError(errno.EROFS, "Read-only file system", "/ro/plan.parquet"), 1, "read-only (/ro/plan.parquet)"),
        (KeyboardInterrupt(), 130, "miex plan: interrupted; nothing was finished"),
        (RuntimeError("boom\nsecond line"), 1, "miex plan: internal error: RuntimeError: boom"),
    ],
)
def test_failures_become_one_line_and_an_exit_code(
    error: BaseException, code: int, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_reporting_errors("miex plan", _raise(error), verbose=False, interrupted="nothing was finished") == code
    captured = capsys.readouterr()
    assert expected in captured.err and "Traceback" not in captured.err and "second line" not in captured.err
    assert captured.out == ""


def test_verbose_shows_the_traceback_of_unexpected_errors() -> None:
    with pytest.raises(RuntimeError):
        run_reporting_errors("miex plan", _raise(RuntimeError("boom")), verbose=True, interrupted="")


def test_the_command_line_reports_an_interrupted_resumable_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from miex.cli import main
    from miex.cli import synthesize as command

    monkeypatch.setattr(command, "run", lambda args: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert main(["synthesize", "--out", "x"]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err


def test_every_command_help_ends_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    from miex.cli import COMMANDS, main

    for command in COMMANDS:
        with pytest.raises(SystemExit) as done:
            main([command.name, "--help"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        examples = text[text.index("\nexamples") :] if "\nexamples" in text else ""
        assert any(line.strip().startswith(("miex ", "accelerate ", "torchrun ")) for line in examples.splitlines()), (
            command.name
        )
