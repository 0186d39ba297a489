"""``smstrio plan`` in-process: its JSON, its text, its exit codes."""

from __future__ import annotations

import json
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
        (4, 12, "simulation", True),
        (3, 9, "simulation", False),
    ]


def test_cli_plan_bad_workers_per_process_exits_2(cli: Any) -> None:
    """More workers per process than --max-workers is bad input: exit 2, one line."""
    code, out, errors = cli("plan", *CONSTANT_PLAN, "--workers-per-process", "20", "--max-workers", "10")
    assert (code, out) == (EXIT_USAGE, "")
    assert errors == ["smstrio: error: workers per process must be within 1..10 (--max-workers), got 20"]
