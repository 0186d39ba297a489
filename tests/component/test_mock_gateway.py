"""Component tier: the mock SMS API's answers and counts (``MockGateway.answer``), in virtual time."""

from __future__ import annotations

import json
from typing import Any

import trio
from trio.testing import MockClock

from smstrio.core.distributions import Distribution
from smstrio.core.gateway import MockGatewaySettings
from smstrio.web.mockgateway import Answer, MockGateway


def _body(message_id: str) -> bytes:
    return json.dumps({"to": "+3312345678", "text": "hi", "id": message_id}).encode()


async def _sms(mock: MockGateway, message_id: str, headers: dict[bytes, bytes] | None = None) -> Answer:
    return await mock.answer("POST", "/sms", headers or {}, _body(message_id))


def _counts(mock: MockGateway) -> dict[str, Any]:
    return {k: v for k, v in mock.received().items() if k not in ("received", "accepted")}


async def test_answers_follow_the_seeded_error_and_throttle_rates(autojump_clock: MockClock) -> None:
    """Seed 1, error rate 0.1, throttle rate 0.2: 1,000 sends get these exact answers; only 200s count accepted."""
    mock = MockGateway(MockGatewaySettings(error_rate=0.1, throttle_rate=0.2, retry_after=3, seed=1))

    answers = [await _sms(mock, f"m-{i}") for i in range(1000)]

    assert _counts(mock)["statuses"] == {"200": 720, "429": 185, "500": 95}
    assert {a.retry_after for a in answers if a.status == 429} == {3}
    assert {a.retry_after for a in answers if a.status != 429} == {None}
    received = mock.received()
    assert received["received"] == {f"m-{i}": 1 for i in range(1000)}
    assert received["accepted"] == {f"m-{i}": 1 for i, a in enumerate(answers) if a.status == 200}
    assert received["requests"] == 1000


async def test_each_answer_comes_after_the_drawn_latency(autojump_clock: MockClock) -> None:
    """A constant mean of 0.5 s: every answer comes exactly 0.5 s after its request."""
    mock = MockGateway(MockGatewaySettings(mean=0.5, distribution=Distribution.CONSTANT))
    started = trio.current_time()

    async with trio.open_nursery() as nursery:
        for i in range(10):
            nursery.start_soon(_sms, mock, f"m-{i}")

    assert trio.current_time() - started == 0.5
    assert _counts(mock)["statuses"] == {"200": 10}


async def test_over_the_rate_limit_answers_429_with_the_whole_seconds_until_a_token(autojump_clock: MockClock) -> None:
    """At 10/s: 10 sends at once pass, the 11th gets 429 with Retry-After 1, and one more passes 0.1 s later."""
    mock = MockGateway(MockGatewaySettings(rate_limit=10.0))

    first = [await _sms(mock, f"m-{i}") for i in range(11)]
    await trio.sleep(0.1)
    later = await _sms(mock, "m-11")

    assert [a.status for a in first] == [200] * 10 + [429]
    assert first[-1].retry_after == 1
    assert later.status == 200


async def test_a_retry_before_the_retry_after_is_counted_early(autojump_clock: MockClock) -> None:
    """An id sent again 1 s after a 429 with Retry-After 2 counts one early retry; 2 s after it, none."""
    mock = MockGateway(MockGatewaySettings(throttle_rate=1.0, retry_after=2))

    await _sms(mock, "a")
    await trio.sleep(1)
    await _sms(mock, "a")  # early: 1 s after the 429 that asked for 2
    await _sms(mock, "b")
    await trio.sleep(2)
    await _sms(mock, "b")  # on time

    assert _counts(mock)["early_retries"] == 1
    assert mock.received()["received"] == {"a": 2, "b": 2}


async def test_with_a_token_a_request_without_it_gets_401(autojump_clock: MockClock) -> None:
    """With a token, only 'Authorization: Bearer TOKEN' is served; other requests get 401 and count nothing received."""
    mock = MockGateway(MockGatewaySettings(token="t0k"))

    missing = await _sms(mock, "a")
    wrong = await _sms(mock, "a", {b"authorization": b"Bearer nope"})
    right = await _sms(mock, "a", {b"authorization": b"Bearer t0k"})

    assert [missing.status, wrong.status, right.status] == [401, 401, 200]
    assert mock.received()["received"] == {"a": 1}
    assert _counts(mock)["statuses"] == {"200": 1, "401": 2}


async def test_a_body_without_a_string_id_gets_400(autojump_clock: MockClock) -> None:
    """A body that is not JSON, not an object, or has no string "id" gets 400 and counts no id."""
    mock = MockGateway(MockGatewaySettings())

    bodies = [b"not json", b"[1]", b'{"to": "+1"}', b'{"id": 7}']
    answers = [await mock.answer("POST", "/sms", {}, body) for body in bodies]

    assert [a.status for a in answers] == [400] * 4
    assert mock.received()["received"] == {}


async def test_get_received_reports_the_counts_and_other_gets_are_404(autojump_clock: MockClock) -> None:
    """GET /received answers the counts; any other GET is 404; neither counts as an SMS request."""
    mock = MockGateway(MockGatewaySettings())
    await _sms(mock, "a")

    counts = await mock.answer("GET", "/received?x=1", {}, b"")
    other = await mock.answer("GET", "/sms", {}, b"")

    assert counts == Answer(200, mock.received())
    assert counts.body["accepted"] == {"a": 1}
    assert other.status == 404
    assert mock.received()["requests"] == 1
