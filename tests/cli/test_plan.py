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
