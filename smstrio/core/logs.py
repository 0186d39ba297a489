"""Structured logging with per-task context: JSON lines for machines, short lines for people.

``bind(role="sender", worker=3)`` adds fields to every record logged in the
current Trio task and the tasks it starts afterwards (context variables are
copied into child tasks). ``event(log, "name", key=value)`` logs one structured
event; tests assert on ``record.fields``, never on formatted strings.

``setup`` writes each record as one JSON object per line, or, for a person at a terminal, as
one aligned ``key=value`` line coloured by level (:class:`ConsoleFormatter`); a log file
always gets JSON.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("smstrio_log_context", default={})  # noqa: B039 - never mutated, only replaced


THIRD_PARTY_LOGGERS = ("aiormq", "asyncio", "trio_asyncio", "hypercorn", "redis", "quart")
LOG_FORMATS = ("auto", "console", "json")
"""``auto``: console lines when the stream is a terminal, JSON lines otherwise."""


class _ReportedByUs(logging.Filter):
    """Drops aiormq's own error line for a failed connect: the adapter raises the same failure as
    one line of ours (at start) or logs it with the retry (on reconnect)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("error when creating transport")


_REPORTED_BY_US = _ReportedByUs()


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every record logged in this context until the block ends."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def bound() -> dict[str, Any]:
    """The fields currently bound."""
    return dict(_context.get())


def event(log: logging.Logger, name: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log structured event ``name`` with ``fields`` (plus the bound context)."""
    log.log(level, name, extra={"fields": fields})


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.context = _context.get()
        if not hasattr(record, "fields"):
            record.fields = {}
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``event``, the bound context, the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **getattr(record, "context", {}),
            **getattr(record, "fields", {}),
        }
        if record.exc_info and record.exc_info[1] is not None:
            data["error"] = repr(record.exc_info[1])
        return json.dumps(data, default=str, separators=(",", ":"))


_LEVEL_NAMES = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRIT",
}
_LEVEL_COLORS = {"DEBUG": "2", "INFO": "32", "WARN": "33", "ERROR": "31", "CRIT": "1;31"}
"""SGR codes: dim, green, yellow, red, bold red."""
_CONSOLE_HIDDEN = frozenset({"role", "queue"})
"""Bound fields the same on every line of a process, which a person at its terminal knows already."""
EVENT_WIDTH = 16
"""Console lines pad the event name to this width, so the fields of short events line up."""
CONSOLE_FIELDS: dict[str, tuple[str, ...]] = {
    "stats": ("processed", "sent", "failed", "queue_depth", "rate_1s", "eta_s"),
    "summary": ("sent", "failed", "retried", "in_flight", "rate_per_s", "limit_wait_s", "processes", "restarts"),
    "stopped": ("sent", "failed", "invalid", "duplicates", "retried"),
    "simulated": ("sent", "failed", "duration_s", "passed"),
}
"""Events of many fields whose console line shows only these, so that it fits a terminal's line (the JSON lines
keep every field)."""


class ConsoleFormatter(logging.Formatter):
    """``12:04:05.123 INFO  consuming         prefetch=40 workers=20``: local time, level, event,
    then the event's fields and the bound ones (but role and queue) as ``key=value``; values that are
    not plain words in JSON. Fields without a value (null) and nested records (objects, lists of objects:
    the ``stats`` event's senders and percentiles) stay in the JSON lines, out of these short ones, as do
    the fields of a :data:`CONSOLE_FIELDS` event but its key ones. With ``color``, ANSI colours:
    the level by severity, the event bold."""

    def __init__(self, *, color: bool) -> None:
        super().__init__()
        self._color = color

    def _paint(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self._color else text

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
        level = _LEVEL_NAMES.get(record.levelno, record.levelname[:5])
        fields = {**getattr(record, "fields", {})}
        keys = CONSOLE_FIELDS.get(record.getMessage())
        if keys is not None:
            fields = {k: fields[k] for k in keys if k in fields}
        fields |= {k: v for k, v in getattr(record, "context", {}).items() if k not in _CONSOLE_HIDDEN}
        if record.exc_info and record.exc_info[1] is not None:
            fields["error"] = repr(record.exc_info[1])
        shown = {k: v for k, v in fields.items() if v is not None and not _nested(v)}
        pairs = " ".join(f"{self._paint('36', k)}={_plain(v)}" for k, v in shown.items())
        painted = self._paint(_LEVEL_COLORS.get(level, "0"), level.ljust(5))
        name = self._paint("1", record.getMessage().ljust(EVENT_WIDTH))
        return f"{self._paint('2', clock)} {painted} {name}  {pairs}".rstrip()


def _nested(value: Any) -> bool:
    """An object, or a list holding one."""
    return isinstance(value, dict) or (isinstance(value, list | tuple) and any(isinstance(v, dict) for v in value))


def _plain(value: Any) -> str:
    """A word as is; anything else (text with spaces, quotes or ``=``, numbers, lists) as compact JSON."""
    if isinstance(value, str) and value and not any(c in value for c in ' "=\n'):
        return value
    return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes, so that a live display which
    redirects it (``rich.live``) prints log lines above itself instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging's own rule: a failed write reports itself, never raises
            self.handleError(record)


def setup(
    level: str = "INFO",
    log_file: Path | None = None,
    stream: TextIO | None = None,
    *,
    log_format: str = "auto",
    color: bool | None = None,
) -> None:
    """Send the ``smstrio`` loggers to ``stream`` (stderr) and, if given, append JSON lines to ``log_file``.

    ``log_format`` (one of :data:`LOG_FORMATS`) picks the stream's lines; ``color`` (default: when
    the stream is a terminal) colours console lines.
    """
    root = logging.getLogger("smstrio")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    terminal = (stream or sys.stderr).isatty()
    console = log_format == "console" or (log_format == "auto" and terminal)
    out: logging.Handler = _Stderr() if stream is None else logging.StreamHandler(stream)
    out.setFormatter(ConsoleFormatter(color=terminal if color is None else color) if console else JsonFormatter())
    handlers = [out]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
        handlers[-1].setFormatter(JsonFormatter())
    for handler in handlers:
        handler.addFilter(_ContextFilter())
        root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    # Libraries (aiormq, hypercorn, redis) log through the same JSON lines, warnings and up only.
    connection = logging.getLogger("aiormq.connection")
    if _REPORTED_BY_US not in connection.filters:
        connection.addFilter(_REPORTED_BY_US)
    for name in THIRD_PARTY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers = list(root.handlers)
        library.setLevel(max(logging.WARNING, logging.getLevelNamesMapping()[level]))
        library.propagate = False
