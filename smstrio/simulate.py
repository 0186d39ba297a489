"""The embedded simulation: a whole campaign in one process, on the in-memory broker and store.

    run_producer ──▶ MemoryBroker ──▶ run_sender x N ──▶ MemoryStore ──▶ Monitor (log lines, /stats)
                                      each with its own TimedGateway(SimulatedGateway)

The roles and code paths are those of the real processes; only the seams differ. Each
sender profile gets its own seeded ``random.Random``, drawn from the scenario's seed, so
one seed reproduces a one-sender run exactly. (With several senders, sends that end at the
same instant are ordered by Trio, which breaks ties at random: shares may differ by a round.)
The store says when the last message was counted; the senders then stop gracefully and the
summary is built. The broker applies flow control (see ``_FlowControlledBroker``).

Virtual time: run it under ``trio.run(..., clock=trio.testing.MockClock(autojump_threshold=0))``
and every wait is skipped; ``duration_s`` is then simulated seconds. The caller owns
timeouts and signals: :meth:`Simulation.stop` ends a run early (senders finish what they
hold within ``STOP_GRACE_S``), cancelling it ends it at once.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import trio
import trio.testing

from smstrio.config import Common, MonitorSettings, ProducerSettings, SenderSettings
from smstrio.distributions import sampler
from smstrio.gateway import SimulatedGateway
from smstrio.histogram import Histogram
from smstrio.logs import bind, event
from smstrio.memory import MemoryBroker, MemoryStore
from smstrio.message import Sms
from smstrio.monitor import Monitor
from smstrio.ports import Gateway, Outgoing
from smstrio.producer import run_producer
from smstrio.scenario import Scenario, SenderProfile, Thresholds
from smstrio.sender import Sender, run_sender
from smstrio.stats import Counted, OutcomeRecord
from smstrio.web import create_app, serve_http

log = logging.getLogger(__name__)

SIM_QUEUE = "simulation"
"""The queue name the simulated roles use (it shows in their log lines)."""
STOP_GRACE_S = 5.0
"""After :meth:`Simulation.stop`, how long in-flight sends may take to finish."""
FLOW_LIMIT = 10_000
"""Ready messages at which the broker makes the producer wait (see :class:`_FlowControlledBroker`)."""


class TimedGateway:
    """Wraps a gateway; records the duration of every send that returns or raises, in microseconds."""

    def __init__(self, inner: Gateway) -> None:
        self._inner = inner
        self.histogram = Histogram()

    async def send(self, sms: Sms) -> bool:
        started = trio.current_time()
        try:
            delivered = await self._inner.send(sms)
        except Exception:  # a failed send still took its time; Cancelled is not a send
            self._record(started)
            raise
        self._record(started)
        return delivered

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self._inner.run(task_status=task_status)

    def _record(self, started: float) -> None:
        self.histogram.record(round((trio.current_time() - started) * 1e6))


@dataclass
class _FlowControlledBroker(MemoryBroker):
    """A memory broker that makes publishers wait while ``limit`` messages are ready in a queue.

    As RabbitMQ's flow control does under memory pressure. Without it a long campaign would hold
    every message in memory at once (about 600 bytes each) and the garbage collector would walk
    them all on every full collection. The producer resumes at the same instant a delivery is
    acknowledged, so no virtual time passes and the outcome is the same; only ``produced`` and
    ``queue_depth`` grow and shrink gradually instead of all at once.
    """

    limit: int = FLOW_LIMIT
    _room: trio.Event = field(default_factory=trio.Event)

    async def publish(self, queue: str, messages: Sequence[Outgoing]) -> list[bool]:
        while len(self.queues.get(queue, ())) >= self.limit:
            await self._room.wait()
        return await super().publish(queue, messages)

    async def ack(self, tags: Sequence[int]) -> None:
        await super().ack(tags)
        self._room.set()
        self._room = trio.Event()


@dataclass
class _CountingStore(MemoryStore):
    """A memory store that sets ``done`` once ``target`` outcomes are counted: a drained wait, no polling."""

    target: int = 0
    done: trio.Event = field(default_factory=trio.Event)
    last_at: float | None = None
    """When the last outcome was counted."""

    async def record(self, records: Sequence[OutcomeRecord]) -> Counted:
        counted = await super().record(records)
        if counted.processed:
            self.last_at = self.clock()
        t = self.totals
        if t.sent + t.failed + t.invalid >= self.target:
            self.done.set()
        return counted


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderSummary:
    """What one simulated sender did."""

    name: str
    workers: int
    mean_s: float
    failure_rate: float
    distribution: str
    sent: int
    failed: int
    p50_s: float
    p99_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ThresholdResult:
    """One threshold of the scenario: its limit, the measured value, whether the run stayed within it."""

    name: str
    limit: float
    actual: float
    passed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulationSummary:
    """The outcome of one simulated campaign. Times are seconds; simulated seconds under a MockClock."""

    messages: int
    sent: int
    failed: int
    complete: bool
    """Every message was processed (False when stopped early)."""
    virtual_time: bool
    seed: int
    duration_s: float
    """From the first publish to the last outcome counted (after a stop, including the sends it let finish)."""
    throughput_per_s: float | None
    """Outcomes per second over the duration; ``None`` when the duration is 0."""
    failure_rate: float
    """Observed: failed / (sent + failed), 0 before any outcome."""
    p50_s: float
    p90_s: float
    p95_s: float
    p99_s: float
    max_s: float
    senders: tuple[SenderSummary, ...]
    thresholds: tuple[ThresholdResult, ...]
    histogram: Histogram = field(compare=False, repr=False)
    """Every send time in microseconds, mergeable with other runs' histograms."""

    @property
    def passed(self) -> bool:
        """Complete, and within every threshold."""
        return self.complete and all(t.passed for t in self.thresholds)

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "histogram"}
        data["senders"] = [asdict(s) for s in self.senders]
        data["thresholds"] = [asdict(t) for t in self.thresholds]
        data["passed"] = self.passed
        data["service_time_us"] = self.histogram.to_dict()
        return data


def _seconds(us: int) -> float:
    return round(us / 1e6, 6)


def evaluate(thresholds: Thresholds, *, p99_s: float, failure_rate: float, duration_s: float) -> list[ThresholdResult]:
    """Each threshold that is set, checked against the measured value (at or below the limit passes)."""
    measured = {"max_p99_s": p99_s, "max_failure_rate": failure_rate, "max_duration_s": duration_s}
    results = []
    for name, actual in measured.items():
        limit = getattr(thresholds, name)
        if limit is not None:
            results.append(ThresholdResult(name=name, limit=limit, actual=actual, passed=actual <= limit))
    return results


class Simulation:
    """One simulated campaign; :func:`run_simulation` creates it and hands it to its caller."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        monitor_interval: float | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(2**32)
        self._common = Common(queue=SIM_QUEUE)
        interval = monitor_interval if monitor_interval is not None else (1.0 if port is not None else None)
        self._monitor = (
            None
            if interval is None
            else MonitorSettings(common=self._common, interval=interval, host=host, port=port or 0)
        )
        self._serve = port is not None
        self.summary: SimulationSummary | None = None
        """The outcome, once :meth:`run` returned."""
        self.urls: list[str] = []
        """Where ``/stats`` is served once the run started (with a ``port``)."""
        self._finished = trio.Event()
        self._producer_scope = trio.CancelScope()
        self._senders: list[Sender] = []
        self._gateways: list[TimedGateway] = []

    def stop(self) -> None:
        """End the run early: stop publishing; senders finish what they hold within ``STOP_GRACE_S``."""
        self._finished.set()

    async def run(self, *, task_status: trio.TaskStatus[Simulation] = trio.TASK_STATUS_IGNORED) -> SimulationSummary:
        """Run the campaign once; hand ``self`` to ``task_status`` once the producer starts."""
        if self._senders:
            raise RuntimeError("a Simulation runs once; create another")
        sc = self.scenario
        master = random.Random(self.seed)
        rngs = [random.Random(master.getrandbits(64)) for _ in sc.senders]
        producer_rng = random.Random(master.getrandbits(64))
        broker = _FlowControlledBroker()
        store = _CountingStore(clock=trio.current_time, target=sc.messages, done=self._finished)
        virtual = isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
        event(
            log,
            "simulating",
            messages=sc.messages,
            senders=len(sc.senders),
            workers=sc.total_workers,
            seed=self.seed,
            virtual_time=virtual,
        )
        monitor = None if self._monitor is None else Monitor(self._monitor, broker, store)
        async with trio.open_nursery() as outer:
            async with trio.open_nursery() as roles:
                for name, profile, rng in zip(sc.sender_names, sc.senders, rngs, strict=True):
                    gateway = TimedGateway(
                        SimulatedGateway(sampler(profile.distribution, profile.mean, rng), profile.failure_rate, rng)
                    )
                    with bind(profile=name):
                        sender = await roles.start(run_sender, self._sender_settings(profile), broker, store, gateway)
                    self._senders.append(sender)
                    self._gateways.append(gateway)
                if monitor is not None:
                    await outer.start(monitor.run)
                    if self._serve:
                        self.urls = await outer.start(
                            serve_http, create_app(monitor), monitor.settings.host, monitor.settings.port
                        )
                started = trio.current_time()
                producer = ProducerSettings(common=self._common, count=sc.messages)
                roles.start_soon(self._produce, producer, broker, store, producer_rng)
                task_status.started(self)
                await self._finished.wait()
                self._producer_scope.cancel()
                for sender in self._senders:
                    sender.stop()
            if monitor is not None:
                await monitor.refresh()
            outer.cancel_scope.cancel()
        last = store.last_at if store.last_at is not None else trio.current_time()
        summary = self.summary = self._summarize(store, duration_s=last - started, virtual=virtual)
        event(
            log,
            "simulated",
            complete=summary.complete,
            sent=summary.sent,
            failed=summary.failed,
            duration_s=summary.duration_s,
            p99_s=summary.p99_s,
            passed=summary.passed,
        )
        return summary

    def _sender_settings(self, profile: SenderProfile) -> SenderSettings:
        return SenderSettings(
            common=self._common,
            workers=profile.workers,
            mean=profile.mean,
            failure_rate=profile.failure_rate,
            distribution=profile.distribution,
            grace=STOP_GRACE_S,
            # The in-memory seams cost nothing per call, so there is nothing for a linger to amortise.
            batch_linger=0.0,
        )

    async def _produce(
        self, settings: ProducerSettings, broker: MemoryBroker, store: MemoryStore, rng: random.Random
    ) -> None:
        with self._producer_scope:
            await run_producer(settings, broker, store, rng=rng)

    def _summarize(self, store: MemoryStore, *, duration_s: float, virtual: bool) -> SimulationSummary:
        sc = self.scenario
        hist = functools.reduce(Histogram.merge, (g.histogram for g in self._gateways), Histogram())
        t = store.totals
        timed = t.sent + t.failed
        duration_s = round(duration_s, 6)
        failure_rate = round(t.failed / timed, 6) if timed else 0.0
        p99_s = _seconds(hist.percentile(99))
        senders = tuple(
            SenderSummary(
                name=name,
                workers=profile.workers,
                mean_s=profile.mean,
                failure_rate=profile.failure_rate,
                distribution=profile.distribution.value,
                sent=sender.statistics().counted.sent,
                failed=sender.statistics().counted.failed,
                p50_s=_seconds(gateway.histogram.percentile(50)),
                p99_s=_seconds(gateway.histogram.percentile(99)),
            )
            for name, profile, sender, gateway in zip(
                sc.sender_names, sc.senders, self._senders, self._gateways, strict=True
            )
        )
        return SimulationSummary(
            messages=sc.messages,
            sent=t.sent,
            failed=t.failed,
            complete=t.sent + t.failed + t.invalid >= sc.messages,
            virtual_time=virtual,
            seed=self.seed,
            duration_s=duration_s,
            throughput_per_s=round(timed / duration_s, 3) if duration_s > 0 else None,
            failure_rate=failure_rate,
            p50_s=_seconds(hist.percentile(50)),
            p90_s=_seconds(hist.percentile(90)),
            p95_s=_seconds(hist.percentile(95)),
            p99_s=p99_s,
            max_s=_seconds(hist.max),
            senders=senders,
            thresholds=tuple(evaluate(sc.thresholds, p99_s=p99_s, failure_rate=failure_rate, duration_s=duration_s)),
            histogram=hist,
        )


async def run_simulation(
    scenario: Scenario,
    *,
    monitor_interval: float | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    task_status: trio.TaskStatus[Simulation] = trio.TASK_STATUS_IGNORED,
) -> SimulationSummary:
    """Run ``scenario`` until every message is processed (or ``stop()`` on the :class:`Simulation` handed
    to ``task_status``); return its summary.

    ``monitor_interval`` logs a ``stats`` line that often; ``port`` also serves ``/stats`` over HTTP
    there (0: any free port; it needs real time, not a MockClock).
    """
    simulation = Simulation(scenario, monitor_interval=monitor_interval, host=host, port=port)
    with _fewer_collections():
        return await simulation.run(task_status=task_status)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the youngest-generation GC every 50,000 allocations instead of 700 while simulating.

    A simulation allocates millions of short-lived objects and creates almost no cycles;
    with the default thresholds the collector took about a fifth of the wall time
    (measured with ``benchmarks/simulate.py``). The previous thresholds are restored after.
    """
    previous = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The answer of :func:`fewest_workers` and the runs that led to it."""

    workers: int | None
    """The fewest workers that passed; ``None`` when even the most allowed did not."""
    trials: tuple[tuple[int, SimulationSummary], ...]
    """Each run, in the order made: its worker count and summary."""
    proof: SimulationSummary
    """The run at ``workers`` (or at the most allowed, which failed)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "trials": [{"workers": w, "duration_s": s.duration_s, "passed": s.passed} for w, s in self.trials],
            "summary": self.proof.to_json(),
        }


async def fewest_workers(scenario: Scenario, *, max_workers: int) -> Plan:
    """The fewest workers for the scenario's one sender that pass its thresholds: a binary search over runs.

    Every run uses the same seed (drawn once when the scenario has none), and passing is
    assumed monotonic in the worker count, which holds exactly for constant send times
    and closely for random ones. Run it under a MockClock: each run then takes no real waiting.
    """
    if len(scenario.senders) != 1:
        raise ValueError("planning needs a scenario with exactly one sender")
    if scenario.seed is None:
        scenario = replace(scenario, seed=random.SystemRandom().randrange(2**32))
    trials: list[tuple[int, SimulationSummary]] = []
    passing: dict[int, SimulationSummary] = {}

    async def passes(workers: int) -> bool:
        profile = replace(scenario.senders[0], workers=workers)
        summary = await run_simulation(replace(scenario, senders=(profile,)))
        trials.append((workers, summary))
        event(log, "plan trial", workers=workers, duration_s=summary.duration_s, passed=summary.passed)
        if summary.passed:
            passing[workers] = summary
        return summary.passed

    if not await passes(max_workers):
        return Plan(workers=None, trials=tuple(trials), proof=trials[-1][1])
    failing, passed = 0, max_workers
    while passed - failing > 1:
        middle = (failing + passed) // 2
        if await passes(middle):
            passed = middle
        else:
            failing = middle
    return Plan(workers=passed, trials=tuple(trials), proof=passing[passed])


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds:.3f}s"


def render(summary: SimulationSummary) -> str:
    """The summary as a human reads it, in the manner of k6: thresholds first, then the metrics."""
    s = summary
    lines = [
        f"  simulated {s.messages} messages on {len(s.senders)} sender(s), "
        f"{sum(x.workers for x in s.senders)} workers, seed {s.seed}, "
        f"{'virtual' if s.virtual_time else 'real'} time{'' if s.complete else ' (STOPPED EARLY)'}",
        "",
    ]
    for t in s.thresholds:
        mark, op = ("✓", "<=") if t.passed else ("✗", ">")
        lines.append(f"  {mark} {t.name:.<20}: {t.actual:g} {op} {t.limit:g}")
    if s.thresholds:
        lines.append("")
    timed = s.sent + s.failed

    def share(n: int) -> str:
        return f"{100 * n / timed:.2f}%" if timed else "-"

    throughput = f"{s.throughput_per_s:g}/s" if s.throughput_per_s is not None else "-"
    rows = [
        ("processed", f"{timed} of {s.messages}"),
        ("sent", f"{s.sent:<10} {share(s.sent)}"),
        ("failed", f"{s.failed:<10} {share(s.failed)}"),
        ("duration", _duration(s.duration_s) + (" simulated" if s.virtual_time else "")),
        ("throughput", throughput),
        (
            "service_time",
            f"p(50)={_duration(s.p50_s)} p(90)={_duration(s.p90_s)} p(95)={_duration(s.p95_s)} "
            f"p(99)={_duration(s.p99_s)} max={_duration(s.max_s)}",
        ),
    ]
    rows += [
        (
            x.name,
            f"{x.workers} workers, {x.distribution} mean {_duration(x.mean_s)}, failure rate {x.failure_rate:g}: "
            f"sent={x.sent} failed={x.failed} p(50)={_duration(x.p50_s)} p(99)={_duration(x.p99_s)}",
        )
        for x in s.senders
    ]
    lines += [f"  {name:.<22}: {value}" for name, value in rows]
    return "\n".join(lines)
