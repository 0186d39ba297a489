"""``smstrio send --processes 2`` against one process at mean 0: the sender pipeline on both cores.

Per round and per process count (1, then 2): publishes N messages to a fresh queue, runs
``smstrio send --processes P --until-empty --mean 0 --workers W``, and reads the queue's
totals from Redis every 50 ms. Prints the rate between the first outcome and the last
(process start-up not counted, as ``smstrio bench`` takes it), the command's wall time
(start-up and the ``--until-empty`` checks included), and whether the counts are exact.

Usage: uv run python benchmarks/processes.py [--messages 50000] [--workers 100] [--rounds 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import trio

from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio, delete_queues, stats

POLL_S = 0.05


async def drain(messages: int, workers: int, processes: int) -> dict[str, Any]:
    queue = f"bench-processes-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as logs:
        smstrio = Smstrio(queue, AMQP_URL, REDIS_URL, Path(logs), extra_env={"LOG_LEVEL": "WARNING"})
        produced = await smstrio.run("produce", str(messages))
        assert produced.returncode == 0, produced.stderr.decode()[-2000:]
        async with open_bridge():
            store = await RedisStore.connect(REDIS_URL, queue)
            began = time.perf_counter()
            sender = await smstrio.start(
                "send", "--processes", str(processes), "--until-empty", "--mean", "0", "--workers", str(workers),
                "--failure-rate", "0.1", "--summary-interval", "0",
            )  # fmt: skip
            first = done = 0.0
            while not done:
                t = (await store.view()).totals
                now = time.perf_counter()
                if not first and t.sent + t.failed:
                    first = now
                if t.sent + t.failed >= messages:
                    done = now
                await trio.sleep(POLL_S)
            code = await sender.wait()
            wall = time.perf_counter() - began
            data = stats(await smstrio.run("stats"))
            await store.reset()
            await store.aclose()
            await delete_queues(queue)
    return {
        "processes": processes,
        "rate_per_s": round(messages / max(done - first, 1e-9)),
        "wall_s": round(wall, 1),
        "exit": code,
        "exact": data["sent"] + data["failed"] == data["produced"] == messages and data["queue_depth"] == 0,
    }


async def rounds(messages: int, workers: int, count: int) -> list[dict[str, Any]]:
    return [await drain(messages, workers, processes) for _ in range(count) for processes in (1, 2)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = trio.run(rounds, args.messages, args.workers, args.rounds)
    for r in results:
        print(json.dumps(r) if args.json else "  ".join(f"{k}: {v}" for k, v in r.items()), flush=True)


if __name__ == "__main__":
    main()
