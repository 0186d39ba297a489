"""``--help`` of every command: each default shown once. cyclopts prints ``[default: X]`` for a
parameter with a default of its own, so a help text that also spells that default shows it twice."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from smstrio.cli import app

COMMANDS = sorted(name for name in app if not name.startswith("-"))
DEFAULT = re.compile(r"\bdefault\b")


def help_rows(*command: str) -> list[str]:
    """The rows of ``smstrio COMMAND --help``'s panels, one line each (the console is too wide to wrap)."""
    console = Console(file=io.StringIO(), width=1000, color_system=None)
    app.help_print(list(command), console=console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return [line.strip("│ ") for line in text.splitlines() if line.startswith("│")]


@pytest.mark.parametrize("command", [(), *((name,) for name in COMMANDS)], ids=["smstrio", *COMMANDS])
def test_help_shows_each_default_at_most_once(command: tuple[str, ...]) -> None:
    """No row of `smstrio [COMMAND] --help` names its default twice."""
    rows = help_rows(*command)
    assert rows
    assert [row for row in rows if len(DEFAULT.findall(row)) > 1] == []


@pytest.mark.parametrize(
    ("command", "flag", "default"),
    [
        ("plan", "--failure-rate", "0.1"),
        ("plan", "--distribution", "exponential"),
        ("plan", "--max-workers", "10000"),
        ("dead", "--limit", "100"),
    ],
)
def test_help_keeps_the_default_cyclopts_shows(command: str, flag: str, default: str) -> None:
    """Where a help text spelled the default beside cyclopts's, the one left is cyclopts's `[default: X]`."""
    (row,) = [row for row in help_rows(command) if re.match(rf"\*?\s*{flag}\b", row)]
    assert row.endswith(f"[default: {default}]")
    assert len(DEFAULT.findall(row)) == 1
