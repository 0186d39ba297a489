"""``smstrio plan`` in-process."""

from __future__ import annotations

import json
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


def test_cli_plan_finds_the_fewest_workers(cli: Any) -> None:
    """plan: 100 constant 1 s messages within 10 s need exactly 10 workers; 9 were tried and failed."""
    code, out, errors = cli(
        "plan", "--messages", "100", "--target-duration", "10", "--mean", "1", "--distribution", "constant", "--json"
    )
    result = json.loads(out)
    assert (code, errors, result["workers"]) == (EXIT_OK, [], 10)
    assert {(t["workers"], t["passed"]) for t in result["trials"]} >= {(9, False), (10, True)}
    assert (result["summary"]["duration_s"], result["summary"]["senders"][0]["workers"]) == (10.0, 10)


def test_cli_plan_out_of_reach_exits_1(cli: Any) -> None:
    """plan exits 1, saying so in one line, when even --max-workers cannot meet the target."""
    code, out, errors = cli(
        "plan",
        *("--messages", "100", "--target-duration", "10", "--mean", "1", "--distribution", "constant"),
        *("--max-workers", "5"),
    )
    assert code == EXIT_FAILURE
    assert errors == ["smstrio: error: even 5 workers take 20 s > 10 s"]
    assert "✗ max_duration_s" in out
