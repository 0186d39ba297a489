"""JSON-line logging with per-task context.

``bind(role="sender", worker=3)`` adds fields to every record logged in the
current Trio task and the tasks it starts afterwards (context variables are
copied into child tasks). ``event(log, "name", key=value)`` logs one structured
event; tests assert on ``record.fields``, never on formatted strings.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("smstrio_log_context", default={})  # noqa: B039 - never mutated, only replaced


THIRD_PARTY_LOGGERS = ("aiormq", "asyncio", "trio_asyncio", "hypercorn", "redis", "quart")


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


def setup(level: str = "INFO", log_file: Path | None = None, stream: TextIO | None = None) -> None:
    """Send the ``smstrio`` loggers to ``stream`` (stderr) and, if given, append to ``log_file``."""
    root = logging.getLogger("smstrio")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(JsonFormatter())
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
