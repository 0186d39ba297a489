"""Component tier: the stats store twin's histograms."""

from __future__ import annotations

from smstrio.adapters.memory import MemoryStore
from smstrio.core.stats import Outcome, OutcomeRecord
from smstrio.testing import histogram_of

RUN = "0123456789ab"


async def test_memory_store_histograms_skip_duplicates_and_invalid() -> None:
    """Only newly counted sent/failed outcomes enter the memory store's histograms and latency sum."""
    store = MemoryStore(clock=lambda: 100.0)
    await store.record(
        [
            OutcomeRecord(outcome=Outcome.SENT, service_us=1_000, latency_us=10_000, run=RUN, seq=1),
            OutcomeRecord(outcome=Outcome.FAILED, service_us=3_000, latency_us=30_000, run=RUN, seq=2),
            OutcomeRecord(outcome=Outcome.INVALID, service_us=7_000, latency_us=70_000, run=RUN, seq=3),
            OutcomeRecord(outcome=Outcome.INVALID, service_us=8_000, latency_us=80_000),
        ]
    )
    await store.record([OutcomeRecord(outcome=Outcome.SENT, service_us=900_000, latency_us=900_000, run=RUN, seq=1)])

    view = await store.view()

    assert view.service == histogram_of([1_000, 3_000])
    assert view.latency == histogram_of([10_000, 30_000])
    assert view.totals.latency_us == 40_000


async def test_memory_store_view_histograms_do_not_change_later() -> None:
    """A view's histograms are copies: later records and a reset leave them as they were."""
    store = MemoryStore(clock=lambda: 100.0)
    await store.record([OutcomeRecord(outcome=Outcome.SENT, service_us=5, latency_us=6, run=RUN, seq=1)])
    view = await store.view()
    await store.record([OutcomeRecord(outcome=Outcome.SENT, service_us=7, latency_us=8, run=RUN, seq=2)])
    assert (view.service.count, view.latency.count) == (1, 1)
    await store.reset()
    assert ((await store.view()).service.count, view.service.count) == (0, 1)
