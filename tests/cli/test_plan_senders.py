"""``smstrio plan`` in-process over its senders: several profiles scaled together or one by name, and rate limits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from smstrio.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

PROFILES = ("--sender", "workers=3,mean=0.5,name=fast", "--sender", "workers=1,mean=2,distribution=normal,name=slow")
PROFILES_TOML = """
messages = 1000
seed = 11
[thresholds]
max_duration_s = 30
[[senders]]
name = "fast"
workers = 3
mean = 0.5
[[senders]]
name = "slow"
workers = 1
mean = 2
distribution = "normal"
"""


def test_cli_plan_scales_every_profile_by_one_factor(cli: Any) -> None:
    """--sender profiles scale together, shared as given: 22 workers, 16 fast and 6 slow."""
    code, out, errors = cli("plan", "--messages", "1000", "--target-duration", "30", *PROFILES, "--seed", "11")
    assert (code, errors) == (EXIT_OK, [])
    assert out.startswith("22 workers = fast 16 + slow 6: the fewest that process 1000 messages within 30 s")
    assert "\n  fast  slow  workers  by  " in out


def test_cli_plan_scales_one_named_profile(cli: Any) -> None:
    """--scale slow: only the slow profile's workers change; the JSON names the scaled profile and each one's."""
    argv = ("--messages", "1000", "--target-duration", "30", *PROFILES, "--seed", "11", "--no-verify", "--json")
    code, out, errors = cli("plan", *argv, "--scale", "slow")
    result = json.loads(out)
    assert (code, errors, result["workers"], result["senders"], result["scale"]) == (
        EXIT_OK,
        [],
        65,
        {"fast": 3, "slow": 62},
        "slow",
    )
    assert {t["senders"]["fast"] for t in result["trials"]} == {3}


def test_cli_plan_takes_profiles_and_question_from_a_scenario_file(cli: Any, tmp_path: Path) -> None:
    """--scenario FILE.toml: its profiles, seed and question (messages, max_duration_s) give the same answer."""
    (tmp_path / "campaign.toml").write_text(PROFILES_TOML)
    code, out, errors = cli("plan", "--scenario", "campaign.toml", "--no-verify", "--json")
    result = json.loads(out)
    assert (code, errors, result["workers"], result["senders"], result["target_duration_s"]) == (
        EXIT_OK,
        [],
        22,
        {"fast": 16, "slow": 6},
        30.0,
    )


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--messages", "9", "--target-duration", "5"], "plan needs --mean, or sender profiles from --sender or"),
        ([*PROFILES, "--messages", "9", "--target-duration", "5", "--scale", "x"], "--scale 'x' names no sender"),
        (
            [*PROFILES, "--messages", "9", "--target-duration", "5", "--workers-per-process", "2"],
            "--workers-per-process scales one sender profile",
        ),
    ],
)
def test_cli_plan_bad_profiles_exit_2(cli: Any, argv: list[str], error: str) -> None:
    """No profile at all, --scale naming none, processes of several profiles: exit 2, one line."""
    code, out, errors = cli("plan", *argv)
    assert (code, out, len(errors)) == (EXIT_USAGE, "", 1)
    assert errors[0].startswith(f"smstrio: error: {error}")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["--messages", "1000000", "--target-duration", "600", "--mean", "2", "--fleet-rate-limit", "1000"],
            "1,000,000 messages within 600 s need at least 1,667 msg/s: the fleet limit 1,000/s allows 1,000 s at best",
        ),
        (
            [
                "--messages",
                "1000",
                "--target-duration",
                "10",
                "--mean",
                "0.1",
                "--rate-limit",
                "100",
                "--failure-rate",
                "0.5",
                "--max-attempts",
                "2",
            ],
            "1,000 messages within 10 s need at least 100 msg/s: the rate limit 100/s (1.5 sends a message) allows "
            "15 s at best",
        ),
        (
            [
                "--arrival-rate",
                "500",
                "--duration",
                "60",
                "--max-p99-latency",
                "10",
                "--mean",
                "2",
                "--sender",
                "name=a,rate-limit=300",
                "--sender",
                "name=b,rate-limit=100",
            ],
            "500 messages/s arrive, more than the senders' rate limits (400/s together) can let through "
            "(400 messages/s): the queue grows without end",
        ),
    ],
)
def test_cli_plan_target_out_of_a_limits_reach_exits_1_in_one_line(cli: Any, argv: list[str], error: str) -> None:
    """A drain or arrivals faster than a rate limit lets through, however many workers: one line, exit 1, no run."""
    code, out, errors = cli("plan", *argv)
    assert (code, out, errors) == (EXIT_FAILURE, "", [f"smstrio: error: {error}"])
