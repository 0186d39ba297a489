"""What the CLI tier's tests share: running ``smstrio.main`` in-process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smstrio.cli import EXIT_FAILURE, EXIT_OK, main


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Run ``smstrio.main(argv)`` in a clean directory; return (exit code, stdout, stderr lines not JSON)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    root = logging.getLogger("smstrio")
    saved = (list(root.handlers), root.level, root.propagate)

    def run(*argv: str) -> tuple[int, str, list[str]]:
        try:
            main(list(argv))
            code = EXIT_OK
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else EXIT_FAILURE
        out, err = capsys.readouterr()
        return code, out, [line for line in err.splitlines() if not line.startswith("{")]

    yield run
    root.handlers[:], root.level, root.propagate = saved
