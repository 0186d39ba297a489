"""Unit tests for the JSON-line logs."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import trio

from smstrio.core import logs


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
