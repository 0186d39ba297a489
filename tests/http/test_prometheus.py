"""Histograms in the stats store and snapshot, and their Prometheus exposition (unit, component and HTTP tiers)."""

from __future__ import annotations

import math
import random

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, MonitorSettings
from smstrio.core.histogram import Histogram
from smstrio.core.stats import (
    RATE_HISTORY_S,
    Outcome,
    OutcomeRecord,
    Percentiles,
    SenderInfo,
    StoreView,
    Totals,
    snapshot,
)
from smstrio.roles.monitor import Monitor
from smstrio.web.app import create_app
from smstrio.web.prometheus import CONTENT_TYPE, LE_BOUNDS_S, cumulative_buckets, render

RUN = "0123456789ab"


def _histogram(values: list[int]) -> Histogram:
    h = Histogram()
    for v in values:
        h.record(v)
    return h


def _families(text: str) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _sender(sender_id: str) -> SenderInfo:
    return SenderInfo(
        id=sender_id,
        host="h",
        pid=1,
        workers=2,
        mean_s=0.1,
        failure_rate=0.0,
        distribution="constant",
        started_at=0.0,
    )


def test_snapshot_percentiles_come_from_the_histograms() -> None:
    """service_time_s and latency_s hold the histograms' p50/p90/p95/p99 and the exact max, in seconds."""
    rng = random.Random(5)
    service = [round(rng.expovariate(1 / 200_000)) for _ in range(2_000)]
    latency = [round(rng.uniform(1_000, 90_000_000)) for _ in range(2_000)]
    view = StoreView(totals=Totals(), recent=(), service=_histogram(service), latency=_histogram(latency))

    snap = snapshot("q", view, queue_depth=None, now=0.0)

    # What seed 5 gives: each percentile within RELATIVE_ERROR of the exact nearest-rank one (service p50:
    # 0.132608 s for 0.132984 s), each max exact. test_histogram holds that bound for any values.
    assert snap.service_time_s == Percentiles(p50=0.132608, p90=0.461824, p95=0.58368, p99=0.8704, max=1.452871)
    assert snap.latency_s == Percentiles(p50=45.744128, p90=81.526784, p95=85.721088, p99=89.391104, max=89.994646)


def test_snapshot_percentiles_are_null_when_nothing_was_timed() -> None:
    """With empty histograms every percentile and max is JSON null."""
    data = snapshot("q", StoreView(totals=Totals(invalid=3), recent=()), queue_depth=None, now=0.0).to_json()
    nulls = {"p50": None, "p90": None, "p95": None, "p99": None, "max": None}
    assert (data["service_time_s"], data["latency_s"]) == (nulls, nulls)


def test_snapshot_percentiles_come_from_merged_buckets() -> None:
    """Percentiles of two merged histograms are those of all values together, not an average of each one's."""
    fast, slow = [200] * 90, [9_000_000] * 10  # 200 µs has a bucket of its own; 9 s is the exact max
    merged = _histogram(fast).merge(_histogram(slow))
    snap = snapshot("q", StoreView(totals=Totals(), recent=(), service=merged), queue_depth=None, now=0.0)
    assert (snap.service_time_s.p50, snap.service_time_s.p90, snap.service_time_s.p95) == (0.0002, 0.0002, 9.0)


def test_snapshot_rates_and_progress() -> None:
    """rate_1s is the last whole second, rate_60s the mean of the last 60, progress is processed / produced."""
    recent = [0] * (RATE_HISTORY_S - 3) + [30, 60, 90]
    view = StoreView(totals=Totals(produced=400, sent=90, failed=9, invalid=1), recent=recent)
    snap = snapshot("q", view, queue_depth=None, now=0.0)
    assert (snap.rate_1s, snap.rate_60s, snap.progress) == (90.0, 3.0, 0.25)
    assert snap.throughput_per_s == 36.0


def test_snapshot_progress_is_null_before_anything_is_produced() -> None:
    """progress is null while produced is 0, whatever else was counted."""
    assert snapshot("q", StoreView(totals=Totals(), recent=()), queue_depth=None, now=0.0).progress is None


def test_snapshot_json_leaves_the_histograms_out() -> None:
    """to_json carries percentiles, not the bucket histograms or their sums."""
    view = StoreView(totals=Totals(sent=1, service_us=5), recent=(), service=_histogram([5]))
    data = snapshot("q", view, queue_depth=None, now=0.0).to_json()
    assert not {"service", "latency", "service_sum_us", "latency_sum_us"} & set(data)
    assert Percentiles(**data["service_time_s"]) == Percentiles(
        p50=0.000005, p90=0.000005, p95=0.000005, p99=0.000005, max=0.000005
    )


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

    assert view.service == _histogram([1_000, 3_000])
    assert view.latency == _histogram([10_000, 30_000])
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


def test_cumulative_buckets_count_values_at_or_below_each_bound() -> None:
    """Each le line counts the values at or below it; +Inf counts them all."""
    values = [200, 999, 4_000, 3_000_000, 100_000_000]
    lines = dict(cumulative_buckets(_histogram(values)))
    assert list(lines) == [*LE_BOUNDS_S, math.inf]
    for le, count in lines.items():
        assert count == sum(v <= le * 1e6 for v in values), le


def test_cumulative_buckets_leave_out_a_bucket_straddling_the_bound() -> None:
    """A value at a bound whose bucket reaches past it counts only from the next bound: the documented approximation."""
    lines = dict(cumulative_buckets(_histogram([1_000])))  # bucket [1000, 1003]
    assert (lines[0.001], lines[0.005], lines[math.inf]) == (0, 1, 1)


def test_render_parses_as_prometheus_text() -> None:
    """render's output parses with prometheus_client: counters, gauges and histograms, each labelled by queue."""
    service, latency = [1_500, 40_000, 40_000, 2_000_000], [20_000, 600_000, 7_000_000, 45_000_000]
    view = StoreView(
        totals=Totals(
            produced=10, sent=3, failed=1, invalid=2, duplicates=4, service_us=sum(service), latency_us=sum(latency)
        ),
        recent=(),
        senders=[_sender("a"), _sender("b")],
        service=_histogram(service),
        latency=_histogram(latency),
    )
    families = _families(render(snapshot('we"ird\\q\n', view, queue_depth=3, now=0.0)))

    label = {"queue": 'we"ird\\q\n'}
    for name, value in {"produced": 10, "sent": 3, "failed": 1, "invalid": 2, "duplicates": 4}.items():
        family = families[f"smstrio_{name}"]
        assert family.type == "counter"
        assert [(s.name, s.labels, s.value) for s in family.samples] == [(f"smstrio_{name}_total", label, value)]
    for name, value in {"smstrio_queue_depth": 3, "smstrio_senders": 2}.items():
        assert families[name].type == "gauge"
        assert [(s.labels, s.value) for s in families[name].samples] == [(label, value)]
    for name, values in (("smstrio_service_time_seconds", service), ("smstrio_latency_seconds", latency)):
        family = families[name]
        assert family.type == "histogram"
        samples = {(s.name, s.labels.get("le")): s.value for s in family.samples}
        assert all(s.labels["queue"] == label["queue"] for s in family.samples)
        for le in LE_BOUNDS_S:
            assert samples[f"{name}_bucket", str(le)] == sum(v <= le * 1e6 for v in values)
        assert samples[f"{name}_bucket", "+Inf"] == samples[f"{name}_count", None] == len(values)
        assert samples[f"{name}_sum", None] == sum(values) / 1e6


def test_render_gives_the_queue_depth_and_consumers_as_gauges() -> None:
    """The broker's queue depth and consumer count are gauges labelled with the queue."""
    view = StoreView(totals=Totals(), recent=())
    families = _families(render(snapshot("q", view, queue_depth=7, consumers=3, now=0.0)))
    assert [(s.labels, s.value) for s in families["smstrio_queue_depth"].samples] == [({"queue": "q"}, 7)]
    assert [(s.labels, s.value) for s in families["smstrio_consumers"].samples] == [({"queue": "q"}, 3)]


def test_render_leaves_out_an_unknown_queue_depth() -> None:
    """Without a queue depth or consumer count the gauges have no sample, and the text still parses."""
    families = _families(render(snapshot("q", StoreView(totals=Totals(), recent=()), queue_depth=None, now=0.0)))
    assert families["smstrio_queue_depth"].samples == []
    assert families["smstrio_consumers"].samples == []
    assert families["smstrio_service_time_seconds"].samples[-1].value == 0


async def test_metrics_endpoint_matches_stats(queue_name: str) -> None:
    """GET /metrics answers 200 in the 0.0.4 text format with the same numbers as GET /stats."""
    store = MemoryStore(clock=lambda: 100.0)
    await store.add_produced(RUN, range(6))
    await store.record(
        [
            OutcomeRecord(outcome=Outcome.SENT, service_us=2_000, latency_us=50_000, run=RUN, seq=0),
            OutcomeRecord(outcome=Outcome.FAILED, service_us=700_000, latency_us=900_000, run=RUN, seq=1),
            OutcomeRecord(outcome=Outcome.INVALID, run=RUN, seq=2),
            OutcomeRecord(outcome=Outcome.SENT, service_us=1, run=RUN, seq=0),
        ]
    )
    monitor = Monitor(MonitorSettings(common=Common(queue=queue_name)), MemoryBroker(), store)
    await monitor.refresh()
    client = create_app(monitor).test_client()

    response = await client.get("/metrics")
    stats = await (await client.get("/stats")).get_json()

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    families = _families(await response.get_data(as_text=True))
    for name in ("produced", "sent", "failed", "invalid", "duplicates"):
        assert families[f"smstrio_{name}"].samples[0].value == stats[name]
    assert families["smstrio_queue_depth"].samples[0].value == stats["queue_depth"]
    assert families["smstrio_senders"].samples[0].value == len(stats["senders"])
    service = {(s.name, s.labels.get("le")): s.value for s in families["smstrio_service_time_seconds"].samples}
    assert service["smstrio_service_time_seconds_count", None] == stats["sent"] + stats["failed"] == 2
    assert service["smstrio_service_time_seconds_sum", None] == 0.702
    assert service["smstrio_service_time_seconds_bucket", "0.005"] == 1
    assert stats["service_time_s"]["max"] == 0.7
