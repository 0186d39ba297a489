"""The bridge's cost: trio-asyncio's stock loop against the draining loop, on the local RabbitMQ and Redis.

Two scenarios, each measured on both loops in the same run:

1. publish: persistent messages with publisher confirms through ``AmqpBroker.publish``,
   ``--window`` in flight at a time (one bridge crossing per window);
2. consume: the messages just published, taken by ``run_sender`` (``--workers`` workers,
   constant send time 0, prefetch twice the workers), recorded in Redis per batch and
   acknowledged, until every one is settled.

Each of the ``--runs`` rounds measures both loops, alternating which goes first, each in
a fresh ``trio.run`` with its own connections and its own queue; the table shows every
rate and the median. Queues are deleted and Redis keys reset afterwards; the servers
themselves are never touched.

Usage: uv run python benchmarks/bridge.py [--messages 20000] [--window 1000] [--workers 100] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.loop import DrainingTrioEventLoop, open_loop
from smstrio.adapters.redis.store import RedisStore
from smstrio.core.config import Common, SenderSettings
from smstrio.core.distributions import Distribution, sampler
from smstrio.core.message import encode, new_run_id, random_sms
from smstrio.ports import Outgoing
from smstrio.roles.gateway import SimulatedGateway
from smstrio.roles.sender import run_sender
from smstrio.testing import delete_queues

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
LOOPS = ("stock", "draining")
CAP_S = 300.0
"""A hard cap on each measurement, so a stalled consumer fails the run instead of hanging it."""


class _CountingBroker(AmqpBroker):
    """An :class:`AmqpBroker` that sets ``all_acked`` once ``expected`` deliveries are acknowledged."""

    expected = 0
    acked = 0
    all_acked: trio.Event

    async def ack(self, tags: Sequence[int]) -> None:
        await super().ack(tags)
        self.acked += len(tags)
        if self.acked >= self.expected:
            self.all_acked.set()


@dataclass(frozen=True, slots=True, kw_only=True)
class Measurement:
    """One round on one loop."""

    loop: str
    publish_per_s: float
    consume_per_s: float
    handles_per_pass: float | None
    """For the draining loop: asyncio handles run per main-loop pass, over the round."""


async def measure(*, drain: bool, messages: int, window: int, workers: int, seed: int) -> Measurement:
    """Publish ``messages`` to a fresh queue, then consume them all, on one loop."""
    queue = f"bench-bridge-{uuid.uuid4().hex[:12]}"
    rng = random.Random(seed)
    run = new_run_id(rng)
    now = time.time()
    windows = [
        [
            Outgoing(sms.message_id, encode(sms))
            for sms in (random_sms(rng, run=run, seq=seq, created_at=now) for seq in range(first, first + window))
        ]
        for first in range(0, messages, window)
    ]
    settings = SenderSettings(
        common=Common(queue=queue, amqp_url=AMQP_URL, redis_url=REDIS_URL),
        workers=workers,
        mean=0.0,
        failure_rate=0.0,
        distribution=Distribution.CONSTANT,
        grace=5.0,
    )
    gateway = SimulatedGateway(sampler(Distribution.CONSTANT, 0.0, rng), 0.0, rng)
    async with open_loop(drain=drain) as loop:
        broker = await _CountingBroker.connect(AMQP_URL, name="smstrio bridge benchmark")
        assert isinstance(broker, _CountingBroker)
        broker.expected, broker.all_acked = messages, trio.Event()
        store = await RedisStore.connect(REDIS_URL, queue)
        try:
            await broker.declare(queue)
            with trio.fail_after(CAP_S):
                before = loop.statistics() if isinstance(loop, DrainingTrioEventLoop) else None
                started = trio.current_time()
                for batch in windows:
                    flags = await broker.publish(queue, batch)
                    if not all(flags):
                        raise RuntimeError(f"the broker refused {flags.count(False)} of a window")
                publish_s = trio.current_time() - started
                async with trio.open_nursery() as nursery:
                    sender = await nursery.start(run_sender, settings, broker, store, gateway)
                    started = trio.current_time()
                    await broker.all_acked.wait()
                    consume_s = trio.current_time() - started
                    sender.stop()
                after = loop.statistics() if isinstance(loop, DrainingTrioEventLoop) else None
        finally:
            with trio.move_on_after(10, shield=True):
                await store.reset()
                await store.aclose()
                await broker.aclose()
                await delete_queues(queue)
    per_pass = None
    if before is not None and after is not None:
        per_pass = round((after.handles - before.handles) / max(after.passes - before.passes, 1), 2)
    return Measurement(
        loop="draining" if drain else "stock",
        publish_per_s=round(messages / publish_s, 1),
        consume_per_s=round(messages / consume_s, 1),
        handles_per_pass=per_pass,
    )


def summarize(rounds: list[Measurement]) -> dict[str, Any]:
    """Per loop: every round's rates and their medians; and the medians' ratio, draining over stock."""
    loops: dict[str, Any] = {}
    for name in LOOPS:
        mine = [m for m in rounds if m.loop == name]
        loops[name] = {
            "publish_per_s": [m.publish_per_s for m in mine],
            "consume_per_s": [m.consume_per_s for m in mine],
            "publish_median": statistics.median(m.publish_per_s for m in mine),
            "consume_median": statistics.median(m.consume_per_s for m in mine),
        }
        per_pass = [m.handles_per_pass for m in mine if m.handles_per_pass is not None]
        if per_pass:
            loops[name]["handles_per_pass_median"] = statistics.median(per_pass)
    ratio = {
        what: round(loops["draining"][f"{what}_median"] / loops["stock"][f"{what}_median"], 2)
        for what in ("publish", "consume")
    }
    return {"loops": loops, "draining_over_stock": ratio}


def table(summary: dict[str, Any], args: argparse.Namespace) -> str:
    """The summary as a fixed-width table."""
    lines = [
        f"{args.messages} messages, window {args.window}, {args.workers} workers (mean 0), {args.runs} rounds",
        f"{'scenario':<10} {'loop':<9} {'msg/s per round':<30} {'median':>8}",
    ]
    for what in ("publish", "consume"):
        for name in LOOPS:
            data = summary["loops"][name]
            rates = "  ".join(f"{r:>8.0f}" for r in data[f"{what}_per_s"])
            lines.append(f"{what:<10} {name:<9} {rates:<30} {data[f'{what}_median']:>8.0f}")
        lines.append(f"{what:<10} {'ratio':<9} {'draining / stock':<30} {summary['draining_over_stock'][what]:>7.2f}x")
    per_pass = summary["loops"]["draining"].get("handles_per_pass_median")
    if per_pass is not None:
        lines.append(f"draining loop: {per_pass} asyncio handles per pass (median; the stock loop runs 1)")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000, help="messages per measurement")
    parser.add_argument("--window", type=int, default=1000, help="publishes in flight at once")
    parser.add_argument("--workers", type=int, default=100, help="sender workers (prefetch is twice this)")
    parser.add_argument("--runs", type=int, default=3, help="rounds; each measures both loops")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args()
    rounds: list[Measurement] = []
    for number in range(args.runs):
        order = (False, True) if number % 2 == 0 else (True, False)
        for drain in order:
            one = functools.partial(
                measure, drain=drain, messages=args.messages, window=args.window, workers=args.workers, seed=number
            )
            rounds.append(trio.run(one))
    summary = summarize(rounds)
    if args.json:
        print(json.dumps({"settings": vars(args), **summary, "rounds": [asdict(m) for m in rounds]}))
    else:
        print(table(summary, args))


if __name__ == "__main__":
    main()
