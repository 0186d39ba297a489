"""Unit tests for the Redis key names, the JSON-line logs and channel batching."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.testing

from smstrio.core import logs
from smstrio.core.keys import Keys
from smstrio.nursery.batching import next_batch

# Keys.


def all_keys(keys: Keys) -> list[str]:
    """Every key name (and the SCAN pattern) of one queue."""
    return [
        keys.totals,
        keys.done("0123456789ab"),
        keys.rate(1_700_000_000),
        keys.senders,
        keys.sender("host-1234-ab"),
        keys.pattern,
    ]


@pytest.mark.parametrize("queue", ["sms_queue", "a.b-c", "q"])
def test_every_key_shares_the_queue_hash_tag(queue: str) -> None:
    """Each key's first {...} hash tag is the queue name, so all keys of a queue share one cluster slot."""
    for key in all_keys(Keys(queue)):
        start = key.index("{")
        assert key[start + 1 : key.index("}", start)] == queue, key


def test_keys_of_one_queue_are_distinct_and_prefixed() -> None:
    """Each key name is different and starts with the prefix."""
    keys = all_keys(Keys("sms_queue", prefix="test"))
    assert len(set(keys)) == len(keys)
    assert all(k.startswith("test:{sms_queue}:") for k in keys)


def test_keys_of_different_queues_do_not_collide() -> None:
    """Two queues get disjoint key names."""
    assert not set(all_keys(Keys("a"))) & set(all_keys(Keys("b")))


def test_key_names_are_stable() -> None:
    """Key names stay as documented, so processes of different versions agree."""
    keys = Keys("sms_queue")
    assert keys.totals == "smstrio:{sms_queue}:totals"
    assert keys.done("0123456789ab") == "smstrio:{sms_queue}:done:0123456789ab"
    assert keys.rate(17) == "smstrio:{sms_queue}:rate:17"
    assert keys.senders == "smstrio:{sms_queue}:senders"
    assert keys.sender("s1") == "smstrio:{sms_queue}:sender:s1"
    assert keys.pattern == "smstrio:{sms_queue}:*"


# Logs.


@contextlib.contextmanager
def capture_logs(level: str) -> Iterator[io.StringIO]:
    """The ``smstrio`` loggers set up to write JSON lines to a StringIO; their previous setup restored afterwards."""
    root = logging.getLogger("smstrio")
    handlers, previous_level, propagate = list(root.handlers), root.level, root.propagate
    stream = io.StringIO()
    logs.setup(level, stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(previous_level)
        root.propagate = propagate


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The JSON lines logged during the test, at DEBUG and above."""
    with capture_logs("DEBUG") as stream:
        yield stream


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every JSON line written to ``stream``, parsed."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_event_is_one_json_line_with_context_and_fields(log_stream: io.StringIO) -> None:
    """An event is one JSON object with ts, level, event, the bound context and the event's fields."""
    log = logging.getLogger("smstrio.test")
    with logs.bind(role="sender", worker=3):
        logs.event(log, "sms sent", message_id="0123456789ab-1", elapsed_s=0.5)
    assert len(log_stream.getvalue().splitlines()) == 1
    [record] = records(log_stream)
    assert isinstance(record.pop("ts"), float)
    assert record == {
        "level": "info",
        "event": "sms sent",
        "role": "sender",
        "worker": 3,
        "message_id": "0123456789ab-1",
        "elapsed_s": 0.5,
    }


def test_bind_ends_with_its_block(log_stream: io.StringIO) -> None:
    """Fields bound in a block are gone once it ends, and nested binds add to outer ones."""
    log = logging.getLogger("smstrio.test")
    with logs.bind(role="sender"):
        with logs.bind(worker=1):
            assert logs.bound() == {"role": "sender", "worker": 1}
            logs.event(log, "inner")
        logs.event(log, "outer")
    logs.event(log, "outside")
    assert logs.bound() == {}
    inner, outer, outside = records(log_stream)
    assert (inner["role"], inner["worker"]) == ("sender", 1)
    assert outer["role"] == "sender"
    assert "worker" not in outer
    assert "role" not in outside


def test_event_level_and_plain_log_calls(log_stream: io.StringIO) -> None:
    """event honours its level, and a plain logger call is still one JSON line."""
    log = logging.getLogger("smstrio.test")
    logs.event(log, "invalid message", level=logging.WARNING, reason="not JSON")
    log.debug("plain %s", "call")
    warning, plain = records(log_stream)
    assert (warning["level"], warning["event"], warning["reason"]) == ("warning", "invalid message", "not JSON")
    assert (plain["level"], plain["event"]) == ("debug", "plain call")


def test_exceptions_are_logged_as_an_error_field(log_stream: io.StringIO) -> None:
    """A logged exception appears as the ``error`` field."""
    log = logging.getLogger("smstrio.test")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("crashed")
    [record] = records(log_stream)
    assert record["error"] == "RuntimeError('boom')"


def test_setup_level_filters_records() -> None:
    """Records below the configured level are not written."""
    with capture_logs("WARNING") as stream:
        log = logging.getLogger("smstrio.test")
        logs.event(log, "quiet")
        logs.event(log, "loud", level=logging.ERROR)
    assert [r["event"] for r in records(stream)] == ["loud"]


async def test_bound_context_is_inherited_by_child_tasks(log_stream: io.StringIO) -> None:
    """A task started in a nursery inherits the context bound before it was started, and adds its own."""
    log = logging.getLogger("smstrio.test")
    seen: dict[str, Any] = {}

    async def child() -> None:
        with logs.bind(worker=7):
            seen.update(logs.bound())
            logs.event(log, "child event")

    with logs.bind(role="sender", sender="s1"):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(child)
    assert seen == {"role": "sender", "sender": "s1", "worker": 7}
    [record] = records(log_stream)
    assert (record["role"], record["sender"], record["worker"]) == ("sender", "s1", 7)
    assert logs.bound() == {}


# Batching.


async def test_next_batch_takes_waiting_items_up_to_max(autojump_clock: trio.testing.MockClock) -> None:
    """next_batch returns the items already waiting, at most max_items, without waiting for more."""
    send, receive = trio.open_memory_channel[int](10)
    async with send, receive:
        for i in range(5):
            send.send_nowait(i)
        start = trio.current_time()
        with trio.fail_after(1):
            assert await next_batch(receive, 3) == [0, 1, 2]
            assert await next_batch(receive, 3) == [3, 4]
        assert trio.current_time() == start


async def test_next_batch_waits_for_the_first_item() -> None:
    """next_batch blocks until one item arrives, then returns it without waiting for a full batch."""
    send, receive = trio.open_memory_channel[str](0)
    batches: list[list[str]] = []

    async def consume() -> None:
        batches.append(await next_batch(receive, 100))

    async with send, receive, trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await trio.testing.wait_all_tasks_blocked()
        assert batches == []
        await send.send("first")
    assert batches == [["first"]]


async def test_next_batch_drains_then_returns_empty_when_closed() -> None:
    """On a closed channel next_batch returns the remaining items, then [] once drained."""
    send, receive = trio.open_memory_channel[int](10)
    async with receive:
        async with send:
            send.send_nowait(1)
            send.send_nowait(2)
        assert await next_batch(receive, 10) == [1, 2]
        assert await next_batch(receive, 10) == []
        assert await next_batch(receive, 10) == []


async def test_next_batch_of_one() -> None:
    """max_items=1 returns exactly one item at a time."""
    send, receive = trio.open_memory_channel[int](10)
    async with send, receive:
        send.send_nowait(1)
        send.send_nowait(2)
        assert await next_batch(receive, 1) == [1]
        assert await next_batch(receive, 1) == [2]


async def test_next_batch_lingers_for_items_that_arrive_soon(autojump_clock: trio.testing.MockClock) -> None:
    """With linger, items arriving within it join the batch; a later one starts the next, ended by the close."""
    send, receive = trio.open_memory_channel[int](10)
    batches: list[tuple[float, list[int]]] = []

    async def consume() -> None:
        while batch := await next_batch(receive, 10, linger=0.02):
            batches.append((trio.current_time(), batch))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        async with send:
            for at, item in ((0.0, 1), (0.01, 2), (0.019, 3), (0.03, 4)):
                await trio.sleep_until(at)
                send.send_nowait(item)
    assert batches == [(0.02, [1, 2, 3]), (0.03, [4])]


async def test_next_batch_stops_lingering_once_full(autojump_clock: trio.testing.MockClock) -> None:
    """A lingering batch is returned the moment it reaches max_items, not when the linger ends."""
    send, receive = trio.open_memory_channel[int](10)
    async with send, receive, trio.open_nursery() as nursery:

        async def feed() -> None:
            for item in range(3):
                await trio.sleep(0.1)
                send.send_nowait(item)

        nursery.start_soon(feed)
        assert await next_batch(receive, 2, linger=5.0) == [0, 1]
        assert trio.current_time() == 0.2


async def test_next_batch_does_not_linger_when_full(autojump_clock: trio.testing.MockClock) -> None:
    """A batch that is already full is returned at once, whatever the linger."""
    send, receive = trio.open_memory_channel[int](10)
    async with send, receive:
        for i in range(4):
            send.send_nowait(i)
        start = trio.current_time()
        assert await next_batch(receive, 4, linger=5.0) == [0, 1, 2, 3]
        assert trio.current_time() == start
