"""aiormq on plain asyncio, run as a throughput reference for ``smstrio bench``.

The same client library smstrio uses, without the trio-asyncio bridge: the ratio of smstrio's
rate to this one is what the bridge and smstrio's own work cost. This module must never import
trio or trio_asyncio (importing trio_asyncio patches asyncio for the whole process, which is
why references run in processes of their own).

- ``publish``: smstrio's kind of message (same codec and properties), persistent, publisher
  confirms, ``--in-flight`` (default 256) publishes outstanding at a time, each confirmed.
- ``send``: consume with ``--prefetch`` (default 256), ``basic_ack`` each message on its own,
  no other work; stop after ``--expected`` messages (or once none arrived for 2 s).

Usage::

    python -m smstrio.bench.plain_asyncio publish --amqp-url URL --queue Q --messages N [--in-flight 256]
    python -m smstrio.bench.plain_asyncio send --amqp-url URL --queue Q --expected N [--prefetch 256]

Prints one JSON line ``{"reference", "scenario", "messages", "seconds", "rate_per_s"}``; the
time covers publishing or consuming only, not connecting. Exit codes: 0 done, 1 a publish was
not confirmed or fewer messages than expected arrived, 2 usage, 3 RabbitMQ failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

import aiormq
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from smstrio.bench.older import EXIT_INCOMPLETE, EXIT_UNAVAILABLE, IDLE_S, Failed, positive, report
from smstrio.core.message import encode, new_run_id, random_sms
from smstrio.core.urls import redact

CONSUMER_TAG = "smstrio-bench-plain-asyncio"


async def publish(channel: aiormq.abc.AbstractChannel, args: argparse.Namespace) -> tuple[int, float]:
    """Publish ``args.messages`` confirmed messages, ``args.in_flight`` at a time; return (count, seconds)."""
    rng = random.Random()
    run = new_run_id(rng)
    seqs = iter(range(args.messages))
    refused = 0

    async def publisher() -> None:
        nonlocal refused
        for seq in seqs:  # shared by every publisher: each takes the next sequence number
            sms = random_sms(rng, run=run, seq=seq, created_at=time.time())
            properties = Basic.Properties(delivery_mode=2, content_type="application/json", message_id=sms.message_id)
            confirm = await channel.basic_publish(encode(sms), routing_key=args.queue, properties=properties)
            if not isinstance(confirm, Basic.Ack):
                refused += 1

    started = time.perf_counter()
    async with asyncio.TaskGroup() as tasks:
        for _ in range(min(args.in_flight, args.messages)):
            tasks.create_task(publisher())
    seconds = time.perf_counter() - started
    if refused:
        raise Failed(EXIT_INCOMPLETE, f"{refused} of {args.messages} publishes were not confirmed")
    return args.messages, seconds


async def send(channel: aiormq.abc.AbstractChannel, args: argparse.Namespace) -> tuple[int, float]:
    """Ack up to ``args.expected`` messages one by one; return (count, seconds)."""
    await channel.basic_qos(prefetch_count=args.prefetch)
    handled = 0
    done = asyncio.Event()
    started = last = time.perf_counter()

    async def on_message(message: DeliveredMessage) -> None:
        nonlocal handled, last
        assert message.delivery_tag is not None  # a consumer's deliveries always carry one
        await channel.basic_ack(message.delivery_tag)
        handled += 1
        last = time.perf_counter()
        if handled >= args.expected:
            done.set()

    await channel.basic_consume(args.queue, on_message, consumer_tag=CONSUMER_TAG)
    while not done.is_set() and time.perf_counter() - last < IDLE_S:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=0.2)
    await channel.basic_cancel(CONSUMER_TAG)
    return handled, last - started


Scenario = Callable[[aiormq.abc.AbstractChannel, argparse.Namespace], Awaitable[tuple[int, float]]]


async def _run(scenario: Scenario, args: argparse.Namespace) -> tuple[int, float]:
    try:
        connection = await aiormq.connect(args.amqp_url)
        try:
            channel = await connection.channel()
            await channel.queue_declare(args.queue, durable=True)
            return await scenario(channel, args)
        finally:
            await connection.close()
    except* (aiormq.exceptions.AMQPError, OSError) as group:  # also what the publishers' TaskGroup raises
        exc = group.exceptions[0]
        raise Failed(EXIT_UNAVAILABLE, f"RabbitMQ at {redact(args.amqp_url)}: {exc!r}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m smstrio.bench.plain_asyncio", description="aiormq on plain asyncio."
    )
    commands = parser.add_subparsers(dest="scenario", required=True)
    for name, scenario, count, window in (
        ("publish", publish, "--messages", "--in-flight"),
        ("send", send, "--expected", "--prefetch"),
    ):
        sub = commands.add_parser(name)
        sub.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
        sub.add_argument("--queue", required=True)
        sub.add_argument(count, type=positive, required=True)
        sub.add_argument(window, type=positive, default=256)
        sub.set_defaults(run=scenario)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m smstrio.bench.plain_asyncio``; return the exit code."""
    args = _parser().parse_args(argv)
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)  # its connection errors are reported as one line
    return report("plain-asyncio", args, lambda a: asyncio.run(_run(a.run, a)))


if __name__ == "__main__":
    sys.exit(main())
