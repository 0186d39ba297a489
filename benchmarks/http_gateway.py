"""The HTTP gateway's pipeline against the local mock SMS API at zero latency, one sender process.

One ``smstrio mock-gateway`` process (mean 0, no errors) serves every run; each run publishes
MESSAGES alerts to a fresh queue, then drains them with one ``smstrio send --gateway http``
process of WORKERS workers. The rate is taken between 10% and 90% of the outcomes (process
start-up not counted), as ``smstrio bench`` does; counts are exact when the store counted every
message sent once and the mock accepted each id exactly once. The simulated gateway at mean 0
runs beside it on the same messages and workers, for the ratio. CPU: milliseconds of the
sender's processes per message from its first outcome to its last, the mock's over the whole drain
(from /proc). The mock, the drain and the exactness check are ``smstrio bench``'s (``smstrio/bench/gateway.py``).

Usage: uv run python benchmarks/http_gateway.py [--messages N] [--workers W ...] [--runs R] [--json]
Needs the local RabbitMQ and Redis; deletes its queues and statistics afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import trio

from smstrio.adapters.bridge import open_bridge
from smstrio.bench.gateway import accepted_once, drain_through, mock_gateway, received
from smstrio.bench.scenarios import Bench
from smstrio.core.config import Common
from smstrio.testing import AMQP_URL, REDIS_URL

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds a live process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


async def _simulated(bench: Bench, name: str, messages: int, workers: int) -> dict[str, Any]:
    queue = bench.queue(name)
    await bench.run(["smstrio", "produce", str(messages)], queue=queue, name=f"{name}-produce")
    args = ["smstrio", "send", "--mean", "0", "--failure-rate", "0", "--workers", str(workers), "--until-empty"]
    async with trio.open_nursery() as nursery:
        sender = await bench.start(nursery, args, queue=queue, name=name)
        drained = await bench.drained(queue, messages, processes=[sender], marks=(0.1, 0.9))
    t = drained.totals
    return {
        "scenario": name,
        "rate_per_s": round(drained.rate(messages, 0.1, 0.9), 1),
        "sent": t.sent,
        "failed": t.failed,
        "exact": drained.exact and t.sent + t.failed == messages,
        "sender_cpu_ms_per_msg": round(drained.cpu_s * 1000 / messages, 3),
    }


async def main(messages: int, workers: list[int], runs: int) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="smstrio-bench-http-") as logs:
        bench = Bench(Common(amqp_url=AMQP_URL, redis_url=REDIS_URL), Path(logs))
        async with open_bridge():
            try:
                async with mock_gateway(bench) as (port, mock):
                    for run in range(runs):
                        for w in workers:
                            name = f"http-{w}w-{run}"
                            before, mock_cpu = await received(port), _cpu_s(mock.pid)
                            drained = await drain_through(bench, port, name, messages, w)
                            after, t = await received(port), drained.totals
                            exact = drained.exact and t.sent == messages and accepted_once(before, after, messages)
                            results.append(
                                {
                                    "scenario": name,
                                    "rate_per_s": round(drained.rate(messages, 0.1, 0.9), 1),
                                    "sent": t.sent,
                                    "failed": t.failed,
                                    "exact": exact,
                                    "sender_cpu_ms_per_msg": round(drained.cpu_s * 1000 / messages, 3),
                                    "mock_cpu_ms_per_msg": round((_cpu_s(mock.pid) - mock_cpu) * 1000 / messages, 3),
                                }
                            )
                            results.append(await _simulated(bench, f"simulated-{w}w-{run}", messages, w))
            finally:
                await bench.clean()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[50])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = trio.run(main, args.messages, args.workers, args.runs)
    for r in results:
        print(json.dumps(r) if args.json else "  ".join(f"{k}={v}" for k, v in r.items()))
