"""Component tier: the embedded simulation on the virtual clock (and once serving /stats in real time)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from smstrio.core.distributions import Distribution
from smstrio.core.scenario import ArrivalProcess, Arrivals, Scenario, SenderProfile, Thresholds
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


async def test_latency_runs_on_the_virtual_clock_from_the_start(autojump_clock: MockClock) -> None:
    """Loaded at once, a message's latency is the simulated time to its outcome: 2 s for the first round, 20 s for
    the last of 10, however little wall time passed; 900 wait for a worker at the start."""
    summary = await _simulate(Scenario(messages=1000, senders=(_constant(100, 2.0),), seed=1))

    assert (summary.latency.count, summary.latency.min, summary.latency_max_s) == (1000, 2_000_000, 20.0)
    assert summary.max_queue_depth == 900


async def test_steady_arrivals_queue_up_beyond_capacity(autojump_clock: MockClock) -> None:
    """20 arrivals 0.25 s apart on one worker of 0.5 s: each published at its instant, the n-th ends at
    0.25 + 0.5n s, 10 wait at the last arrival, and the last waited 4.75 s."""
    steady = Arrivals(rate=4.0, process=ArrivalProcess.CONSTANT)
    summary = await _simulate(Scenario(messages=20, senders=(_constant(1, 0.5),), seed=1, arrivals=steady))

    assert (summary.complete, summary.duration_s, summary.throughput_per_s) == (True, 10.25, 1.951)
    assert (summary.max_queue_depth, summary.latency_max_s, summary.latency.min) == (10, 5.25, 500_000)
    assert (summary.arrival_rate_per_s, summary.arrivals) == (4.0, "constant")


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
