"""Unit tests for the statistics records and their math."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smstrio.core.heartbeat import SenderInfo
from smstrio.core.keys import RATE_TTL_S
from smstrio.core.stats import (
    RATE_HISTORY_S,
    RATE_WINDOW_S,
    Counted,
    Percentiles,
    RateHistory,
    StatsSnapshot,
    StoreView,
    Totals,
    snapshot,
)
from smstrio.testing import histogram_of
from tests.conftest import SNAPSHOT_KEYS

counts = st.integers(min_value=0, max_value=2**40)
counteds = st.builds(Counted, sent=counts, failed=counts, invalid=counts, duplicates=counts)
finite = st.floats(allow_nan=False)
senders = st.builds(
    SenderInfo,
    id=st.text(),
    host=st.text(),
    pid=st.integers(min_value=0),
    workers=st.integers(min_value=1),
    mean_s=st.none() | finite,
    failure_rate=st.none() | finite,
    distribution=st.none() | st.text(min_size=1),
    started_at=finite,
    gateway=st.sampled_from(["simulated", "http"]),
    sent=counts,
    failed=counts,
    invalid=counts,
    rate_limit=st.none() | finite,
    fleet_rate_limit=st.none() | finite,
    limit_wait_s=finite,
    last_seen=finite,
)


def sender(sender_id: str) -> SenderInfo:
    """A sender heartbeat record with plausible values."""
    return SenderInfo(
        id=sender_id,
        host="host-a",
        pid=1234,
        workers=20,
        mean_s=2.0,
        failure_rate=0.1,
        distribution="exponential",
        started_at=100.0,
    )


@given(a=counteds, b=counteds, c=counteds)
def test_counted_addition_is_associative(a: Counted, b: Counted, c: Counted) -> None:
    """(a + b) + c equals a + (b + c)."""
    assert (a + b) + c == a + (b + c)


@given(a=counteds, b=counteds)
def test_counted_addition_is_commutative(a: Counted, b: Counted) -> None:
    """a + b equals b + a."""
    assert a + b == b + a


@given(a=counteds)
def test_empty_counted_is_the_identity(a: Counted) -> None:
    """Adding Counted() changes nothing."""
    assert a + Counted() == a == Counted() + a


def test_counted_addition_adds_each_field() -> None:
    """Addition sums each counter separately."""
    total = Counted(sent=1, failed=2, invalid=3, duplicates=4) + Counted(sent=10, failed=20, invalid=30, duplicates=40)
    assert total == Counted(sent=11, failed=22, invalid=33, duplicates=44)


@given(a=counteds)
def test_counted_processed_excludes_duplicates(a: Counted) -> None:
    """Counted.processed is sent + failed + invalid, without duplicates."""
    assert a.processed == a.sent + a.failed + a.invalid


def test_snapshot_copies_totals_and_derives_processed() -> None:
    """A snapshot carries the totals and processed = sent + failed + invalid (not duplicates)."""
    view = StoreView(totals=Totals(produced=100, sent=60, failed=15, invalid=5, duplicates=7), recent=())
    snap = snapshot("alerts", view, queue_depth=20, now=0.0)
    assert (snap.queue, snap.produced, snap.sent, snap.failed, snap.invalid, snap.duplicates) == (
        "alerts",
        100,
        60,
        15,
        5,
        7,
    )
    assert snap.processed == 80
    assert snap.queue_depth == 20


def test_snapshot_average_time_is_from_integer_microseconds() -> None:
    """avg_time_s is service microseconds over sent + failed, in seconds; invalid messages are not timed."""
    view = StoreView(totals=Totals(sent=3, failed=1, invalid=50, service_us=5_000_000), recent=())
    assert snapshot("q", view, queue_depth=None, now=0.0).avg_time_s == 1.25


def test_snapshot_average_time_is_rounded_to_microseconds() -> None:
    """avg_time_s keeps six decimals."""
    view = StoreView(totals=Totals(sent=3, service_us=1_000_000), recent=())
    assert snapshot("q", view, queue_depth=None, now=0.0).avg_time_s == 0.333333


def test_snapshot_average_time_is_none_when_nothing_timed() -> None:
    """avg_time_s is None when no message was sent or failed, even if some were invalid."""
    view = StoreView(totals=Totals(produced=10, invalid=4), recent=())
    assert snapshot("q", view, queue_depth=None, now=0.0).avg_time_s is None


@pytest.mark.parametrize("recent", [[10, 20, 0, 5, 7], [12, 3], []])
def test_snapshot_throughput_is_the_mean_over_the_rate_window(recent: list[int]) -> None:
    """throughput_per_s is the sum of the recent per-second counts over RATE_WINDOW_S, however many are given."""
    view = StoreView(totals=Totals(), recent=recent)
    assert snapshot("q", view, queue_depth=None, now=0.0).throughput_per_s == sum(recent) / RATE_WINDOW_S


def test_snapshot_throughput_is_zero_when_idle() -> None:
    """throughput_per_s is 0 with no recent outcomes."""
    view = StoreView(totals=Totals(sent=5), recent=[0] * RATE_WINDOW_S)
    assert snapshot("q", view, queue_depth=None, now=0.0).throughput_per_s == 0


def test_snapshot_sorts_senders_and_rounds_time() -> None:
    """Senders are ordered by id and updated_at is rounded to milliseconds."""
    view = StoreView(totals=Totals(), recent=(), senders=[sender("c"), sender("a"), sender("b")])
    snap = snapshot("q", view, queue_depth=None, now=1700000000.123456)
    assert [s.id for s in snap.senders] == ["a", "b", "c"]
    assert snap.updated_at == 1700000000.123


@given(info=senders)
def test_sender_info_round_trips_through_fields(info: SenderInfo) -> None:
    """SenderInfo.from_fields inverts to_fields."""
    fields = info.to_fields()
    assert all(isinstance(v, str) for v in fields.values())
    assert SenderInfo.from_fields(fields) == info


def test_sender_info_from_fields_defaults_the_counters() -> None:
    """A heartbeat hash without counters reads as zero counts."""
    fields = sender("s1").to_fields()
    for key in ("sent", "failed", "invalid", "retried", "last_seen"):
        del fields[key]
    info = SenderInfo.from_fields(fields)
    assert (info.sent, info.failed, info.invalid, info.retried, info.last_seen) == (0, 0, 0, 0, 0.0)


def test_totals_from_fields_reads_integers_and_defaults_missing() -> None:
    """Totals.from_fields parses the stored strings and treats missing counters as zero."""
    assert Totals.from_fields({"produced": "5", "service_us": "123"}) == Totals(produced=5, service_us=123)


def test_snapshot_to_json_has_exactly_the_documented_keys() -> None:
    """to_json has exactly the documented keys and survives json.dumps."""
    view = StoreView(
        totals=Totals(produced=3, sent=2, failed=1, service_us=900), recent=[1, 2], senders=[sender("b"), sender("a")]
    )
    data = snapshot("q", view, queue_depth=4, now=10.0).to_json()
    assert set(data) == SNAPSHOT_KEYS
    assert json.loads(json.dumps(data)) == data
    assert [s["id"] for s in data["senders"]] == ["a", "b"]
    assert data["senders"][0] == {
        "id": "a",
        "host": "host-a",
        "pid": 1234,
        "workers": 20,
        "mean_s": 2.0,
        "failure_rate": 0.1,
        "distribution": "exponential",
        "started_at": 100.0,
        "gateway": "simulated",
        "sent": 0,
        "failed": 0,
        "invalid": 0,
        "retried": 0,
        "rate_limit": None,
        "fleet_rate_limit": None,
        "limit_wait_s": 0.0,
        "last_seen": 0.0,
    }


def test_snapshot_to_json_keeps_nulls() -> None:
    """An unknown queue depth and untimed average serialise as JSON null."""
    snap = StatsSnapshot(
        queue="q",
        produced=0,
        sent=0,
        failed=0,
        invalid=0,
        duplicates=0,
        processed=0,
        avg_time_s=None,
        throughput_per_s=0.0,
        queue_depth=None,
    )
    text = json.dumps(snap.to_json())
    assert json.loads(text)["queue_depth"] is None
    assert json.loads(text)["avg_time_s"] is None
    assert json.loads(text)["senders"] == []


def test_snapshot_percentiles_come_from_the_histograms() -> None:
    """service_time_s and latency_s hold the histograms' p50/p90/p95/p99 and the exact max, in seconds."""
    rng = random.Random(5)
    service = [round(rng.expovariate(1 / 200_000)) for _ in range(2_000)]
    latency = [round(rng.uniform(1_000, 90_000_000)) for _ in range(2_000)]
    view = StoreView(totals=Totals(), recent=(), service=histogram_of(service), latency=histogram_of(latency))

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
    merged = histogram_of(fast).merge(histogram_of(slow))
    snap = snapshot("q", StoreView(totals=Totals(), recent=(), service=merged), queue_depth=None, now=0.0)
    assert (snap.service_time_s.p50, snap.service_time_s.p90, snap.service_time_s.p95) == (0.0002, 0.0002, 9.0)


def test_snapshot_rates_and_progress() -> None:
    """rate_1s is the last whole second, rate_60s the mean of the last 60, progress is processed / produced."""
    recent = [600] + [0] * (RATE_HISTORY_S - 4) + [30, 60, 90]
    view = StoreView(totals=Totals(produced=400, sent=90, failed=9, invalid=1), recent=recent)
    snap = snapshot("q", view, queue_depth=None, now=0.0)
    assert (snap.rate_1s, snap.rate_60s, snap.progress) == (90.0, 3.0, 0.25)
    assert snap.throughput_per_s == 36.0


def test_snapshot_carries_the_per_second_history_out_of_its_json() -> None:
    """A snapshot carries the store's per-second counts and the second they start at, and leaves them out of to_json."""
    recent = [5] + [0] * (RATE_HISTORY_S - 2) + [7]
    snap = snapshot("q", StoreView(totals=Totals(), recent=recent), queue_depth=None, now=1_000.75)
    assert snap.rates == RateHistory(start=880, per_s=tuple(recent))
    assert "rates" not in snap.to_json()


def test_rate_counters_outlive_the_history_a_view_reads() -> None:
    """A per-second counter in Redis lives past the oldest second a view reads (the history plus the current second)."""
    assert RATE_TTL_S > RATE_HISTORY_S + 1


def test_snapshot_progress_is_null_before_anything_is_produced() -> None:
    """progress is null while produced is 0, whatever else was counted."""
    assert snapshot("q", StoreView(totals=Totals(), recent=()), queue_depth=None, now=0.0).progress is None


def test_snapshot_json_leaves_the_histograms_out() -> None:
    """to_json carries percentiles, not the bucket histograms or their sums."""
    view = StoreView(totals=Totals(sent=1, service_us=5), recent=(), service=histogram_of([5]))
    data = snapshot("q", view, queue_depth=None, now=0.0).to_json()
    assert not {"service", "latency", "service_sum_us", "latency_sum_us"} & set(data)
    assert Percentiles(**data["service_time_s"]) == Percentiles(
        p50=0.000005, p90=0.000005, p95=0.000005, p99=0.000005, max=0.000005
    )
