"""Unit tests for the JSON-line logs."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from smstrio.core import logs


class Terminal(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@contextlib.contextmanager
def capture_logs(level: str, stream: io.StringIO | None = None, **options: Any) -> Iterator[io.StringIO]:
    """The ``smstrio`` loggers set up (``options`` as ``logs.setup`` takes them) to write to ``stream``,
    a StringIO by default; their previous setup restored afterwards."""
    root = logging.getLogger("smstrio")
    handlers, previous_level, propagate = list(root.handlers), root.level, root.propagate
    stream = io.StringIO() if stream is None else stream
    logs.setup(level, stream=stream, **options)
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


TIME = r"\d\d:\d\d:\d\d\.\d{3}"


def test_console_line_is_time_level_padded_event_and_fields() -> None:
    """A console line: local time, level, the event padded to EVENT_WIDTH, key=value (but the bound role and queue)."""
    log = logging.getLogger("smstrio.test")
    with capture_logs("DEBUG", log_format="console") as stream, logs.bind(role="sender", queue="alerts", worker=3):
        logs.event(log, "sms sent", message_id="0123456789ab-1", elapsed_s=0.5)
        logs.event(log, "lost the broker; reconnecting", level=logging.WARNING)
    first, second = stream.getvalue().splitlines()
    assert re.fullmatch(TIME + " INFO  sms sent {8}  message_id=0123456789ab-1 elapsed_s=0.5 worker=3", first)
    assert re.fullmatch(TIME + " WARN  lost the broker; reconnecting  worker=3", second)


def test_console_values_are_words_or_json_and_nested_records_are_left_out() -> None:
    """Words print as they are; text with spaces, booleans and lists print as compact JSON; null values, objects
    and lists of objects are left to the JSON lines."""
    with capture_logs("DEBUG", log_format="console") as stream:
        logs.event(
            logging.getLogger("smstrio.test"),
            "serving",
            urls=["http://127.0.0.1:8080"],
            error="connection refused",
            depth=None,
            ok=True,
            p={"p50": 0.1},
            senders=[{"id": "a"}],
            counts=(1, 2),
        )
    fields = stream.getvalue().split("serving", 1)[1].strip()
    assert fields == 'urls=["http://127.0.0.1:8080"] error="connection refused" ok=true counts=[1,2]'


def test_console_line_shows_a_logged_exception_as_error() -> None:
    """A logged exception appears on the console line as the error field."""
    with capture_logs("DEBUG", log_format="console") as stream:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("smstrio.test").exception("crashed")
    assert re.fullmatch(TIME + " ERROR crashed {9}  error=RuntimeError\\('boom'\\)", stream.getvalue().rstrip())


def test_console_colours_the_level_by_severity_and_the_event_bold() -> None:
    """With colours, the level is green, yellow or red by severity, the event bold and each key cyan."""
    with capture_logs("DEBUG", log_format="console", color=True) as stream:
        log = logging.getLogger("smstrio.test")
        logs.event(log, "consuming", workers=2)
        logs.event(log, "stats unavailable", level=logging.WARNING)
        logs.event(log, "crashed", level=logging.ERROR)
    info, warning, error = stream.getvalue().splitlines()
    assert "\x1b[32mINFO \x1b[0m \x1b[1mconsuming" in info
    assert "\x1b[36mworkers\x1b[0m=2" in info
    assert "\x1b[33mWARN \x1b[0m" in warning
    assert "\x1b[31mERROR\x1b[0m" in error


@pytest.mark.parametrize(
    ("stream", "log_format", "console", "coloured"),
    [
        (Terminal(), "auto", True, True),
        (io.StringIO(), "auto", False, False),
        (Terminal(), "json", False, False),
        (io.StringIO(), "console", True, False),
    ],
)
def test_auto_is_console_on_a_terminal_and_json_elsewhere(
    stream: io.StringIO, log_format: str, console: bool, coloured: bool
) -> None:
    """auto writes coloured console lines to a terminal and JSON lines elsewhere; json and console are forced."""
    with capture_logs("INFO", stream, log_format=log_format):
        logs.event(logging.getLogger("smstrio.test"), "consuming", workers=2)
    line = stream.getvalue()
    assert line.startswith("{") is not console
    assert ("\x1b[" in line) is coloured


def test_the_log_file_gets_json_lines_while_the_terminal_gets_console_lines(tmp_path: Path) -> None:
    """--log-file always holds JSON lines, whatever the stream shows."""
    with capture_logs("INFO", Terminal(), log_file=tmp_path / "smstrio.log") as stream:
        logs.event(logging.getLogger("smstrio.test"), "consuming", workers=2)
    assert "consuming" in stream.getvalue()
    assert not stream.getvalue().startswith("{")
    assert [json.loads(line)["workers"] for line in (tmp_path / "smstrio.log").read_text().splitlines()] == [2]


def test_without_a_stream_lines_go_to_whatever_stderr_is_at_the_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set up on stderr, a record goes to sys.stderr as it is when logged (a live display may have replaced it)."""
    root = logging.getLogger("smstrio")
    handlers, previous_level = list(root.handlers), root.level
    logs.setup("INFO", log_format="json")
    try:
        replaced = io.StringIO()
        monkeypatch.setattr(sys, "stderr", replaced)
        logs.event(logging.getLogger("smstrio.test"), "consuming")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(previous_level)
    assert json.loads(replaced.getvalue())["event"] == "consuming"


def test_console_shows_only_the_key_fields_of_a_stats_or_summary_event() -> None:
    """The stats and summary events' console lines carry their key fields only (plus the bound ones but role and
    queue), in the order CONSOLE_FIELDS gives, so they fit a terminal's line; JSON lines keep every field."""
    stats: dict[str, Any] = {"produced": 1000, "processed": 340, "sent": 306, "failed": 34, "invalid": 0}
    stats |= {"queue_depth": 560, "rate_1s": 340.0, "rate_60s": 5.7, "eta_s": 1.9, "updated_at": 1.5, "queue": "q"}
    summary = {"settled": 80, "sent": 68, "failed": 12, "duplicates": 0, "retried": 0, "in_flight": 20}
    with capture_logs("DEBUG", log_format="console") as stream, logs.bind(role="sender", queue="q", sender="s1"):
        logs.event(logging.getLogger("smstrio.test"), "stats", **stats)
        logs.event(logging.getLogger("smstrio.test"), "summary", **summary, buffered=20, rate_per_s=16.0)
    stats_line, summary_line = (line.split(maxsplit=3)[3] for line in stream.getvalue().splitlines())
    assert stats_line == "processed=340 sent=306 failed=34 queue_depth=560 rate_1s=340.0 eta_s=1.9 sender=s1"
    assert summary_line == "sent=68 failed=12 retried=0 in_flight=20 rate_per_s=16.0 sender=s1"
