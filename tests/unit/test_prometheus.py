"""Unit tests for the Prometheus text exposition: cumulative buckets and render."""

from __future__ import annotations

import math
from dataclasses import replace

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from smstrio.core.heartbeat import SenderInfo
from smstrio.core.stats import StoreView, Totals, snapshot
from smstrio.testing import histogram_of
from smstrio.web.prometheus import LE_BOUNDS_S, cumulative_buckets, render


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


def test_cumulative_buckets_count_values_at_or_below_each_bound() -> None:
    """Each le line counts the values at or below it; +Inf counts them all."""
    values = [200, 999, 4_000, 3_000_000, 100_000_000]
    lines = dict(cumulative_buckets(histogram_of(values)))
    assert list(lines) == [*LE_BOUNDS_S, math.inf]
    for le, count in lines.items():
        assert count == sum(v <= le * 1e6 for v in values), le


def test_cumulative_buckets_leave_out_a_bucket_straddling_the_bound() -> None:
    """A value at a bound whose bucket reaches past it counts only from the next bound: the documented approximation."""
    lines = dict(cumulative_buckets(histogram_of([1_000])))  # bucket [1000, 1003]
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
        service=histogram_of(service),
        latency=histogram_of(latency),
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


def test_render_gives_missing_once_the_queue_is_drained() -> None:
    """smstrio_missing is a gauge of what audit finds missing, sampled only once the queue is drained."""
    view = StoreView(totals=Totals(produced=10, sent=6), recent=())
    drained = _families(render(snapshot("q", view, queue_depth=0, now=0.0)))
    waiting = _families(render(snapshot("q", view, queue_depth=1, now=0.0)))
    assert [(s.labels, s.value) for s in drained["smstrio_missing"].samples] == [({"queue": "q"}, 4)]
    assert waiting["smstrio_missing"].samples == []


def test_render_leaves_out_an_unknown_queue_depth() -> None:
    """Without a queue depth or consumer count the gauges have no sample (nor missing), and the text still parses."""
    families = _families(render(snapshot("q", StoreView(totals=Totals(), recent=()), queue_depth=None, now=0.0)))
    assert families["smstrio_queue_depth"].samples == []
    assert families["smstrio_consumers"].samples == []
    assert families["smstrio_missing"].samples == []
    assert families["smstrio_service_time_seconds"].samples[-1].value == 0


def test_render_exports_the_rate_limits_their_usage_and_each_senders_wait() -> None:
    """A fleet limit and the senders' own limits are gauges by scope, usage a ratio, each sender's wait a counter."""
    a = replace(_sender("a"), rate_limit=150.0, fleet_rate_limit=200.0, limit_wait_s=1.5)
    b = replace(_sender("b"), rate_limit=150.0, fleet_rate_limit=200.0, limit_wait_s=2.0)
    view = StoreView(totals=Totals(), recent=[200] * 5, senders=[a, b])
    families = _families(render(snapshot("q", view, queue_depth=0, now=10.0)))
    unlimited = _families(render(snapshot("q", StoreView(totals=Totals(), recent=[]), queue_depth=0, now=10.0)))

    limits = {s.labels["scope"]: s.value for s in families["smstrio_rate_limit_per_second"].samples}
    waits = {s.labels["sender"]: s.value for s in families["smstrio_rate_limit_wait_seconds"].samples}
    assert limits == {"fleet": 200.0, "own": 300.0}
    assert [s.value for s in families["smstrio_rate_limit_usage_ratio"].samples] == [1.0]
    assert waits == {"a": 1.5, "b": 2.0}
    assert unlimited["smstrio_rate_limit_per_second"].samples == []
    assert unlimited["smstrio_rate_limit_usage_ratio"].samples == []
