"""Make sure ``.env`` holds real passwords before compose starts a container: ``dotenv.py [--env F] [--example F]``.

Without ``.env``, writes one from ``.env.example`` with every ``change-me`` value on an uncommented
line replaced by its own random password (``secrets.token_urlsafe``: letters, digits, ``-`` and
``_``, so it fits a URL as it is), creating the file with mode 0600 and never over an existing one,
and says so in one line on stderr. An existing ``.env`` is never changed: if an uncommented line
still holds ``change-me``, one line on stderr says so and the exit code is 1.

Exit 0: ``.env`` is ready. Stdlib only, so any Python 3 runs it (``just up`` uses ``python3``).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

PLACEHOLDER = "change-me"
PASSWORD_BYTES = 24
"""Random bytes per password: 32 characters of ``token_urlsafe``, 192 bits."""
_SETS_PLACEHOLDER = re.compile(rf"^[^#]*{re.escape(PLACEHOLDER)}")
"""A placeholder before any ``#``: the line sets a value to it."""


def _password(_: re.Match[str]) -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def with_passwords(example: str) -> str:
    """``example`` with each placeholder on an uncommented line replaced by a fresh random password."""
    lines = example.splitlines(keepends=True)
    return "".join(
        line if line.lstrip().startswith("#") else re.sub(re.escape(PLACEHOLDER), _password, line) for line in lines
    )


def has_placeholder(text: str) -> bool:
    """Whether a line of ``text`` still sets a value to the placeholder."""
    return any(_SETS_PLACEHOLDER.match(line) for line in text.splitlines())


def write_new(path: Path, text: str) -> bool:
    """Create ``path`` with mode 0600 holding ``text``; ``False`` (and nothing written) if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, 0o600)  # whatever the umask
        file.write(text)
    return True


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", type=Path, default=Path(".env"), help="the file compose reads")
    parser.add_argument("--example", type=Path, default=Path(".env.example"), help="the template with placeholders")
    args = parser.parse_args(argv)
    if not args.env.exists() and write_new(args.env, with_passwords(args.example.read_text())):
        print(
            f"wrote {args.env} from {args.example} with random passwords (mode 0600); keep it: "
            "RabbitMQ's data volume keeps its first password",
            file=sys.stderr,
        )
        return 0
    if has_placeholder(args.env.read_text()):
        print(f"{args.env} still holds {PLACEHOLDER} placeholders: set real passwords", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
