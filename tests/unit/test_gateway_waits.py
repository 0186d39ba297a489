"""Unit tests for the waits an SMS API speaks of: reading ``Retry-After``, and the mock's rate-limit bucket."""

from __future__ import annotations

import pytest

from smstrio.adapters.http.gateway import MAX_RETRY_AFTER_S, retry_after
from smstrio.web.mockgateway import RateLimiter

NOW = 1_700_000_000.0
"""2023-11-14 22:13:20 UTC."""


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        (" 0 ", 0.0),
        ("999999", MAX_RETRY_AFTER_S),
        ("Tue, 14 Nov 2023 22:13:50 GMT", 30.0),
        ("Tue, 14 Nov 2023 22:13:00 GMT", 0.0),
        (None, None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
    ids=["seconds", "zero", "capped", "date", "date-past", "absent", "word", "negative", "fraction"],
)
def test_retry_after_reads_delay_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    """Retry-After as whole seconds or an HTTP date gives the wait (capped, never negative); anything else, None."""
    assert retry_after(value, NOW) == seconds


def test_rate_limiter_takes_a_second_of_tokens_then_says_how_long_until_the_next() -> None:
    """At 4/s: 4 takes at once, then a wait of 0.25 s; half of it later 0.125 s; after the wait, one more."""
    bucket = RateLimiter(4.0, now=0.0)

    assert [bucket.take(0.0) for _ in range(5)] == [0.0, 0.0, 0.0, 0.0, 0.25]
    assert bucket.take(0.125) == 0.125
    assert bucket.take(0.25) == 0.0
    assert bucket.take(0.25) == 0.25


def test_rate_limiter_never_holds_more_than_a_second_of_tokens() -> None:
    """An idle minute refills the bucket to 4 tokens at 4/s, not 240."""
    bucket = RateLimiter(4.0, now=0.0)

    takes = [bucket.take(60.0) for _ in range(5)]

    assert takes == [0.0, 0.0, 0.0, 0.0, 0.25]
