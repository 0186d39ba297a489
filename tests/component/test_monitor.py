"""Component tier: the monitor role on the in-memory twins, its snapshots and what renders them."""

from __future__ import annotations

import trio
from trio.testing import MockClock

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, MonitorSettings
from smstrio.core.stats import Outcome, OutcomeRecord, StatsSnapshot
from smstrio.ports import Outgoing, QueueInfo
from smstrio.roles.audit import collect_audit
from smstrio.roles.monitor import RECONNECT_TIMEOUT_S, Monitor
from smstrio.testing import Clock
from smstrio.web.app import PerSnapshot

RUN = "0123456789ab"


def _monitor(queue: str, broker: MemoryBroker | None = None, store: MemoryStore | None = None) -> Monitor:
    return Monitor(
        settings=MonitorSettings(common=Common(queue=queue)),
        broker=broker or MemoryBroker(),
        store=store or MemoryStore(clock=Clock(100.0)),
    )


async def test_bodies_are_rendered_once_per_snapshot(queue_name: str) -> None:
    """PerSnapshot renders a snapshot once however often it is asked, and again for the next snapshot."""
    monitor = _monitor(queue_name)
    rendered: list[StatsSnapshot] = []

    def render(snap: StatsSnapshot) -> int:
        rendered.append(snap)
        return len(rendered)

    body = PerSnapshot(render)
    first = await monitor.refresh()

    assert [body(first), body(first), body(first)] == [1, 1, 1]
    second = await monitor.refresh()
    assert [body(second), body(second)] == [2, 2]
    assert rendered == [first, second]


async def test_refresh_reports_each_snapshot(queue_name: str) -> None:
    """Each refresh hands the fresh snapshot to ``report`` (what the CLI prints per interval)."""
    store = MemoryStore(clock=Clock(100.0))
    reported: list[StatsSnapshot] = []
    monitor = Monitor(MonitorSettings(common=Common(queue=queue_name)), MemoryBroker(), store, report=reported.append)

    first = await monitor.refresh()
    await store.add_produced(RUN, range(5))
    second = await monitor.refresh()

    assert reported == [first, second]
    assert [s.produced for s in reported] == [0, 5]


async def test_the_monitor_reconnects_after_losing_the_broker(autojump_clock: MockClock, queue_name: str) -> None:
    """A refresh failing on a lost broker connection makes the monitor reconnect; the next refresh succeeds."""
    broker, reported = MemoryBroker(), list[StatsSnapshot]()
    settings = MonitorSettings(common=Common(queue=queue_name), interval=1.0)
    monitor = Monitor(settings, broker, MemoryStore(clock=Clock(1.0)), report=reported.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        broker.drop()
        await trio.sleep(1.5)  # the refresh at 1 s fails, and the monitor reconnects
        assert (len(reported), broker.closed) == (1, False)
        await trio.sleep(1.0)  # the refresh at 2 s succeeds
        assert len(reported) == 2
        nursery.cancel_scope.cancel()


class HangingBroker(MemoryBroker):
    """A memory broker whose queue depth, once ``hang`` is set, never answers (a connection cut under a request)."""

    hang = False

    async def queue_info(self, queue: str) -> QueueInfo:
        if self.hang:
            await trio.sleep_forever()
        return await super().queue_info(queue)

    async def queue_depth(self, queue: str) -> int:
        if self.hang:
            await trio.sleep_forever()
        return await super().queue_depth(queue)


async def test_an_unanswered_refresh_makes_the_monitor_reconnect(autojump_clock: MockClock, queue_name: str) -> None:
    """A refresh the broker never answers gives up after RECONNECT_TIMEOUT_S; the monitor reconnects and goes on."""
    broker, reported = HangingBroker(), list[StatsSnapshot]()
    settings = MonitorSettings(common=Common(queue=queue_name), interval=1.0)
    monitor = Monitor(settings, broker, MemoryStore(clock=Clock(1.0)), report=reported.append)
    reconnects = 0
    reconnect = broker.reconnect

    async def counted() -> None:
        nonlocal reconnects
        reconnects += 1
        broker.hang = False
        await reconnect()

    broker.reconnect = counted  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        broker.hang = True
        await trio.sleep(1.0 + RECONNECT_TIMEOUT_S + 0.5)  # the refresh at 1 s gives up at 11 s, then reconnects
        assert (len(reported), reconnects) == (1, 1)
        await trio.sleep(1.0)  # the next refresh succeeds
        assert len(reported) == 2
        nursery.cancel_scope.cancel()


async def test_the_monitor_shows_what_audit_finds_missing(queue_name: str) -> None:
    """Once the queue is drained the snapshot's missing is smstrio audit's, with no ledger scan; before, None."""
    broker, store = MemoryBroker(), MemoryStore(clock=Clock(100.0))
    monitor = _monitor(queue_name, broker, store)
    await store.add_produced(RUN, range(10))
    await store.add_produced("0123456789cd", range(5))
    counted = [OutcomeRecord(outcome=Outcome.SENT, run=RUN, seq=seq) for seq in range(8)]
    await store.record([*counted, OutcomeRecord(outcome=Outcome.INVALID)])  # and one without an id
    await broker.publish(queue_name, [Outgoing("x", b"{}")])
    assert (await monitor.refresh()).missing is None  # one waits: not known yet
    broker.queues[queue_name].clear()  # taken behind smstrio's back
    audit = await collect_audit(queue_name, broker, store, shown=0)
    assert (await monitor.refresh()).missing == audit.missing == 7
