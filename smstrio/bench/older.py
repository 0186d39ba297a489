"""The older project's design, run as a throughput reference for ``smstrio bench``.

Faithful to the pika project smstrio replaces: a ``BlockingConnection``, a plain durable queue,
JSON bodies ``{"message_id", "phone_number", "message"}``.

- ``publish``: ``basic_publish`` per message, persistent (``delivery_mode=2``), **no confirms**.
- ``--log-each`` (both scenarios): one JSON log line per message on stderr through a JSON
  formatter, as the older project's producer and sender did ("a custom JSON formatter to log
  structured data"). ``smstrio bench`` measures both: with it, the older design as it ran;
  without it, bare pika, which bounds what any pika program could reach.
- ``send``: ``basic_qos(prefetch_count=1)``, manual ack per message. Each message is decoded,
  "sent" with zero wait, then counted the older way: ``GET`` one JSON document from Redis, change
  its counts and average, ``SET`` it back, then ``basic_ack``. That read-modify-write is not
  atomic, which is why the older project's counts were wrong with more than one sender: two
  senders read the same document and one write overwrites the other's.

Usage: ``python -m smstrio.bench.older publish --amqp-url URL --queue Q --messages N`` and
``python -m smstrio.bench.older send --amqp-url URL --queue Q --redis-url URL --stats-key K --expected N``.
Each prints one JSON line ``{"reference", "scenario", "messages", "seconds", "rate_per_s"}``, timing
only the publishing or consuming. Exit codes: 0 done, 1 fewer messages than expected (none arrived
for 2 s) or unconfirmed publishes, 2 usage, 3 RabbitMQ or Redis failed, 4 pika is not installed
(it is imported lazily). ``plain_asyncio`` shares :func:`report` and :class:`Failed`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import random
import string
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis

from smstrio.core.urls import redact

IDLE_S = 2.0
"""``send`` stops once no message arrived for this long."""

EXIT_INCOMPLETE, EXIT_UNAVAILABLE, EXIT_NO_PIKA = 1, 3, 4
_TEXT = string.ascii_letters + string.digits + " "


class Failed(Exception):
    """An expected failure: its message is the one stderr line, ``code`` the exit code."""

    def __init__(self, code: int, line: str) -> None:
        super().__init__(line)
        self.code = code


def _pika() -> Any:
    try:
        import pika  # lazily: an optional dependency that only this reference needs
    except ImportError:
        raise Failed(EXIT_NO_PIKA, "pika is not installed") from None
    return pika


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        return json.dumps({"ts": record.created, "level": record.levelname, "event": record.getMessage(), **fields})


def _log_each(enabled: bool) -> Callable[[str, dict[str, Any]], None]:
    """Log one JSON line per message to stderr when ``enabled``; else do nothing."""
    if not enabled:
        return lambda event, fields: None
    log = logging.getLogger("smstrio.bench.older")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    return lambda event, fields: log.info(event, extra={"fields": fields})


def _sms() -> dict[str, str]:
    return {
        "message_id": str(uuid.uuid4()),
        "phone_number": f"+1{random.randint(2_000_000_000, 9_999_999_999)}",
        "message": "".join(random.choices(_TEXT, k=random.randint(1, 100))),
    }


def _record(client: redis.Redis, key: str, elapsed: float) -> None:
    """The older statistics update: GET the JSON document, change it, SET it back (not atomic)."""
    raw = client.get(key)
    stats = json.loads(raw) if raw else {"messages_sent": 0, "messages_failed": 0, "average_time": 0.0}
    done = stats["messages_sent"] + stats["messages_failed"]
    stats["average_time"] = (stats["average_time"] * done + elapsed) / (done + 1)
    stats["messages_sent"] += 1
    client.set(key, json.dumps(stats))


@contextlib.contextmanager
def _channel(pika: Any, args: argparse.Namespace, store: redis.Redis | None = None) -> Iterator[tuple[Any, Any]]:
    """A connection and channel with the queue declared (after pinging ``store``); errors become :class:`Failed`."""
    try:
        if store is not None:
            store.ping()
        connection = pika.BlockingConnection(pika.URLParameters(args.amqp_url))
        try:
            channel = connection.channel()
            channel.queue_declare(queue=args.queue, durable=True)
            yield connection, channel
        finally:
            connection.close()
    except pika.exceptions.AMQPError as exc:
        raise Failed(EXIT_UNAVAILABLE, f"RabbitMQ at {redact(args.amqp_url)}: {exc!r}") from exc
    except redis.RedisError as exc:
        raise Failed(EXIT_UNAVAILABLE, f"Redis at {redact(args.redis_url)}: {type(exc).__name__}: {exc}") from exc


def publish(args: argparse.Namespace) -> tuple[int, float]:
    """Publish ``args.messages`` persistent messages without confirms; return (count, seconds)."""
    pika = _pika()
    with _channel(pika, args) as (_, channel):
        properties = pika.BasicProperties(delivery_mode=2)
        log = _log_each(args.log_each)
        started = time.perf_counter()
        for _ in range(args.messages):
            sms = _sms()
            channel.basic_publish(exchange="", routing_key=args.queue, body=json.dumps(sms), properties=properties)
            log("message published", sms)
        return args.messages, time.perf_counter() - started


def send(args: argparse.Namespace) -> tuple[int, float]:
    """Consume and count up to ``args.expected`` messages the older way; return (count, seconds)."""
    pika = _pika()
    client = redis.Redis.from_url(args.redis_url, socket_timeout=5, socket_connect_timeout=5)
    with contextlib.closing(client), _channel(pika, args, client) as (connection, channel):
        channel.basic_qos(prefetch_count=1)
        log = _log_each(args.log_each)
        handled, started = 0, time.perf_counter()
        last = started

        def on_message(ch: Any, method: Any, _properties: Any, body: bytes) -> None:
            nonlocal handled, last
            began = time.perf_counter()
            sms = json.loads(body)  # the "send" itself takes no time
            _record(client, args.stats_key, time.perf_counter() - began)
            log("message sent", {"message_id": sms.get("message_id")})
            ch.basic_ack(delivery_tag=method.delivery_tag)
            handled += 1
            last = time.perf_counter()
            if handled >= args.expected:
                ch.stop_consuming()

        def stop_when_idle() -> None:
            if time.perf_counter() - last >= IDLE_S:
                channel.stop_consuming()
            else:
                connection.call_later(0.2, stop_when_idle)

        channel.basic_consume(queue=args.queue, on_message_callback=on_message)
        connection.call_later(0.2, stop_when_idle)
        channel.start_consuming()
        return handled, last - started


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m smstrio.bench.older", description="The older project's design as a reference."
    )
    commands = parser.add_subparsers(dest="scenario", required=True)
    for name, command, count in (("publish", publish, "--messages"), ("send", send, "--expected")):
        sub = commands.add_parser(name)
        sub.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
        sub.add_argument("--queue", required=True)
        sub.add_argument(count, type=positive, required=True)
        sub.add_argument("--log-each", action="store_true", help="log one JSON line per message, as the older project")
        sub.set_defaults(run=command)
    commands.choices["send"].add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    commands.choices["send"].add_argument("--stats-key", required=True)
    return parser


def report(reference: str, args: argparse.Namespace, run: Callable[[argparse.Namespace], tuple[int, float]]) -> int:
    """Run one scenario of a reference, print its JSON line (or one stderr line); return the exit code."""
    try:
        messages, seconds = run(args)
    except Failed as exc:
        print(exc, file=sys.stderr)
        return exc.code
    rate = round(messages / seconds, 1) if seconds > 0 else 0.0
    line = {"reference": reference, "scenario": args.scenario, "messages": messages, "seconds": round(seconds, 4)}
    print(json.dumps({**line, "rate_per_s": rate}), flush=True)
    wanted = getattr(args, "expected", messages)
    if messages < wanted:
        print(f"only {messages} of {wanted} messages arrived (queue empty for {IDLE_S:g} s)", file=sys.stderr)
        return EXIT_INCOMPLETE
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m smstrio.bench.older``; return the exit code."""
    args = _parser().parse_args(argv)
    return report("older", args, args.run)


if __name__ == "__main__":
    sys.exit(main())
