"""Chaos run for the exactly-once guarantee (issue 3): SIGKILL senders at random moments, then audit the ledger.

Publishes N messages, runs S sender processes, SIGKILLs a random live one every
0.3 to 1.0 s (starting a replacement each time) K times, lets everything drain,
and prints the ledger: produced, sent + failed + invalid, lost (produced that never
got an outcome), double-counted (outcomes beyond produced), redeliveries recognised
as duplicates, and what is left in the queue.

Usage: uv run python benchmarks/chaos.py [--messages 20000] [--senders 4] [--kills 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import trio

from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio, delete_queues, kill_and_restart, stats

SENDER = ("send", "--workers", "50", "--mean", "0.02", "--failure-rate", "0.1", "--until-empty")


async def chaos(messages: int, senders: int, kills: int, seed: int) -> dict[str, Any]:
    queue = f"bench-chaos-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as logs:
        smstrio = Smstrio(queue, AMQP_URL, REDIS_URL, Path(logs))
        produced = await smstrio.run("produce", str(messages))
        assert produced.returncode == 0, produced.stderr.decode()[-2000:]
        started = time.perf_counter()
        processes = [await smstrio.start(*SENDER) for _ in range(senders)]
        done = await kill_and_restart(
            processes, smstrio, SENDER, kills=kills, every=(0.3, 1.0), rng=random.Random(seed)
        )
        for process in processes:
            await process.wait()
        final = await smstrio.run(*SENDER)  # picks up what the last killed senders left
        assert final.returncode == 0
        seconds = time.perf_counter() - started
        data = stats(await smstrio.run("stats"))
    async with open_bridge():
        store = await RedisStore.connect(REDIS_URL, queue)
        await store.reset()
        await store.aclose()
        await delete_queues(queue)
    outcomes = data["sent"] + data["failed"] + data["invalid"]
    return {
        "messages": messages,
        "sigkills": done,
        "sender_processes_started": len(processes) + 1,
        "produced": data["produced"],
        "outcomes": outcomes,
        "lost": max(0, data["produced"] - outcomes),
        "double_counted": max(0, outcomes - data["produced"]),
        "duplicates_recognised": data["duplicates"],
        "left_in_queue": data["queue_depth"],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = trio.run(chaos, args.messages, args.senders, args.kills, args.seed)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
