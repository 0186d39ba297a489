"""The embedded simulation: a whole campaign in one process, on the in-memory broker and store.

    run_producer ──▶ MemoryBroker ──▶ run_sender x N ──▶ MemoryStore ──▶ Monitor (log lines, /stats)
    (or publish_arrivals)             each with its own TimedGateway(SimulatedGateway)

The roles and code paths are those of the real processes; only the seams differ. Each
sender profile gets its own seeded ``random.Random``, drawn from the scenario's seed, so
one seed reproduces a one-sender run exactly. (With several senders, sends that end at the
same instant are ordered by Trio, which breaks ties at random: shares may differ by a round.)
The store says when the last message was counted; the senders then stop gracefully and the
summary is built. The broker applies flow control (see ``smstrio.sim.seams.FlowControlledBroker``).
Messages are loaded at the start, or arrive steadily (:mod:`smstrio.sim.arrivals`); end-to-end latency
runs from each one's creation (the start, or its arrival) to the end of its send on the Trio clock,
so that it is simulated seconds in virtual time too.

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
from collections.abc import Iterator

import trio
import trio.testing

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, MonitorSettings, ProducerSettings, SenderSettings
from smstrio.core.distributions import sampler
from smstrio.core.logs import bind
from smstrio.core.scenario import Scenario, SenderProfile
from smstrio.core.summary import SimulationSummary
from smstrio.roles.gateway import SimulatedGateway
from smstrio.roles.monitor import Monitor
from smstrio.roles.producer import run_producer
from smstrio.roles.sender import Sender, run_sender
from smstrio.sim.arrivals import arrival_times, publish_arrivals
from smstrio.sim.engine import log_simulated, log_simulating
from smstrio.sim.report import SenderOutcome, summarize
from smstrio.sim.seams import CountingStore, FlowControlledBroker, QuickTextRandom, TimedGateway, Timeline

log = logging.getLogger(__name__)

SIM_QUEUE = "simulation"
"""The queue name the simulated roles use (it shows in their log lines)."""
STOP_GRACE_S = 5.0
"""After :meth:`Simulation.stop`, how long in-flight sends may take to finish."""


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
        self._timeline = Timeline()

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
        producer_rng = QuickTextRandom(master.getrandbits(64))
        arrival_rng = random.Random(master.getrandbits(64))
        timeline = self._timeline
        broker = FlowControlledBroker()
        store = CountingStore(clock=trio.current_time, target=sc.messages, done=self._finished)
        virtual = isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock)
        log_simulating(sc, seed=self.seed, virtual_time=virtual, engine="tasks")
        monitor = None if self._monitor is None else Monitor(self._monitor, broker, store)
        ended = trio.Event()
        async with trio.open_nursery() as outer:
            async with trio.open_nursery() as roles:
                for name, profile, rng in zip(sc.sender_names, sc.senders, rngs, strict=True):
                    gateway = TimedGateway(
                        SimulatedGateway(sampler(profile.distribution, profile.mean, rng), profile.failure_rate, rng),
                        timeline,
                        profile.max_attempts,
                    )
                    with bind(profile=name):
                        settings = self._sender_settings(profile)
                        sender = await roles.start(
                            functools.partial(run_sender, fleet=store if settings.fleet_rate_limit else None),
                            settings,
                            broker,
                            store,
                            gateway,
                        )
                    self._senders.append(sender)
                    self._gateways.append(gateway)
                if monitor is not None and self._serve:
                    from smstrio.web.serve import serve_monitor  # the web stack, loaded only to serve

                    self.urls = await outer.start(
                        functools.partial(serve_monitor, monitor, shutdown_trigger=ended.wait)
                    )
                elif monitor is not None:
                    await outer.start(monitor.run)
                started = trio.current_time()
                if sc.arrivals is None:
                    timeline.created = [started] * sc.messages
                    producer = ProducerSettings(common=self._common, count=sc.messages)
                    broker.loading = True
                    roles.start_soon(self._produce, producer, broker, store, producer_rng)
                else:
                    times = [started + at for at in arrival_times(sc.messages, sc.arrivals, arrival_rng)]
                    roles.start_soon(self._arrive, times, broker, store, producer_rng)
                task_status.started(self)
                await self._finished.wait()
                self._producer_scope.cancel()
                for sender in self._senders:
                    sender.stop()
            if monitor is not None:
                await monitor.refresh()
            ended.set()  # the server answers the requests in flight, then exits
            if not self._serve:
                outer.cancel_scope.cancel()
        last = store.last_at if store.last_at is not None else trio.current_time()
        summary = self.summary = self._summarize(store, duration_s=last - started, virtual=virtual)
        log_simulated(summary)
        return summary

    def _sender_settings(self, profile: SenderProfile) -> SenderSettings:
        return SenderSettings(
            common=self._common,
            workers=profile.workers,
            mean=profile.mean,
            failure_rate=profile.failure_rate,
            distribution=profile.distribution,
            grace=STOP_GRACE_S,
            max_attempts=profile.max_attempts,
            retry_delay=profile.retry_delay,
            rate_limit=profile.rate_limit,
            fleet_rate_limit=self.scenario.fleet_rate_limit,
            # The in-memory seams cost nothing per call, so there is nothing for a linger to amortise.
            batch_linger=0.0,
        )

    async def _produce(
        self, settings: ProducerSettings, broker: FlowControlledBroker, store: MemoryStore, rng: random.Random
    ) -> None:
        with self._producer_scope:
            await run_producer(settings, broker, store, rng=rng)
            await broker.loaded()

    async def _arrive(self, times: list[float], broker: MemoryBroker, store: MemoryStore, rng: random.Random) -> None:
        with self._producer_scope:
            created = self._timeline.created.append
            await publish_arrivals(times, queue=SIM_QUEUE, broker=broker, store=store, rng=rng, arrived=created)

    def _summarize(self, store: MemoryStore, *, duration_s: float, virtual: bool) -> SimulationSummary:
        t = store.totals
        senders = [
            SenderOutcome(
                sent=sender.statistics().counted.sent,
                failed=sender.statistics().counted.failed,
                histogram=gateway.histogram,
            )
            for sender, gateway in zip(self._senders, self._gateways, strict=True)
        ]
        return summarize(
            self.scenario,
            seed=self.seed,
            senders=senders,
            sent=t.sent,
            failed=t.failed,
            retried=t.retried,
            complete=t.sent + t.failed + t.invalid >= self.scenario.messages,
            virtual=virtual,
            duration_s=duration_s,
            latencies=self._timeline.latencies,
            arrived=self._timeline.created,
            starts=self._timeline.starts,
            engine="tasks",
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
