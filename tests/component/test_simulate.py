"""The embedded simulation: component tests in virtual time, scenario parsing, and the CLI in-process."""

from __future__ import annotations

import functools
import json
import logging
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from smstrio.cli import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, main
from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError
from smstrio.core.scenario import Scenario, SenderProfile, Thresholds, load_scenario, parse_sender_spec
from smstrio.sim.seams import FLOW_LIMIT
from smstrio.sim.simulate import STOP_GRACE_S, Simulation, run_simulation

CAP_S = 10_000.0
"""A virtual-time cap on each run, so that a simulation that never ends fails instead of hanging."""


def _constant(workers: int, mean: float, *, failure_rate: float = 0.0, name: str | None = None) -> SenderProfile:
    return SenderProfile(
        name=name, workers=workers, mean=mean, failure_rate=failure_rate, distribution=Distribution.CONSTANT
    )


async def _simulate(scenario: Scenario, **options: Any) -> Any:
    with trio.fail_after(CAP_S):
        return await run_simulation(scenario, **options)


# Component tier: run_simulation on the virtual clock.


@pytest.fixture
def stats_events() -> Iterator[list[dict[str, Any]]]:
    """The fields of each ``stats`` event the monitor logs during the test, whatever other tests did to logging."""
    events: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "stats":
                events.append(record.__dict__["fields"])

    logger = logging.getLogger("smstrio.roles.monitor")
    handler, saved = Collect(), (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield events
    logger.removeHandler(handler)
    logger.level, logger.propagate = saved


async def test_constant_sends_end_after_exact_rounds(autojump_clock: MockClock) -> None:
    """1,000 messages on 100 workers at a constant 2 s take 10 rounds: exactly 20 simulated seconds."""
    summary = await _simulate(Scenario(messages=1000, senders=(_constant(100, 2.0),), seed=1))

    assert (summary.complete, summary.virtual_time, summary.sent + summary.failed) == (True, True, 1000)
    assert summary.duration_s == 20.0
    assert summary.throughput_per_s == 50.0
    assert (summary.p50_s, summary.p90_s, summary.p95_s, summary.p99_s, summary.max_s) == (2.0,) * 5
    assert summary.histogram.count == 1000


async def test_heterogeneous_senders_share_the_work(autojump_clock: MockClock) -> None:
    """A sender twice as fast takes twice the share, and together they end at the combined rate."""
    fast, slow = _constant(10, 1.0, name="fast"), _constant(10, 2.0, name="slow")
    summary = await _simulate(Scenario(messages=3000, senders=(fast, slow), seed=1))

    shares = [(s.name, s.sent, s.failed) for s in summary.senders]
    # Every 2 s both senders end a round at the same moment and Trio breaks such ties at random:
    # either the shares are exact, or the slow sender takes one round of 10 more and ends 2 s later.
    assert (shares, summary.duration_s) in [
        ([("fast", 2000, 0), ("slow", 1000, 0)], 200.0),
        ([("fast", 1990, 0), ("slow", 1010, 0)], 202.0),
    ]
    assert [(s.p50_s, s.p99_s) for s in summary.senders] == [(1.0, 1.0), (2.0, 2.0)]


async def test_observed_failure_rate_and_per_sender_counts(autojump_clock: MockClock) -> None:
    """The observed failure rate is failed / processed (seed 5 at 0.25 gives 0.248); per-sender counts add up."""
    senders = (_constant(20, 0.5, failure_rate=0.25), _constant(30, 0.5, failure_rate=0.25))
    summary = await _simulate(Scenario(messages=4000, senders=senders, seed=5))

    assert summary.failure_rate == round(summary.failed / 4000, 6)
    assert (summary.failed, summary.failure_rate) == (992, 0.248)
    assert sum(s.sent for s in summary.senders) == summary.sent
    assert sum(s.failed for s in summary.senders) == summary.failed


async def test_same_seed_gives_the_same_run(autojump_clock: MockClock) -> None:
    """Two runs of one scenario with one seed give identical summaries, random send times included."""
    scenario = Scenario(messages=500, senders=(SenderProfile(workers=7, mean=0.3),), seed=42)

    first, second = await _simulate(scenario), await _simulate(scenario)

    assert first.to_json() == second.to_json()
    assert first.p50_s != first.p99_s


@pytest.mark.parametrize(
    ("thresholds", "failure_rate", "passed"),
    [
        (Thresholds(max_duration_s=20.0), 0.0, [True]),
        (Thresholds(max_duration_s=19.9), 0.0, [False]),
        (Thresholds(max_p99_s=2.0), 0.0, [True]),
        (Thresholds(max_p99_s=1.99), 0.0, [False]),
        (Thresholds(max_failure_rate=0.0), 0.0, [True]),
        (Thresholds(max_failure_rate=0.5), 1.0, [False]),
        (Thresholds(max_p99_s=3.0, max_failure_rate=0.5, max_duration_s=10.0), 0.0, [True, True, False]),
    ],
)
async def test_thresholds_pass_or_fail(
    autojump_clock: MockClock, thresholds: Thresholds, failure_rate: float, passed: list[bool]
) -> None:
    """Each threshold passes at or below its limit and fails above it; the run passes only if all do."""
    sender = _constant(100, 2.0, failure_rate=failure_rate)
    summary = await _simulate(Scenario(messages=1000, senders=(sender,), seed=1, thresholds=thresholds))

    assert [t.passed for t in summary.thresholds] == passed
    assert summary.passed is all(passed)


async def test_stop_ends_early_and_lets_sends_in_flight_finish(autojump_clock: MockClock) -> None:
    """stop() at 5 s: the sends started at 4 s finish at 6 s and count; the summary says not complete."""
    scenario = Scenario(messages=1000, senders=(_constant(10, 2.0),), seed=1)
    started = trio.current_time()

    with trio.fail_after(CAP_S):
        async with trio.open_nursery() as nursery:
            simulation: Simulation = await nursery.start(run_simulation, scenario)
            await trio.sleep(5)
            simulation.stop()

    summary = simulation.summary
    assert summary is not None
    assert (summary.complete, summary.sent + summary.failed, summary.duration_s) == (False, 30, 6.0)
    assert trio.current_time() - started == 6.0 < 5.0 + STOP_GRACE_S


async def test_cancelling_stops_at_once(autojump_clock: MockClock) -> None:
    """A cancelled simulation ends at the moment of cancellation, without waiting for sends in flight."""
    scenario = Scenario(messages=1000, senders=(_constant(10, 2.0),), seed=1)
    started = trio.current_time()

    with trio.move_on_after(3) as scope:
        await run_simulation(scenario)

    assert scope.cancelled_caught
    assert trio.current_time() - started == 3.0


async def test_monitor_logs_stats_until_the_last_message(
    autojump_clock: MockClock, stats_events: list[dict[str, Any]]
) -> None:
    """With a monitor interval, a stats event is logged every interval and a last one shows every message counted."""
    scenario = Scenario(messages=1000, senders=(_constant(100, 2.0),), seed=1)

    await _simulate(scenario, monitor_interval=3.3)  # never at the same moment as a round of sends ends

    stats = stats_events
    # At 0, 3.3, 6.6, ... 19.8 s, then the final one at 20 s.
    assert [s["processed"] for s in stats] == [0, 100, 300, 400, 600, 800, 900, 1000]
    assert stats[-1]["produced"] == 1000


async def test_flow_control_bounds_the_queue_without_costing_time(
    autojump_clock: MockClock, stats_events: list[dict[str, Any]]
) -> None:
    """The producer waits while FLOW_LIMIT messages are ready, yet the run ends exactly when it would without."""
    scenario = Scenario(messages=FLOW_LIMIT + 5000, senders=(_constant(1000, 1.0),), seed=1)

    summary = await _simulate(scenario, monitor_interval=2.5)

    stats = stats_events
    assert summary.duration_s == scenario.messages / 1000
    # Every 2.5 s: the producer stops at FLOW_LIMIT ready (10,000) and tops the queue up as senders drain it.
    assert [(s["produced"], s["queue_depth"]) for s in stats] == [
        (0, 0),
        (14000, FLOW_LIMIT),
        (15000, 9000),
        (15000, 6000),
        (15000, 4000),
        (15000, 1000),
        (15000, 0),
        (15000, 0),
    ]
    assert stats[-1]["processed"] == scenario.messages


async def test_port_serves_stats_over_http() -> None:
    """With a port, /stats is served over real HTTP while the simulation runs (real time, capped)."""
    scenario = Scenario(messages=20, senders=(_constant(10, 0.5),), seed=1)

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            simulation: Simulation = await nursery.start(functools.partial(run_simulation, scenario, port=0))
            host, port = simulation.urls[0].removeprefix("http://").rsplit(":", 1)
            async with await trio.open_tcp_stream(host, int(port)) as stream:
                await stream.send_all(f"GET /stats HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
                response = b""
                while chunk := await stream.receive_some():
                    response += chunk

    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["queue"] == "simulation"
    assert simulation.summary is not None
    assert simulation.summary.complete


# Unit tier: the scenario model and its parsers.

EXAMPLE_TOML = """
messages = 10000
seed = 7

[thresholds]
max_p99_s = 1.5
max_failure_rate = 0.15
max_duration_s = 120

[[senders]]
name = "fast"
workers = 50
mean = 0.2
failure_rate = 0.1
distribution = "normal"

[[senders]]
workers = 10
mean = 1
"""


def test_sender_spec_sets_every_key() -> None:
    """A full --sender spec, with - or _ in key names, gives exactly that profile."""
    profile = parse_sender_spec("workers=50, mean=0.2,failure-rate=0.1,distribution=NORMAL,name=fast")
    assert profile == SenderProfile(
        name="fast", workers=50, mean=0.2, failure_rate=0.1, distribution=Distribution.NORMAL
    )
    assert parse_sender_spec("failure_rate=0.3").failure_rate == 0.3


def test_sender_spec_takes_missing_keys_from_base() -> None:
    """Keys a spec leaves out come from the base profile."""
    base = SenderProfile(workers=3, mean=4.0, failure_rate=0.5, distribution=Distribution.UNIFORM)
    assert parse_sender_spec("mean=1", base) == SenderProfile(
        workers=3, mean=1.0, failure_rate=0.5, distribution=Distribution.UNIFORM
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("workers=many", "--sender 'workers=many': workers: expected an integer, got 'many'"),
        ("speed=3", "unknown key 'speed' (expected name, workers, mean, failure-rate, distribution)"),
        ("workers", "expected KEY=VALUE pairs separated by commas, got 'workers'"),
        ("workers=0", "--sender 'workers=0': workers must be within 1..100000, got 0"),
        ("failure-rate=2", "failure rate must be within 0..1, got 2.0"),
        ("mean=nan", "mean must be a number >= 0 seconds, got nan"),
        ("distribution=weird", "expected one of exponential, normal, uniform, constant, got 'weird'"),
        ("mean=1,mean=2", "'mean' given twice"),
        (" , ", "empty"),
    ],
)
def test_bad_sender_spec_says_what_is_wrong(spec: str, message: str) -> None:
    """A malformed --sender spec raises ConfigError quoting the spec and naming the key."""
    with pytest.raises(ConfigError) as info:
        parse_sender_spec(spec)
    assert message in str(info.value)


def test_scenario_file_gives_the_documented_scenario(tmp_path: Path) -> None:
    """The TOML format of the scenario module's docstring loads into the matching Scenario."""
    path = tmp_path / "campaign.toml"
    path.write_text(EXAMPLE_TOML)
    assert load_scenario(path) == Scenario(
        messages=10000,
        seed=7,
        thresholds=Thresholds(max_p99_s=1.5, max_failure_rate=0.15, max_duration_s=120.0),
        senders=(
            SenderProfile(name="fast", workers=50, mean=0.2, failure_rate=0.1, distribution=Distribution.NORMAL),
            SenderProfile(workers=10, mean=1.0),
        ),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[senders]]\nworkers = "many"\n', "s.toml: senders[1]: workers: expected an integer, got 'many'"),
        ("[[senders]]\n[[senders]]\nworkers = 0\n", "s.toml: senders[2]: workers must be within 1..100000, got 0"),
        ("messages = 0\n", "s.toml: messages must be within 1..10000000, got 0"),
        ("messages = 1.5\n", "s.toml: messages: expected an integer, got 1.5"),
        ("[thresholds]\nmax_p99 = 1\n", "s.toml: thresholds: unknown key 'max_p99'"),
        ("[thresholds]\nmax_failure_rate = 2\n", "s.toml: thresholds: max_failure_rate must be within 0..1"),
        ("thresholds = 3\n", "s.toml: thresholds: expected a table [thresholds]"),
        ("senders = 3\n", "s.toml: senders: expected tables [[senders]]"),
        ("senders = []\n", "s.toml: a scenario needs 1 to 1000 senders, got 0"),
        ('[[senders]]\nname = "a"\n[[senders]]\nname = "a"\n', "s.toml: sender names must differ, got a, a"),
        ("speed = 3\n", "s.toml: unknown key 'speed' (expected messages, seed, senders, thresholds)"),
        ("messages = \n", "s.toml: invalid TOML: "),
    ],
)
def test_bad_scenario_file_names_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    """A wrong scenario file raises ConfigError starting with the file and naming the key."""
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert str(info.value).startswith(str(tmp_path))
    assert message in str(info.value)


def test_missing_scenario_file_is_a_config_error(tmp_path: Path) -> None:
    """A scenario file that cannot be read raises ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"nope\.toml: cannot read the scenario: No such file"):
        load_scenario(tmp_path / "nope.toml")


def test_scenario_ideal_duration_combines_sender_rates() -> None:
    """The ideal duration is messages over the sum of workers/mean; 0 when some mean is 0."""
    assert Scenario(messages=3000, senders=(_constant(10, 1.0), _constant(10, 2.0))).ideal_duration_s == 200.0
    assert Scenario(senders=(_constant(1, 0.0),)).ideal_duration_s == 0.0


# CLI tier: the commands in-process.


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
    ],
)
def test_cli_bad_simulate_input_exits_2_with_one_line(cli: Any, argv: list[str], message: str) -> None:
    """Bad simulate input gives exit code 2 and one line naming the problem, before anything runs."""
    code, out, errors = cli("simulate", *argv)
    assert (code, out) == (EXIT_USAGE, "")
    assert len(errors) == 1
    assert errors[0].startswith("smstrio: error: ")
    assert message in errors[0]


@pytest.mark.parametrize(("signals", "code"), [(1, EXIT_FAILURE), (2, EXIT_INTERRUPTED)])
async def test_cli_sigint_stops_cleanly(tmp_path: Path, signals: int, code: int) -> None:
    """One SIGINT lets sends in flight finish and prints the partial summary (exit 1); a second stops at once (130)."""
    argv = [sys.executable, "-m", "smstrio", "simulate", "--json", "--messages", "100000"]
    argv += ["--workers", "10", "--mean", "1", "--distribution", "constant", "--failure-rate", "0"]
    run = functools.partial(trio.run_process, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(functools.partial(run, cwd=tmp_path))
            assert process.stdout is not None
            assert process.stderr is not None
            err = b""
            while b'"producing"' not in err:
                err += await process.stderr.receive_some()
            process.send_signal(signal.SIGINT)
            if signals == 2:  # Trio merges a signal repeated before it is received: wait for the first
                while b'"stopping gracefully"' not in err:
                    err += await process.stderr.receive_some()
                process.send_signal(signal.SIGINT)
            while chunk := await process.stderr.receive_some():
                err += chunk
            out = b""
            while chunk := await process.stdout.receive_some():
                out += chunk
    assert process.returncode == code

    errors = [line for line in err.decode().splitlines() if not line.startswith("{")]
    if signals == 2:
        assert (out, errors) == (b"", [])
    else:
        summary = json.loads(out)
        assert summary["complete"] is False
        assert summary["sent"] > 0  # how many rounds ended before the signal depends on real time
        assert summary["sent"] % 10 == 0
        assert errors == [f"smstrio: error: stopped early: {summary['sent']} of 100000 processed"]
