"""What a terminal shows after some output: pyte, a terminal emulator, replays it; a command run on a
pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import termios
from collections.abc import Mapping
from pathlib import Path

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


def on_terminal(
    argv: list[str], *, cwd: Path, env: Mapping[str, str], columns: int = 120, lines: int = 40
) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a ``columns`` x ``lines`` pseudo-terminal; its exit code and
    everything it wrote there."""
    reader, writer = os.openpty()
    fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    with subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=writer, stderr=writer) as process:
        os.close(writer)
        output = b""
        try:
            while chunk := os.read(reader, 65536):
                output += chunk
        except OSError:  # EIO: the process closed the terminal's last writer
            pass
        finally:
            os.close(reader)
        code = process.wait(timeout=60)
    return code, output.decode()
