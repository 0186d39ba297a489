"""``smstrio plan`` in-process: its JSON, its text (plain or a rich table), its report, its exit codes."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from smstrio.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

CONSTANT_RUN = ("--messages", "100", "--mean", "1", "--distribution", "constant")
CONSTANT_PLAN = (*CONSTANT_RUN, "--target-duration", "10")


def test_cli_plan_finds_the_fewest_workers(cli: Any) -> None:
    """plan: 100 constant 1 s messages within 10 s need exactly 10 workers; full simulations at 10 and 9 say so."""
    code, out, errors = cli("plan", *CONSTANT_PLAN, "--json")
    result = json.loads(out)
    assert (code, errors, result["workers"], result["verified"], result["reason"]) == (EXIT_OK, [], 10, True, None)
    assert [(t["workers"], t["by"], t["passed"]) for t in result["trials"]] == [
        (10, "kernel", True),
        (9, "kernel", False),
        (8, "kernel", False),
        (12, "kernel", True),
        (10, "simulation", True),
        (9, "simulation", False),
    ]
    assert (result["summary"]["duration_s"], result["summary"]["senders"][0]["workers"]) == (10.0, 10)
    assert (result["below"]["duration_s"], result["below"]["senders"][0]["workers"]) == (12.0, 9)


def test_cli_plan_prints_the_runs_and_both_summaries(cli: Any) -> None:
    """plan's text: the answer with Little's law, a table of the runs, and both full simulations' summaries."""
    code, out, errors = cli("plan", *CONSTANT_PLAN, "--seed", "1")
    assert (code, errors) == (EXIT_OK, [])
    assert out.startswith("10 workers: the fewest that process 100 messages within 10 s (Little's law: 10 workers)\n")
    assert "full simulation at 10 workers (passes):" in out
    assert "full simulation at 9 workers (fails):" in out
    assert ("✓ max_duration_s......: 10 <= 10" in out, "✗ max_duration_s......: 12 > 10" in out) == (True, True)


def test_cli_plan_no_verify_says_the_answer_is_the_kernels(cli: Any) -> None:
    """--no-verify runs no full simulation and says so."""
    code, out, errors = cli("plan", *CONSTANT_PLAN, "--no-verify")
    assert (code, errors) == (EXIT_OK, [])
    assert "kernel at 10 workers (passes):" in out
    assert out.rstrip().endswith("not verified by full simulations (--no-verify): the answer is the kernel's")
    assert "full simulation at" not in out


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["--target-duration", "10", "--max-workers", "5"],
            "100 messages of 1 s within 10 s need at least 10 workers (messages * mean / target), "
            "more than --max-workers 5",
        ),
        (["--target-duration", "0.5"], "a target of 0.5 s is under one mean send time (1 s): no worker count meets it"),
    ],
)
def test_cli_plan_impossible_question_exits_1_in_one_line(cli: Any, argv: list[str], error: str) -> None:
    """An impossible question exits 1 with one line saying why, before any run."""
    code, out, errors = cli("plan", *CONSTANT_RUN, *argv)
    assert (code, out, errors) == (EXIT_FAILURE, "", [f"smstrio: error: {error}"])


def test_cli_plan_out_of_reach_exits_1(cli: Any) -> None:
    """plan exits 1, saying so in one line, when even --max-workers is too slow for the tail of random sends."""
    code, out, errors = cli(
        "plan", "--messages", "100", "--target-duration", "10", "--mean", "1", "--max-workers", "10", "--seed", "1"
    )
    assert code == EXIT_FAILURE
    assert errors == ["smstrio: error: even 10 workers take 11.7897 s > 10 s"]
    assert "✗ max_duration_s" in out


def test_cli_plan_in_processes(cli: Any) -> None:
    """--workers-per-process answers in sender processes: 100 constant 1 s messages within 10 s take 4 of 3 workers."""
    # Constant sends of several senders end together, in an order Trio draws; here every order takes the same rounds.
    code, out, errors = cli("plan", *CONSTANT_PLAN, "--workers-per-process", "3", "--json")
    result = json.loads(out)
    assert (code, errors, result["processes"], result["workers"]) == (EXIT_OK, [], 4, 12)
    assert [(t["processes"], t["workers"], t["by"], t["passed"]) for t in result["trials"]] == [
        (4, 12, "kernel", True),
        (3, 9, "kernel", False),
        (2, 6, "kernel", False),
        (6, 18, "kernel", True),
        (4, 12, "simulation", True),
        (3, 9, "simulation", False),
    ]


def test_cli_plan_bad_workers_per_process_exits_2(cli: Any) -> None:
    """More workers per process than --max-workers is bad input: exit 2, one line."""
    code, out, errors = cli("plan", *CONSTANT_PLAN, "--workers-per-process", "20", "--max-workers", "10")
    assert (code, out) == (EXIT_USAGE, "")
    assert errors == ["smstrio: error: workers per process must be within 1..10 (--max-workers), got 20"]


ARRIVALS_PLAN = ("--arrival-rate", "20", "--duration", "60", "--mean", "1", "--max-p99-latency", "5", "--seed", "3")


def test_cli_plan_for_steady_arrivals(cli: Any) -> None:
    """plan --arrival-rate: the fewest workers within the p99 latency, with the question's terms and the queue."""
    code, out, errors = cli("plan", *ARRIVALS_PLAN, "--no-verify", "--json")
    result = json.loads(out)
    assert (code, errors, result["workers"], result["estimate"], result["estimate_by"]) == (
        EXIT_OK,
        [],
        24,
        23,
        "Erlang C",
    )
    assert (result["arrival_rate_per_s"], result["arrivals"], result["duration_s"], result["max_p99_latency_s"]) == (
        20.0,
        "poisson",
        60.0,
        5.0,
    )
    assert [(t["workers"], t["latency_p99_s"], t["max_queue_depth"], t["passed"]) for t in result["trials"]] == [
        (23, 5.029888, 21, False),
        (24, 4.866048, 14, True),
        (22, 5.292032, 28, False),
        (26, 4.734976, 14, True),
    ]
    assert [t["workers"] for t in result["curve"]] == [22, 23, 24, 26]


def test_cli_plan_for_steady_arrivals_in_text(cli: Any) -> None:
    """plan's text for arrivals names the rate, the limit, the queue at the answer and Erlang C's start."""
    code, out, errors = cli("plan", *ARRIVALS_PLAN, "--no-verify")
    assert (code, errors) == (EXIT_OK, [])
    assert out.startswith(
        "24 workers: the fewest that keep the p99 latency of 20 messages/s (poisson) for 60 s within 5 s, "
        "at most 14 waiting (Erlang C: 23 workers)\n"
    )


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--mean", "1"], "plan asks one question: --messages N --target-duration S (a drain), or --arrival-rate R"),
        (["--mean", "1", "--messages", "5", "--arrival-rate", "2"], "plan asks one question"),
        (["--mean", "1", "--messages", "5"], "a drain needs both --messages and --target-duration"),
        (
            ["--mean", "1", "--arrival-rate", "5"],
            "steady arrivals need --arrival-rate, --duration and --max-p99-latency",
        ),
        (
            ["--mean", "1", "--arrival-rate", "0", "--duration", "5", "--max-p99-latency", "5"],
            "arrival rate must be a number > 0, got 0.0",
        ),
    ],
)
def test_cli_plan_needs_one_whole_question(cli: Any, argv: list[str], error: str) -> None:
    """plan with no question, two, or half of one is bad input: exit 2, one line naming what it needs."""
    code, out, errors = cli("plan", *argv)
    assert (code, out, len(errors)) == (EXIT_USAGE, "", 1)
    assert errors[0].startswith(f"smstrio: error: {error}")


def test_cli_plan_draws_the_table_with_rich_on_a_terminal(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the runs are a rich table: box lines, failing rows red, the answer's row bold green."""
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "150")
    code, out, errors = cli("plan", *CONSTANT_PLAN, "--no-verify")
    assert (code, errors) == (EXIT_OK, [])
    assert out.startswith("10 workers: the fewest that process 100 messages within 10 s (Little's law: 10 workers)\n")
    (header,) = (line for line in out.splitlines() if "┃" in line)
    rows = [line for line in out.splitlines() if "│" in line]
    assert re.sub(r"\x1b\[[0-9;]*m|\s", "", header).split("┃")[1:-1] == [
        "workers",
        "by",
        "duration",
        "throughput",
        "p99send",
        "p99latency",
        "maxqueue",
        "passed",
    ]
    assert [re.sub(r"\x1b\[[0-9;]*m", "", row).split("│")[1].strip() for row in rows] == ["8", "9", "10", "12"]
    assert "\x1b[1;32m" in rows[2]  # the answer: bold green
    assert ("\x1b[31m" in rows[0], "\x1b[32m" in rows[3]) == (True, True)


def test_cli_plan_writes_a_self_contained_report(cli: Any, tmp_path: Path) -> None:
    """--report FILE.html: one page with the curve as inline SVG, the limit as a line, the answer marked, every
    run in a table, and nothing fetched from the network."""
    code, _, errors = cli("plan", *CONSTANT_PLAN, "--report", "plan.html")
    page = (tmp_path / "plan.html").read_text()
    assert (code, errors) == (EXIT_OK, [])
    assert page.startswith("<!doctype html>")
    assert (page.count("<svg"), page.count("<circle"), page.count("<tr class=")) == (2, 12, 6)
    assert ("limit 10 s</text>" in page, "answer: 10 workers</text>" in page) == (True, True)
    assert re.findall(r"\b(?:src|href)=|https?://|<script", page) == []


def test_cli_plan_report_that_cannot_be_written_exits_1(cli: Any) -> None:
    """A report path that cannot be written: the plan is printed, then one line says why, exit 1."""
    code, out, errors = cli("plan", *CONSTANT_PLAN, "--no-verify", "--report", "missing/plan.html")
    assert code == EXIT_FAILURE
    assert errors == ["smstrio: error: cannot write the report missing/plan.html: No such file or directory"]
    assert out.startswith("10 workers")


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
