"""Contract tier: the StatsStore port, the same tests on MemoryStore and on RedisStore over Redis."""

from __future__ import annotations

import math

from smstrio.core.audit import RunLedger
from smstrio.core.heartbeat import SenderInfo
from smstrio.core.histogram import Histogram
from smstrio.core.stats import RATE_HISTORY_S, Counted, Outcome, OutcomeRecord, Totals
from smstrio.ports import StatsStore
from tests.contract.world import World

RUN = "a" * 12
OTHER_RUN = "b" * 12


def _sent(seq: int, service_us: int = 0, latency_us: int = 0, run: str = RUN) -> OutcomeRecord:
    return OutcomeRecord(outcome=Outcome.SENT, service_us=service_us, latency_us=latency_us, run=run, seq=seq)


def _sender(sender_id: str, now: float, sent: int = 0) -> SenderInfo:
    return SenderInfo(
        id=sender_id,
        host="host",
        pid=7,
        workers=5,
        mean_s=0.5,
        failure_rate=0.1,
        distribution="exponential",
        started_at=round(now - 10, 3),
        sent=sent,
        last_seen=round(now, 3),
    )


def _histogram(values: list[int]) -> Histogram:
    h = Histogram()
    for v in values:
        h.record(v)
    return h


async def test_each_message_is_counted_once(store: StatsStore) -> None:
    """An outcome for a (run, seq) already counted, in the same batch or a later one, counts as a duplicate only."""
    first = await store.record(
        [
            _sent(7, service_us=1_000, latency_us=10),
            OutcomeRecord(outcome=Outcome.FAILED, service_us=3_000, latency_us=30, run=OTHER_RUN, seq=7),
            OutcomeRecord(outcome=Outcome.FAILED, service_us=9_000, latency_us=90, run=RUN, seq=7),
        ]
    )
    again = await store.record([_sent(7, service_us=5_000), _sent(8, service_us=2_000, latency_us=20)])
    assert first == Counted(sent=1, failed=1, duplicates=1)
    assert again == Counted(sent=1, duplicates=1)
    assert (await store.view()).totals == Totals(
        produced=3, sent=2, failed=1, duplicates=2, service_us=6_000, latency_us=60
    )


async def test_retried_outcomes_are_counted_apart(store: StatsStore) -> None:
    """A retried attempt adds to retried only: the message's final outcome is still counted, once, afterwards."""
    retried = OutcomeRecord(outcome=Outcome.RETRIED, service_us=4_000, latency_us=40, run=RUN, seq=1)
    assert await store.record([retried, retried]) == Counted(retried=2)
    assert await store.record([_sent(1, service_us=1_000, latency_us=10)]) == Counted(sent=1)
    view = await store.view()
    assert view.totals == Totals(produced=1, sent=1, retried=2, service_us=1_000, latency_us=10)
    assert (view.service, view.latency) == (_histogram([1_000]), _histogram([10]))


async def test_invalid_outcomes_count_without_times(store: StatsStore) -> None:
    """Invalid outcomes count as processed and produced, once per id, but add no time and no histogram entry."""
    invalid = OutcomeRecord(outcome=Outcome.INVALID, service_us=500, latency_us=50, run=RUN, seq=3)
    no_id = OutcomeRecord(outcome=Outcome.INVALID)
    assert await store.record([invalid, invalid, no_id, no_id]) == Counted(invalid=3, duplicates=1)
    view = await store.view()
    assert view.totals == Totals(produced=3, invalid=3, duplicates=1)
    assert (view.service, view.latency) == (Histogram(), Histogram())


async def test_add_produced_counts_each_seq_once(store: StatsStore) -> None:
    """add_produced says how many seqs of a run were new; repeats, in one call or across calls, count once."""
    assert await store.add_produced(RUN, [0, 1, 2, 1]) == 3
    assert await store.add_produced(RUN, [2, 3]) == 1
    assert await store.add_produced(OTHER_RUN, [2]) == 1
    assert (await store.view()).totals == Totals(produced=5)


async def test_record_counts_an_unseen_message_as_produced(store: StatsStore) -> None:
    """A counted outcome makes its message produced unless add_produced already did, and then not again."""
    assert await store.add_produced(RUN, [0]) == 1
    await store.record([_sent(0), _sent(1), OutcomeRecord(outcome=Outcome.INVALID)])
    assert await store.add_produced(RUN, [1, 2]) == 1
    assert (await store.view()).totals == Totals(produced=4, sent=2, invalid=1)


async def test_histograms_read_back_as_recorded(store: StatsStore) -> None:
    """view() gives the histogram of every sent and failed time recorded, exact min and max, the same percentiles."""
    service = [5, 300, 1_000, 70_000, 70_100, 2_500_000]
    latency = [120, 4_000_000, 30_000_000, 30_000_000, 600, 9]
    outcomes = [Outcome.SENT, Outcome.FAILED] * 3
    await store.record(
        [
            OutcomeRecord(outcome=o, service_us=s, latency_us=lat, run=RUN, seq=i)
            for i, (o, s, lat) in enumerate(zip(outcomes[:4], service[:4], latency[:4], strict=True))
        ]
    )
    await store.record(
        [
            OutcomeRecord(outcome=o, service_us=s, latency_us=lat, run=OTHER_RUN, seq=i)
            for i, (o, s, lat) in enumerate(zip(outcomes[4:], service[4:], latency[4:], strict=True))
        ]
    )
    view = await store.view()
    assert (view.service, view.latency) == (_histogram(service), _histogram(latency))
    assert (view.service.count, view.service.min, view.service.max) == (6, 5, 2_500_000)
    assert (view.latency.count, view.latency.min, view.latency.max) == (6, 9, 30_000_000)
    assert [view.service.percentile(q) for q in (50, 90, 99)] == [1_002, 2_498_560, 2_498_560]
    assert [view.latency.percentile(q) for q in (50, 90, 99)] == [602, 29_949_952, 29_949_952]


async def test_recent_counts_outcomes_per_whole_second(world: World, store: StatsStore) -> None:
    """view().recent holds the outcomes counted in each of the last 120 whole seconds, oldest first."""
    await world.advance(math.floor(world.now()) + 1.05 - world.now())
    await store.record([_sent(0), _sent(1), _sent(1), OutcomeRecord(outcome=Outcome.INVALID)])
    await world.advance(1.0)
    assert (await store.view()).recent == [0] * (RATE_HISTORY_S - 1) + [3]
    await store.record([_sent(2), _sent(3)])
    await world.advance(1.0)
    assert (await store.view()).recent == [0] * (RATE_HISTORY_S - 2) + [3, 2]


async def test_senders_are_listed_until_their_heartbeat_expires(world: World, store: StatsStore) -> None:
    """A heartbeat lists a sender as announced until its TTL runs out; a new heartbeat renews and updates it."""
    early, late = _sender("host-1-aaaa", world.now(), sent=1), _sender("host-2-bbbb", world.now(), sent=2)
    await store.heartbeat(late, ttl=3.0)
    await store.heartbeat(early, ttl=1.0)
    assert sorted((await store.view()).senders, key=lambda s: s.id) == [early, late]
    await world.advance(0.6)
    renewed = _sender("host-1-aaaa", world.now(), sent=5)
    await store.heartbeat(renewed, ttl=1.0)
    await world.advance(0.6)
    assert sorted((await store.view()).senders, key=lambda s: s.id) == [renewed, late]
    await world.advance(0.6)
    assert (await store.view()).senders == [late]
    await world.advance(1.5)
    assert (await store.view()).senders == []


async def test_forget_sender_removes_it_at_once(world: World, store: StatsStore) -> None:
    """forget_sender drops a live sender from the list before its TTL; forgetting an unknown one is harmless."""
    kept, gone = _sender("host-1-aaaa", world.now()), _sender("host-2-bbbb", world.now())
    await store.heartbeat(kept, ttl=60.0)
    await store.heartbeat(gone, ttl=60.0)
    await store.forget_sender(gone.id)
    await store.forget_sender("host-3-never")
    assert (await store.view()).senders == [kept]


async def test_reset_deletes_every_statistic(world: World, store: StatsStore) -> None:
    """reset deletes every key (totals, rate, 2 histograms, 2 bitmaps, senders, 1 sender): the view is empty after."""
    await store.add_produced(RUN, [0, 1])
    await store.record([_sent(0, service_us=1_000, latency_us=10), OutcomeRecord(outcome=Outcome.INVALID)])
    await store.heartbeat(_sender("host-1-aaaa", world.now()), ttl=60.0)
    assert await store.reset() == 8
    assert await store.reset() == 0
    view = await store.view()
    assert (view.totals, sum(view.recent), view.senders) == (Totals(), 0, [])
    assert (view.service, view.latency) == (Histogram(), Histogram())
    assert await store.add_produced(RUN, [0, 1]) == 2


async def test_ledger_names_the_messages_produced_and_not_done(store: StatsStore) -> None:
    """ledger() gives per run, by run id, produced and done counts and the first seqs produced and not done."""
    await store.add_produced(RUN, [0, 1, 2, 7, 8, 9, 15, 16, 1_000, 40_000])
    await store.record([_sent(seq) for seq in (0, 2, 8, 16)] + [_sent(3, run=OTHER_RUN)])
    assert await store.ledger(4) == [
        RunLedger(run=RUN, confirmed=10, counted=4, first_missing=(1, 7, 9, 15)),
        RunLedger(run=OTHER_RUN, confirmed=1, counted=1),
    ]
    assert (await store.ledger(10))[0].first_missing == (1, 7, 9, 15, 1_000, 40_000)
    assert (await store.ledger(0))[0].first_missing == ()


async def test_ledger_leaves_no_key_behind(store: StatsStore) -> None:
    """ledger() reads without a trace: reset afterwards deletes the same keys (totals, rate, 2 histograms,
    2 bitmaps) as without it."""
    await store.add_produced(RUN, [0, 1, 2])
    await store.record([_sent(1)])
    assert [r.first_missing for r in await store.ledger(5)] == [(0, 2)]
    assert await store.reset() == 6
    assert await store.ledger(5) == []
