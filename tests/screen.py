"""What a terminal shows after some output: pyte, a terminal emulator, replays it."""

from __future__ import annotations

import pyte
from pyte.modes import LNM


def screen(output: str, *, columns: int = 120, lines: int = 40) -> list[str]:
    """The rows a ``columns`` x ``lines`` terminal shows after ``output``, each without trailing blanks.

    A newline also returns the cursor to the first column, as a terminal's ``onlcr`` makes it.
    """
    terminal = pyte.Screen(columns, lines)
    terminal.set_mode(LNM)
    pyte.Stream(terminal).feed(output)
    return [row.rstrip() for row in terminal.display]
