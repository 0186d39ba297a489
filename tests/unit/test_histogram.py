"""Unit tests for the log-linear histogram: bucket math, merging, percentiles, serialisation."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smstrio.core.histogram import RELATIVE_ERROR, Histogram, bucket_bounds, bucket_key
from smstrio.testing import histogram_of

values = st.integers(min_value=0, max_value=10**11)
value_lists = st.lists(values, max_size=200)
quantiles = st.floats(min_value=0, max_value=100, allow_nan=False)


def _exact_percentile(recorded: list[int], q: float) -> int:
    ordered = sorted(recorded)
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered) / 100))) - 1]


@given(values)
def test_value_falls_in_its_bucket_of_bounded_width(value: int) -> None:
    """Each value lies in its bucket, whose width is exact below 256 and at most 1/128 of its lower bound above."""
    low, width = bucket_bounds(bucket_key(value))
    assert low <= value < low + width
    assert width == 1 or width * 128 <= low


def test_bucket_keys_are_contiguous_and_ordered() -> None:
    """Consecutive keys tile the integers without gaps or overlaps, in value order."""
    end = 0
    for key in range(4000):
        low, width = bucket_bounds(key)
        assert low == end
        assert bucket_key(low) == bucket_key(low + width - 1) == key
        end = low + width


@given(value_lists, value_lists, value_lists)
def test_merge_is_associative(a: list[int], b: list[int], c: list[int]) -> None:
    """(a + b) + c equals a + (b + c)."""
    ha, hb, hc = histogram_of(a), histogram_of(b), histogram_of(c)
    assert ha.merge(hb).merge(hc) == ha.merge(hb.merge(hc))


@given(value_lists, value_lists)
def test_merge_is_commutative_and_equals_recording_all(a: list[int], b: list[int]) -> None:
    """a + b equals b + a, and equals one histogram of every value; the operands stay unchanged."""
    ha, hb = histogram_of(a), histogram_of(b)
    before = ha.to_dict()
    assert ha.merge(hb) == hb.merge(ha) == histogram_of(a + b)
    assert ha.to_dict() == before


@given(st.lists(values, min_size=1, max_size=300), quantiles)
def test_percentile_within_the_relative_error(recorded: list[int], q: float) -> None:
    """A percentile is within RELATIVE_ERROR (1/256) of the exact nearest-rank percentile."""
    exact = _exact_percentile(recorded, q)
    assert abs(histogram_of(recorded).percentile(q) - exact) <= exact * RELATIVE_ERROR


@given(value_lists)
def test_count_min_and_max_are_exact(recorded: list[int]) -> None:
    """count, min and max are exactly those of the recorded values (0 when empty)."""
    h = histogram_of(recorded)
    assert (h.count, h.min, h.max) == (len(recorded), min(recorded, default=0), max(recorded, default=0))


def test_small_values_are_exact() -> None:
    """Below 256 microseconds each value has its own bucket, so percentiles are exact."""
    h = histogram_of(list(range(1, 101)))
    assert [h.percentile(q) for q in (0, 50, 90, 99, 100)] == [1, 50, 90, 99, 100]


def test_constant_values_give_that_value_at_every_percentile() -> None:
    """Two million microseconds recorded a thousand times are reported exactly, thanks to the exact min/max."""
    h = histogram_of([2_000_000] * 1000)
    assert {h.percentile(q) for q in (0, 50, 99, 100)} == {2_000_000}


def test_empty_histogram_reports_zero() -> None:
    """An empty histogram has count 0 and every percentile 0."""
    assert (Histogram().count, Histogram().percentile(99), Histogram().max) == (0, 0, 0)


@pytest.mark.parametrize(("method", "arg"), [("record", -1), ("percentile", 101), ("percentile", -0.5)])
def test_out_of_range_arguments_raise(method: str, arg: float) -> None:
    """Negative values and percentiles outside 0..100 raise ValueError."""
    with pytest.raises(ValueError, match="must be"):
        getattr(Histogram(), method)(arg)


@given(value_lists)
def test_dict_round_trip_through_json(recorded: list[int]) -> None:
    """to_dict survives JSON and from_dict gives back an equal histogram."""
    h = histogram_of(recorded)
    assert Histogram.from_dict(json.loads(json.dumps(h.to_dict()))) == h


def test_to_dict_is_sparse() -> None:
    """Only non-empty buckets are listed, as [lowest value, count] in value order."""
    h = histogram_of([5, 5, 1_000_000, 300])
    assert h.to_dict()["buckets"] == [[5, 2], [300, 1], [999424, 1]]


@pytest.mark.parametrize(
    "data",
    [
        {"precision_bits": 7, "count": 0, "min": 0, "max": 0, "buckets": []},
        {"precision_bits": 8, "count": 2, "min": 5, "max": 5, "buckets": [[5, 1]]},
        {"precision_bits": 8, "count": 1, "min": 301, "max": 301, "buckets": [[301, 1]]},
        {"precision_bits": 8, "count": 1, "min": 5, "max": 9, "buckets": [[5, 1]]},
        {"precision_bits": 8, "count": 1, "min": 5, "max": 5, "buckets": [[5, 0]]},
        {"precision_bits": 8, "count": "1", "min": 5, "max": 5, "buckets": [[5, 1]]},
        {"precision_bits": 8, "count": 0, "min": 0, "max": 0, "buckets": [5]},
    ],
)
def test_from_dict_rejects_what_to_dict_cannot_produce(data: dict[str, object]) -> None:
    """A wrong precision, bucket boundary, count, min/max or shape raises ValueError."""
    with pytest.raises(ValueError, match=r"."):
        Histogram.from_dict(data)
