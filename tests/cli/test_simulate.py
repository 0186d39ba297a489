"""CLI tier: ``smstrio simulate`` and ``smstrio plan`` in-process, and simulate's signals as a process."""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from smstrio.cli import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from tests.unit.test_scenario import EXAMPLE_TOML

CONSTANT_RUN = ("--messages", "200", "--workers", "20", "--mean", "1", "--distribution", "constant", "--seed", "1")


def test_cli_simulate_json_in_virtual_time(cli: Any) -> None:
    """simulate --virtual-time --json prints one JSON summary: 200 messages, 20 workers, 1 s each take 10 s."""
    code, out, errors = cli("simulate", "--virtual-time", "--json", *CONSTANT_RUN)
    summary = json.loads(out)
    assert (code, errors) == (EXIT_OK, [])
    assert (summary["sent"] + summary["failed"], summary["duration_s"], summary["virtual_time"]) == (200, 10.0, True)
    assert summary["service_time_us"]["count"] == 200


def test_cli_simulate_text_summary_lists_thresholds(cli: Any) -> None:
    """The text summary shows each threshold with its mark, and the service-time percentiles."""
    code, out, _ = cli("simulate", "--virtual-time", "--max-duration", "10", "--max-p99", "1.5", *CONSTANT_RUN)
    assert code == EXIT_OK
    assert "✓ max_duration_s" in out
    assert "✓ max_p99_s" in out
    assert "p(99)=1.000s" in out


def test_cli_crossed_threshold_exits_1_naming_it(cli: Any) -> None:
    """A crossed threshold gives exit code 1 and one error line naming it; the summary is still printed."""
    code, out, errors = cli("simulate", "--virtual-time", "--json", "--max-duration", "9.5", *CONSTANT_RUN)
    assert code == EXIT_FAILURE
    assert errors == ["smstrio: error: threshold max_duration_s crossed: 10 > 9.5"]
    assert json.loads(out)["passed"] is False


def test_cli_senders_and_scenario_file_combine(cli: Any, tmp_path: Path) -> None:
    """--sender specs replace the file's senders and --messages overrides its count; defaults fill each spec."""
    (tmp_path / "s.toml").write_text(EXAMPLE_TOML)
    code, out, _ = cli(
        "simulate",
        "--virtual-time",
        "--json",
        "--scenario",
        "s.toml",
        "--messages",
        "300",
        "--distribution",
        "constant",
        "--sender",
        "workers=10,mean=1,name=a",
        "--sender",
        "workers=10,mean=2,name=b",
    )
    summary = json.loads(out)
    assert [(s["name"], s["distribution"]) for s in summary["senders"]] == [("a", "constant"), ("b", "constant")]
    assert (summary["messages"], summary["seed"]) == (300, 7)
    # 15 messages/s together: 20 s, or 22 s when Trio's random tie-break leaves the slow sender one round more.
    assert summary["duration_s"] in (20.0, 22.0)
    assert [t["name"] for t in summary["thresholds"]] == ["max_p99_s", "max_failure_rate", "max_duration_s"]
    # The slow sender's constant 2 s sends cross the file's max_p99_s of 1.5 s: the run fails its thresholds.
    assert [t["passed"] for t in summary["thresholds"]] == [False, True, True]
    assert code == EXIT_FAILURE


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sender", "workers=lots"], "--sender 'workers=lots': workers: expected an integer, got 'lots'"),
        (["--sender", "colour=red"], "unknown key 'colour'"),
        (["--workers", "0"], "workers must be within 1..100000, got 0"),
        (["--max-failure-rate", "1.5"], "max_failure_rate must be within 0..1"),
        (["--virtual-time", "--port", "0"], "--port serves HTTP in real time"),
        (["--scenario", "missing.toml"], "missing.toml: cannot read the scenario"),
        (["--duration", "5"], "--duration gives the seconds of arrivals: it needs --arrival-rate"),
        (["--arrival-rate", "5", "--duration", "5", "--messages", "3"], "it needs --arrival-rate, and no --messages"),
        (["--arrivals", "constant"], "--arrivals spaces steady arrivals: it needs --arrival-rate"),
        (["--engine", "kernel"], "the event kernel runs in virtual time only"),
        (["--engine", "kernel", "--port", "0"], "the event kernel serves no /stats (--port)"),
        (["--engine", "kernel", "--virtual-time", "--interval", "1"], "the event kernel logs no stats lines"),
        (["--engine", "fast"], "fast"),
    ],
)
def test_cli_bad_simulate_input_exits_2_with_one_line(cli: Any, argv: list[str], message: str) -> None:
    """Bad simulate input gives exit code 2 and one line naming the problem, before anything runs."""
    code, out, errors = cli("simulate", *argv)
    assert (code, out) == (EXIT_USAGE, "")
    assert len(errors) == 1
    assert errors[0].startswith("smstrio: error: ")
    assert message in errors[0]


async def _interrupted(cwd: Path, argv: list[str], marks: tuple[bytes, ...]) -> tuple[int, bytes, list[str]]:
    """Run smstrio, send SIGINT once each of ``marks`` is on its stderr (Trio merges a signal repeated before it
    is received: hence one mark each); its exit code, its stdout and its stderr's lines that are not JSON."""
    argv = [sys.executable, "-m", "smstrio", *argv]
    run = functools.partial(trio.run_process, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(functools.partial(run, cwd=cwd))
            assert process.stdout is not None
            assert process.stderr is not None
            err = b""
            for mark in marks:
                while mark not in err:
                    err += await process.stderr.receive_some()
                process.send_signal(signal.SIGINT)
            while chunk := await process.stderr.receive_some():
                err += chunk
            out = b""
            while chunk := await process.stdout.receive_some():
                out += chunk
    return process.returncode, out, [line for line in err.decode().splitlines() if not line.startswith("{")]


@pytest.mark.parametrize(("signals", "code"), [(1, EXIT_FAILURE), (2, EXIT_INTERRUPTED)])
async def test_cli_sigint_stops_cleanly(tmp_path: Path, signals: int, code: int) -> None:
    """One SIGINT lets sends in flight finish and prints the partial summary (exit 1); a second stops at once (130)."""
    argv = ["simulate", "--json", "--messages", "100000"]
    argv += ["--workers", "10", "--mean", "1", "--distribution", "constant", "--failure-rate", "0"]
    marks = (b'"producing"', b'"stopping gracefully"')[:signals]
    returncode, out, errors = await _interrupted(tmp_path, argv, marks)
    assert returncode == code

    if signals == 2:
        assert (out, errors) == (b"", [])
    else:
        summary = json.loads(out)
        assert summary["complete"] is False
        assert summary["sent"] > 0  # how many rounds ended before the signal depends on real time
        assert summary["sent"] % 10 == 0
        assert errors == [f"smstrio: error: stopped early: {summary['sent']} of 100000 processed"]


def test_cli_simulate_steady_arrivals(cli: Any) -> None:
    """simulate --arrival-rate R --duration S: R x S messages arriving one by one, the latency and queue in the JSON."""
    code, out, errors = cli(
        "simulate", "--virtual-time", "--json", "--arrival-rate", "4", "--arrivals", "constant", "--duration", "5",
        "--workers", "1", "--mean", "0.5", "--distribution", "constant", "--max-p99-latency", "5", "--seed", "1",
    )  # fmt: skip
    summary = json.loads(out)
    assert (code, errors) == (EXIT_FAILURE, ["smstrio: error: threshold max_p99_latency_s crossed: 5.25 > 5"])
    assert (summary["messages"], summary["arrival_rate_per_s"], summary["arrivals"]) == (20, 4.0, "constant")
    assert (summary["duration_s"], summary["max_queue_depth"], summary["latency_max_s"]) == (10.25, 10, 5.25)
    assert summary["latency_us"]["count"] == 20


def test_cli_simulate_retries_under_a_rate_limit(cli: Any) -> None:
    """--max-attempts/--retry-delay retry failed sends ('retried' counts them) and --rate-limit spaces every send
    through send's own throttle (the full simulation): 304 sends at 50/s take at least 6.06 s."""
    code, out, errors = cli(
        "simulate", "--virtual-time", "--engine", "tasks", "--json", "--messages", "200", "--workers", "10",
        "--mean", "0.1", "--failure-rate", "0.5", "--max-attempts", "2", "--retry-delay", "0.5", "--rate-limit", "50",
        "--seed", "1",
    )  # fmt: skip
    summary = json.loads(out)
    assert (code, errors) == (EXIT_OK, [])
    assert (summary["sent"], summary["failed"], summary["retried"]) == (149, 51, 104)
    assert (summary["duration_s"], summary["service_time_us"]["count"]) == (6.327287, 304)


def test_cli_simulate_fleet_limit_over_senders(cli: Any) -> None:
    """--fleet-rate-limit holds every sender together (the full simulation): 200 messages at 40/s take at least
    4.975 s, whatever the workers (10 and 20 here, each sending half)."""
    code, out, errors = cli(
        "simulate", "--virtual-time", "--engine", "tasks", "--json", "--messages", "200", "--sender", "workers=10",
        "--sender", "workers=20", "--mean", "0.1", "--failure-rate", "0", "--fleet-rate-limit", "40", "--seed", "1",
    )  # fmt: skip
    summary = json.loads(out)
    assert (code, errors) == (EXIT_OK, [])
    assert (summary["duration_s"], [s["sent"] for s in summary["senders"]]) == (5.254928, [100, 100])


@pytest.mark.parametrize(
    ("argv", "engine"),
    [
        (["--virtual-time"], "kernel"),
        ([], "tasks"),
        (["--virtual-time", "--interval", "5"], "tasks"),
        (["--virtual-time", "--sender", "workers=5", "--sender", "workers=5"], "tasks"),
        (["--virtual-time", "--engine", "tasks"], "tasks"),
    ],
    ids=["virtual time", "real time", "stats lines asked", "constant senders tie", "tasks asked"],
)
def test_cli_auto_engine_takes_the_kernel_for_virtual_time_only(cli: Any, argv: list[str], engine: str) -> None:
    """--engine auto runs the kernel in virtual time, and the full simulation in real time, when stats lines
    are asked for, or for a scenario whose ties Trio orders (several constant senders); the summary says which."""
    run = ("--messages", "40", "--workers", "20", "--mean", "0.01", "--distribution", "constant", "--seed", "1")
    code, out, errors = cli("simulate", "--json", *run, *argv)
    summary = json.loads(out)
    assert (code, errors) == (EXIT_OK, [])
    assert (summary["engine"], summary["sent"] + summary["failed"]) == (engine, 40)


AGREEING_RUNS = {
    "drain, exponential": ("--messages", "2000", "--workers", "40", "--mean", "0.5", "--failure-rate", "0.05"),
    "poisson arrivals, retries": (
        "--arrival-rate", "60", "--duration", "30", "--workers", "40", "--mean", "0.5", "--failure-rate", "0.2",
        "--max-attempts", "2", "--retry-delay", "0.5", "--max-p99-latency", "1",
    ),
}  # fmt: skip


@pytest.mark.parametrize("argv", AGREEING_RUNS.values(), ids=AGREEING_RUNS.keys())
def test_cli_kernel_and_tasks_give_one_summary(cli: Any, argv: tuple[str, ...]) -> None:
    """--engine kernel and --engine tasks print the same JSON summary for a seeded run, histograms included,
    but for the engine that ran it."""
    summaries = {}
    for engine in ("kernel", "tasks"):
        _, out, _ = cli("simulate", "--virtual-time", "--json", "--engine", engine, "--seed", "13", *argv)
        summaries[engine] = json.loads(out)

    assert (summaries["kernel"].pop("engine"), summaries["tasks"].pop("engine")) == ("kernel", "tasks")
    assert summaries["kernel"] == summaries["tasks"]


def test_cli_plan_verifies_with_the_full_simulation(cli: Any) -> None:
    """plan's two deciding runs are full simulations (engine tasks), not the kernel that searched."""
    argv = ("--messages", "100", "--target-duration", "10", "--mean", "1", "--distribution", "constant", "--seed", "1")
    code, out, _ = cli("plan", "--json", *argv)
    result = json.loads(out)
    assert code == EXIT_OK
    assert (result["summary"]["engine"], result["below"]["engine"]) == ("tasks", "tasks")


async def test_cli_sigint_stops_a_kernel_run_without_a_summary(tmp_path: Path) -> None:
    """A SIGINT during a kernel run abandons it: no summary, one line saying so, exit 1."""
    argv = ["simulate", "--virtual-time", "--json", "--messages", "2000000"]
    argv += ["--workers", "1000", "--mean", "2", "--distribution", "constant", "--seed", "1"]
    returncode, out, errors = await _interrupted(tmp_path, argv, (b'"simulating"',))
    assert (returncode, out) == (EXIT_FAILURE, b"")
    assert errors == ["smstrio: error: stopped early: the event kernel keeps no partial summary"]
