"""A statistics snapshot in the Prometheus text exposition format, version 0.0.4. Pure, no I/O.

Every metric carries the label ``queue``. Counters and gauges copy the snapshot; the two
histograms are re-bucketed from the mergeable log-linear histograms into the fixed
``LE_BOUNDS_S`` so that Prometheus can aggregate them across monitors and over time.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from smstrio.core.histogram import Histogram, bucket_bounds, bucket_key
from smstrio.core.stats import StatsSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LE_BOUNDS_S = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""The ``le`` bounds (seconds) of both exported histograms; ``+Inf`` follows them."""

_COUNTERS = (
    ("produced", "Messages the broker confirmed."),
    ("sent", "Simulated sends that succeeded, each message counted once."),
    ("failed", "Simulated sends that failed, each message counted once."),
    ("invalid", "Messages that could not be decoded (dead-lettered)."),
    ("duplicates", "Redeliveries of messages already counted."),
)


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def _number(value: float) -> str:
    return "+Inf" if value == math.inf else repr(float(value))


def cumulative_buckets(histogram: Histogram) -> list[tuple[float, int]]:
    """``(le seconds, count)`` for each of ``LE_BOUNDS_S`` and ``inf``: values at or below each bound.

    A histogram bucket counts toward a bound when its highest value is at or below it.
    Approximation: a bucket that straddles a bound (values on both sides of it) counts only
    toward the bounds above, so that line may leave out values up to the bound that share
    the straddling bucket. That bucket is at most 1/128 of the bound wide (twice the histogram's
    ``RELATIVE_ERROR``), so the line counts exactly every value more than 0.8% below its bound.
    Bounds below 256 µs and ``+Inf`` are exact.
    """
    pairs: list[tuple[int, int]] = []  # (highest value in µs, count), ascending
    for low, n in histogram.to_dict()["buckets"]:
        pairs.append((low + bucket_bounds(bucket_key(low))[1] - 1, n))
    lines: list[tuple[float, int]] = []
    for le in LE_BOUNDS_S:
        le_us = round(le * 1e6)
        lines.append((le, sum(n for high, n in pairs if high <= le_us)))
    lines.append((math.inf, histogram.count))
    return lines


def _limits(snap: StatsSnapshot, queue: str, family: Callable[[str, str, str], None], out: list[str]) -> None:
    """The rate limits (a sample per limit given), their usage, and each live sender's time waiting for them."""
    limits = snap.limits
    family(
        "smstrio_rate_limit_per_second", "gauge", "Messages a second the live senders may send: fleet, own (summed)."
    )
    for scope, value in (("fleet", limits.fleet_per_s), ("own", limits.senders_per_s)):
        if value is not None:
            out.append(f'smstrio_rate_limit_per_second{{{queue},scope="{scope}"}} {_number(value)}')
    family(
        "smstrio_rate_limit_usage_ratio", "gauge", "The last 5 s rate over the tighter limit (no sample without one)."
    )
    if limits.usage is not None:
        out.append(f"smstrio_rate_limit_usage_ratio{{{queue}}} {_number(limits.usage)}")
    family("smstrio_rate_limit_wait_seconds_total", "counter", "Time a sender's next send waited for its limits.")
    for s in snap.senders:
        sender = f'sender="{_escape_label(s.id)}"'
        out.append(f"smstrio_rate_limit_wait_seconds_total{{{queue},{sender}}} {_number(s.limit_wait_s)}")


def render(snap: StatsSnapshot) -> str:
    """The exposition text of one snapshot."""
    queue = f'queue="{_escape_label(snap.queue)}"'
    out: list[str] = []

    def family(name: str, kind: str, help_text: str) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")

    for field, help_text in _COUNTERS:
        name = f"smstrio_{field}_total"
        family(name, "counter", help_text)
        out.append(f"{name}{{{queue}}} {getattr(snap, field)}")

    family("smstrio_queue_depth", "gauge", "Messages ready in the queue (no sample when the broker did not say).")
    if snap.queue_depth is not None:
        out.append(f"smstrio_queue_depth{{{queue}}} {snap.queue_depth}")
    family("smstrio_consumers", "gauge", "Consumers on the queue, one per sender process (no sample when unknown).")
    if snap.consumers is not None:
        out.append(f"smstrio_consumers{{{queue}}} {snap.consumers}")
    family("smstrio_missing", "gauge", "Confirmed, never counted, once the queue is drained (no sample before).")
    if snap.missing is not None:
        out.append(f"smstrio_missing{{{queue}}} {snap.missing}")
    family("smstrio_senders", "gauge", "Live sender processes.")
    out.append(f"smstrio_senders{{{queue}}} {len(snap.senders)}")
    _limits(snap, queue, family, out)

    for name, histogram, sum_us, help_text in (
        ("smstrio_service_time_seconds", snap.service, snap.service_sum_us, "Simulated send time."),
        ("smstrio_latency_seconds", snap.latency, snap.latency_sum_us, "Time from creation to outcome."),
    ):
        family(name, "histogram", help_text)
        for le, count in cumulative_buckets(histogram):
            out.append(f'{name}_bucket{{{queue},le="{_number(le)}"}} {count}')
        out.append(f"{name}_sum{{{queue}}} {_number(sum_us / 1e6)}")
        out.append(f"{name}_count{{{queue}}} {histogram.count}")
    return "\n".join(out) + "\n"
