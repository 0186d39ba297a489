"""A mergeable log-linear histogram of non-negative integer microseconds. Pure, no I/O.

Buckets in the manner of HdrHistogram, in base 2 with ``PRECISION_BITS = 8``: values
below 256 each have a bucket of their own; above, every power of two ``[2^k, 2^(k+1))``
is cut into 128 equal buckets. A bucket's width is therefore at most 1/128 of its
lower bound, and a percentile, reported as the middle of its bucket (and never beyond
the exact minimum and maximum), is within ``RELATIVE_ERROR`` = 1/256 (under 0.4%) of the
exact percentile. About 900 buckets cover one microsecond to one hour; only those
holding values are stored.

Histograms merge by adding bucket counts, so the percentiles of merged histograms are
the percentiles of all their values together: never average percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

PRECISION_BITS = 8
_SUB_BITS = PRECISION_BITS - 1
_SUB = 1 << _SUB_BITS
_EXACT = 1 << PRECISION_BITS
RELATIVE_ERROR = 1 / _EXACT
"""The most a percentile may differ from the exact one, relative to the exact one."""


def bucket_key(value: int) -> int:
    """The bucket of ``value``: ``value`` itself below 256, then 128 buckets per power of two."""
    shift = value.bit_length() - PRECISION_BITS
    if shift <= 0:
        return value
    return (shift << (PRECISION_BITS - 1)) + (value >> shift)


def bucket_bounds(key: int) -> tuple[int, int]:
    """The lowest value of bucket ``key`` and its width."""
    if key < _EXACT:
        return key, 1
    shift = (key >> (PRECISION_BITS - 1)) - 1
    return (key - (shift << (PRECISION_BITS - 1))) << shift, 1 << shift


def nearest_rank(q: float, count: int) -> int:
    """The 1-based rank of percentile ``q`` among ``count`` sorted values: the smallest with q% at or below it."""
    return min(count, max(1, math.ceil(q * count / 100)))


class Histogram:
    """Counts of microsecond values per bucket, with the exact count, minimum and maximum."""

    __slots__ = ("_buckets", "_count", "_max", "_min")

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self._count = 0
        self._min = 0
        self._max = 0

    def record(self, value: int) -> None:
        """Count one value (microseconds, >= 0)."""
        if value < 0:
            raise ValueError(f"histogram values must be >= 0, got {value}")
        shift = value.bit_length() - PRECISION_BITS
        key = value if shift <= 0 else (shift << _SUB_BITS) + (value >> shift)  # bucket_key(value), inlined
        buckets = self._buckets
        buckets[key] = buckets.get(key, 0) + 1
        if self._count == 0 or value < self._min:
            self._min = value
        if value > self._max:
            self._max = value
        self._count += 1

    @property
    def count(self) -> int:
        """How many values were recorded (exact)."""
        return self._count

    @property
    def min(self) -> int:
        """The smallest value recorded (exact); 0 when empty."""
        return self._min

    @property
    def max(self) -> int:
        """The largest value recorded (exact); 0 when empty."""
        return self._max

    def merge(self, other: Histogram) -> Histogram:
        """A new histogram of the values of both; neither operand changes."""
        merged = Histogram()
        merged._buckets = dict(self._buckets)
        for key, n in other._buckets.items():
            merged._buckets[key] = merged._buckets.get(key, 0) + n
        merged._count = self._count + other._count
        if self._count and other._count:
            merged._min = min(self._min, other._min)
        else:
            merged._min = self._min if self._count else other._min
        merged._max = max(self._max, other._max)
        return merged

    def percentile(self, q: float) -> int:
        """The ``q``-th percentile (0..100, nearest rank), within ``RELATIVE_ERROR``; 0 when empty."""
        if not 0 <= q <= 100:
            raise ValueError(f"percentile must be within 0..100, got {q}")
        if self._count == 0:
            return 0
        rank = nearest_rank(q, self._count)
        seen = 0
        for key in sorted(self._buckets):
            seen += self._buckets[key]
            if seen >= rank:
                low, width = bucket_bounds(key)
                return min(self._max, max(self._min, low + width // 2))
        raise AssertionError("bucket counts do not add up to the count")  # pragma: no cover

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return (self._buckets, self._count, self._min, self._max) == (
            other._buckets,
            other._count,
            other._min,
            other._max,
        )

    def __repr__(self) -> str:
        return f"Histogram(count={self._count}, min={self._min}, max={self._max}, buckets={len(self._buckets)})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the exact count, min and max, and ``[lowest value, count]`` of each non-empty bucket."""
        return {
            "precision_bits": PRECISION_BITS,
            "count": self._count,
            "min": self._min,
            "max": self._max,
            "buckets": [[bucket_bounds(key)[0], self._buckets[key]] for key in sorted(self._buckets)],
        }

    @classmethod
    def from_buckets(cls, counts: Mapping[int, int], *, low: int, high: int) -> Histogram:
        """A histogram from its count per :func:`bucket_key` and its exact min and max, as a store keeps them.

        Raise ``ValueError`` as :meth:`from_dict` does on what no histogram could hold.
        """
        return cls.from_dict(
            {
                "precision_bits": PRECISION_BITS,
                "count": sum(counts.values()),
                "min": low,
                "max": high,
                "buckets": [[bucket_bounds(key)[0], n] for key, n in sorted(counts.items())],
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        """The inverse of :meth:`to_dict`; raise ``ValueError`` on anything it could not have produced."""
        if data.get("precision_bits") != PRECISION_BITS:
            raise ValueError(f"expected precision_bits {PRECISION_BITS}, got {data.get('precision_bits')!r}")
        h = cls()
        for pair in data.get("buckets", []):
            try:
                low, n = pair
            except (TypeError, ValueError):
                raise ValueError(f"bad bucket {pair!r}: expected [lowest value, count]") from None
            if not isinstance(low, int) or not isinstance(n, int) or isinstance(low, bool) or low < 0 or n <= 0:
                raise ValueError(f"bad bucket {pair!r}")
            key = bucket_key(low)
            if bucket_bounds(key)[0] != low or key in h._buckets:
                raise ValueError(f"{low} is not the lowest value of a bucket, or repeats one")
            h._buckets[key] = n
        count, low, high = data.get("count", -1), data.get("min", -1), data.get("max", -1)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (count, low, high)):
            raise ValueError(f"count, min and max must be integers >= 0, got {count!r}, {low!r}, {high!r}")
        h._count, h._min, h._max = count, low, high
        if sum(h._buckets.values()) != h._count:
            raise ValueError("bucket counts do not add up to count")
        if not h._count and (h._min, h._max) != (0, 0):
            raise ValueError("an empty histogram has min and max 0")
        if h._count and not (
            bucket_key(h._min) == min(h._buckets) and bucket_key(h._max) == max(h._buckets) and h._min <= h._max
        ):
            raise ValueError("min and max do not fall in the first and last buckets")
        return h
