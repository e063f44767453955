"""``--overwrite`` means one thing in every command (docs/reference.md §File contract), so its help is one sentence
that says, per command, which output it applies to and what it replaces."""

from __future__ import annotations

import argparse
import re

from miex.cli import COMMANDS, build_parser

HELP = re.compile(
    r"write to (--[a-z-]+) even when it holds something else, replacing (.+); "
    r"without it miex refuses such an output and changes nothing"
)
WRITES_NOTHING = {"push"}  # uploads a folder; writes no output of its own


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every option of ``parser`` and of its subcommands, by flag."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= _options(sub)
        found |= dict.fromkeys(action.option_strings, action)
    return found


def test_every_writing_command_declares_overwrite_through_the_one_helper() -> None:
    replaced = {}
    for command in COMMANDS:
        options = _options(build_parser(command.name))
        if command.name in WRITES_NOTHING:
            assert "--overwrite" not in options
            continue
        match = HELP.fullmatch(options["--overwrite"].help or "")
        assert match, (command.name, options["--overwrite"].help)
        assert match[1] in options, (command.name, match[1])  # names an output this command has
        replaced[command.name] = match[2]
    assert replaced["faces"] == "its crops/ and index.parquet"
    assert replaced["plan"] != replaced["au-pool"]  # each says what it writes, not a shared vague phrase
