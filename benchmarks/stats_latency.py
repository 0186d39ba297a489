"""GET /stats latency while messages flow (issue 4): target p99 < 50 ms over 1,000 requests.

Starts, on a fresh queue, ``smstrio monitor`` (``--interval``, default 1 s), ``smstrio produce 50000`` and,
once messages are queued, ``smstrio send`` (100 workers, exponential mean 0.05 s: about
2,000 messages/s at most, so the queue drains for longer than the measurement). While the
sender works, fires 1,000 GET /stats requests, ``--concurrency`` at a time (default 1: one
dashboard or scraper after another; 10 measures queueing more than latency), each on a fresh
connection (connect + request + whole body), and reports p50/p99/max latency together with
how many messages were processed meanwhile. The processes are then stopped and the queues
and statistics deleted.

Usage: uv run python benchmarks/stats_latency.py [--messages N] [--requests N] [--concurrency N]
                                                 [--interval S] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import trio

from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redis.store import RedisStore
from smstrio.core.histogram import nearest_rank
from smstrio.testing import AMQP_URL, REDIS_URL, delete_queues, free_port, http_get

TARGET_P99_MS = 50.0


def _start(*args: str, queue: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AMQP_URL": AMQP_URL, "REDIS_URL": REDIS_URL, "QUEUE_NAME": queue}
    env.pop("MONITOR_TOKEN", None)
    return subprocess.Popen(
        [sys.executable, "-m", "smstrio", *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def _stats(port: int) -> dict[str, Any]:
    status, _, body = await http_get("127.0.0.1", port, "/stats")
    assert status == 200, body
    data: dict[str, Any] = json.loads(body)
    return data


async def _wait_for(port: int, ok: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll /stats until ``ok`` holds (the caller bounds the wait)."""
    while True:
        try:
            stats = await _stats(port)
            if ok(stats):
                return stats
        except OSError:  # the monitor is not listening yet
            pass
        await trio.sleep(0.2)


async def _fire(port: int, requests: int, concurrency: int) -> list[float]:
    """``requests`` GET /stats, ``concurrency`` at a time; each one's latency in milliseconds."""
    latencies: list[float] = []
    left = iter(range(requests))

    async def client() -> None:
        for _ in left:
            started = time.perf_counter()
            status, _, _ = await http_get("127.0.0.1", port, "/stats")
            latencies.append((time.perf_counter() - started) * 1000)
            assert status == 200

    async with trio.open_nursery() as nursery:
        for _ in range(concurrency):
            nursery.start_soon(client)
    return latencies


async def measure(messages: int, requests: int, concurrency: int, interval: float) -> dict[str, Any]:
    queue = f"bench-stats-{uuid.uuid4().hex[:8]}"
    port = free_port()
    monitor = _start("monitor", "--interval", str(interval), "--port", str(port), "--json", queue=queue)
    producer = _start("produce", str(messages), queue=queue)
    sender: subprocess.Popen[bytes] | None = None
    try:
        with trio.fail_after(60):
            await _wait_for(port, lambda s: s["produced"] >= min(messages, 5000))
        args = ("send", "--workers", "100", "--mean", "0.05", "--failure-rate", "0.1", "--until-empty")
        sender = _start(*args, queue=queue)
        with trio.fail_after(60):
            before = await _wait_for(port, lambda s: s["processed"] >= 500)
        started = time.perf_counter()
        latencies = await _fire(port, requests, concurrency)
        seconds = time.perf_counter() - started
        await trio.sleep(interval + 0.1)  # one more interval, so the snapshot covers the measurement
        after = await _stats(port)
    finally:
        for process in (sender, producer, monitor):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in (sender, producer, monitor):
            if process is not None:
                process.wait(timeout=60)
        await _cleanup(queue)
    ordered = sorted(latencies)

    def pick(q: float) -> float:
        return round(ordered[nearest_rank(q, len(ordered)) - 1], 2)

    return {
        "scenario": f"{messages} messages, 1 sender x 100 workers (mean 0.05 s), monitor interval {interval} s",
        "requests": len(ordered),
        "concurrency": concurrency,
        "seconds": round(seconds, 2),
        "requests_per_s": round(len(ordered) / seconds, 1),
        "p50_ms": pick(50),
        "p99_ms": pick(99),
        "max_ms": round(ordered[-1], 2),
        "target_p99_ms": TARGET_P99_MS,
        "met": pick(99) < TARGET_P99_MS,
        "processed_during": after["processed"] - before["processed"],
        "produced": after["produced"],
        "queue_depth_after": after["queue_depth"],
    }


async def _cleanup(queue: str) -> None:
    async with open_bridge():
        store = await RedisStore.connect(REDIS_URL, queue)
        await store.reset()
        await store.aclose()
        await delete_queues(queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000, help="messages produced and sent")
    parser.add_argument("--requests", type=int, default=1000, help="GET /stats requests")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--interval", type=float, default=1.0, help="the monitor's interval in seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a line")
    args = parser.parse_args()
    result = trio.run(measure, args.messages, args.requests, args.concurrency, args.interval)
    if args.json:
        print(json.dumps(result))
    else:
        print(", ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
