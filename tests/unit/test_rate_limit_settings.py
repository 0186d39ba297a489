"""The rate-limit settings of ``smstrio send``: validation, the prefetch they imply, their share per child process."""

from __future__ import annotations

from typing import Any

import pytest

from smstrio.cli._processes import child_arguments, child_environment
from smstrio.core.config import Common, SenderSettings
from smstrio.core.errors import ConfigError
from smstrio.core.gateway import GatewaySettings


def _settings(**fields: Any) -> SenderSettings:
    return SenderSettings(common=Common(), **fields)


@pytest.mark.parametrize("field", ["rate_limit", "fleet_rate_limit"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("inf"), float("nan"), 2e6])
def test_a_limit_that_is_no_limit_is_a_usage_error(field: str, value: float) -> None:
    """A rate limit must be a positive finite number of messages a second, at most 1,000,000."""
    with pytest.raises(ConfigError, match="rate limit must be > 0"):
        _settings(**{field: value})


@pytest.mark.parametrize(
    ("fields", "prefetch"),
    [
        ({"workers": 20}, 40),  # no limit: twice the workers
        ({"workers": 20, "mean": 0.0, "rate_limit": 100.0}, 25),  # a quarter second of the limit
        ({"workers": 20, "mean": 0.5, "fleet_rate_limit": 40.0}, 30),  # 0.75 s of the limit
        ({"workers": 20, "mean": 0.5, "rate_limit": 1000.0, "fleet_rate_limit": 40.0}, 30),  # the tighter one
        ({"workers": 20, "mean": 2.0, "rate_limit": 1000.0}, 40),  # never above twice the workers
        ({"workers": 20, "mean": 0.0, "rate_limit": 0.5}, 1),  # one at least
        ({"workers": 20, "rate_limit": 1.0, "prefetch": 7}, 7),  # --prefetch wins
        (
            {"workers": 100, "rate_limit": 10.0, "gateway": GatewaySettings(kind="http", url="http://x/", timeout=3)},
            33,  # HTTP: its timeout bounds a request
        ),
    ],
)
def test_the_default_prefetch_follows_the_limit(fields: dict[str, Any], prefetch: int) -> None:
    """Under a limit the default prefetch holds one send time plus 0.25 s of the limit, within 1..2 x workers."""
    assert _settings(**fields).effective_prefetch == prefetch


def test_children_share_the_commands_rate_limit() -> None:
    """send --processes 4 --rate-limit 100: each child runs with RATE_LIMIT=25 and without both flags."""
    argv = ["send", "--processes", "4", "--rate-limit", "100", "--fleet-rate-limit=300", "--rate-limit=100", "-w", "2"]
    env = child_environment(_settings(processes=4, rate_limit=100.0))
    assert child_arguments(argv) == ["send", "--fleet-rate-limit=300", "-w", "2"]
    assert (env["RATE_LIMIT"], env["SENDER_PROCESSES"]) == ("25.0", "1")
