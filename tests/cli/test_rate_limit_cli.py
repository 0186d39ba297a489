"""CLI tier: the rate-limit flags of ``smstrio send``, bad input."""

from __future__ import annotations

from typing import Any

import pytest

from smstrio.cli import EXIT_USAGE


@pytest.mark.parametrize(
    ("argv", "env", "line"),
    [
        (["--rate-limit", "0"], {}, "smstrio: error: rate limit must be > 0 and at most 1,000,000"),
        (["--fleet-rate-limit", "-5"], {}, "smstrio: error: fleet rate limit must be > 0 and at most 1,000,000"),
        ([], {"RATE_LIMIT": "fast"}, "smstrio: error: RATE_LIMIT='fast': could not convert string to float"),
        ([], {"FLEET_RATE_LIMIT": "inf"}, "smstrio: error: fleet rate limit must be > 0"),
    ],
)
def test_a_bad_rate_limit_exits_2_with_one_line(
    cli: Any, monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], line: str
) -> None:
    """A rate limit that is not a positive number of messages a second, by flag or variable: exit 2, one line."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code, out, err = cli("send", *argv)
    assert (code, out) == (EXIT_USAGE, "")
    assert len(err) == 1
    assert err[0].startswith(line), err
