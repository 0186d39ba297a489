"""The core pipeline's measurements (issue 2), on the local RabbitMQ and Redis.

1. exact counts: 20,000 messages, 4 ``smstrio send`` processes of 50 workers, mean 0;
   sent + failed must equal 20,000 exactly.
2. concurrency: one sender with 200 workers at a 0.5 s mean (exponential) against the
   ideal 400 messages/s, measured while the queue is still non-empty (the first 90%
   of the messages), and over the whole run.

Usage: uv run python benchmarks/core.py [--json] [--messages-concurrency N]
Each run uses fresh queue names and deletes its queues and statistics afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from typing import Any

import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redis.store import RedisStore
from smstrio.core.config import Common, ProducerSettings, SenderSettings
from smstrio.core.distributions import Distribution, sampler
from smstrio.roles.gateway import SimulatedGateway
from smstrio.roles.producer import run_producer
from smstrio.roles.sender import run_sender
from smstrio.testing import delete_queues

AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _smstrio(*args: str, queue: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AMQP_URL": AMQP_URL, "REDIS_URL": REDIS_URL, "QUEUE_NAME": queue}
    return subprocess.Popen(
        [sys.executable, "-m", "smstrio", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def exact_counts(messages: int = 20_000, senders: int = 4, workers: int = 50) -> dict[str, Any]:
    queue = f"bench-exact-{uuid.uuid4().hex[:8]}"
    producer = _smstrio("produce", str(messages), queue=queue)
    out, err = producer.communicate()
    assert producer.returncode == 0, err.decode()[-500:]
    produced = json.loads(out)
    started = time.perf_counter()
    procs = [
        _smstrio("send", "--workers", str(workers), "--mean", "0", "--seed", str(i), "--until-empty", queue=queue)
        for i in range(senders)
    ]
    for p in procs:
        p.communicate()
        assert p.returncode == 0
    seconds = time.perf_counter() - started
    stats_proc = _smstrio("stats", queue=queue)
    stats = json.loads(stats_proc.communicate()[0])
    trio.run(_cleanup, queue)
    return {
        "scenario": f"{messages} messages, {senders} senders x {workers} workers, mean 0",
        "produced": stats["produced"],
        "sent_plus_failed": stats["sent"] + stats["failed"],
        "duplicates": stats["duplicates"],
        "exact": stats["sent"] + stats["failed"] == messages == stats["produced"],
        "publish_rate_per_s": produced["rate_per_s"],
        "drain_seconds_incl_startup": round(seconds, 2),
    }


async def concurrency(messages: int, workers: int = 200, mean: float = 0.5) -> dict[str, Any]:
    queue = f"bench-conc-{uuid.uuid4().hex[:8]}"
    common = Common(queue=queue, amqp_url=AMQP_URL, redis_url=REDIS_URL)
    async with open_bridge():
        broker = await AmqpBroker.connect(AMQP_URL)
        store = await RedisStore.connect(REDIS_URL, queue)
        try:
            await run_producer(ProducerSettings(common=common, count=messages), broker, store)
            settings = SenderSettings(
                common=common, workers=workers, mean=mean, failure_rate=0.1, distribution=Distribution.EXPONENTIAL
            )
            rng = random.Random(7)
            gateway = SimulatedGateway(sampler(settings.distribution, mean, rng), settings.failure_rate, rng)
            async with trio.open_nursery() as nursery:
                sender = await nursery.start(run_sender, settings, broker, store, gateway)
                started = trio.current_time()
                t90 = None
                while (done := sender.statistics().settled) < messages:
                    if t90 is None and done >= 0.9 * messages:
                        t90 = trio.current_time() - started
                    await trio.sleep(0.01)
                total = trio.current_time() - started
                sender.stop()
        finally:
            await store.reset()
            await store.aclose()
            await broker.aclose()
        await delete_queues(queue)
    ideal = workers / mean
    assert t90 is not None
    steady = 0.9 * messages / t90
    return {
        "scenario": f"1 sender, {workers} workers, exponential mean {mean}s, {messages} messages",
        "ideal_per_s": ideal,
        "steady_per_s": round(steady, 1),
        "steady_ratio": round(steady / ideal, 3),
        "overall_per_s": round(messages / total, 1),
        "overall_ratio": round(messages / total / ideal, 3),
    }


async def _cleanup(queue: str) -> None:
    async with open_bridge():
        store = await RedisStore.connect(REDIS_URL, queue)
        await store.reset()
        await store.aclose()
        await delete_queues(queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    parser.add_argument("--messages-concurrency", type=int, default=8000, help="messages for the concurrency run")
    args = parser.parse_args()
    results = {
        "exact_counts": exact_counts(),
        "concurrency": trio.run(concurrency, args.messages_concurrency),
    }
    if args.json:
        print(json.dumps(results))
    else:
        for name, result in results.items():
            print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
