"""The HTTP gateway's pipeline against the local mock SMS API at zero latency, one sender process.

One ``smstrio mock-gateway`` process (mean 0, no errors) serves every run; each run publishes
MESSAGES alerts to a fresh queue, then drains them with one ``smstrio send --gateway http``
process of WORKERS workers. The rate is taken between 10% and 90% of the outcomes (process
start-up not counted), as ``smstrio bench`` does; counts are exact when the store counted every
message sent once and the mock accepted each id exactly once. The simulated gateway at mean 0
runs beside it on the same messages and workers, for the ratio. CPU: milliseconds of the
sender's and the mock's processes per message (from /proc).

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
from smstrio.bench.scenarios import Bench
from smstrio.core.config import Common
from smstrio.testing import AMQP_URL, REDIS_URL, free_port, http_get

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User plus system CPU seconds a live process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


async def _received(port: int) -> dict[str, Any]:
    status, _, body = await http_get("127.0.0.1", port, "/received")
    assert status == 200, body
    data: dict[str, Any] = json.loads(body)
    return data


async def _one(bench: Bench, name: str, messages: int, sender: list[str], mock: trio.Process | None) -> dict[str, Any]:
    queue = bench.queue(name)
    await bench.run(["smstrio", "produce", str(messages)], queue=queue, name=f"{name}-produce")
    mock_cpu = _cpu_s(mock.pid) if mock is not None else 0.0
    async with trio.open_nursery() as nursery:
        process = await bench.start(nursery, ["smstrio", *sender, "--until-empty"], queue=queue, name=name)
        drained = await bench.drained(queue, messages, processes=[process], marks=(0.1, 0.9))
        sender_cpu = _cpu_s(process.pid)
    t = drained.totals
    result = {
        "scenario": name,
        "rate_per_s": round(drained.rate(messages, 0.1, 0.9), 1),
        "sent": t.sent,
        "failed": t.failed,
        "exact": drained.exact and t.sent + t.failed == messages,
        "sender_cpu_ms_per_msg": round(sender_cpu * 1000 / messages, 3),
    }
    if mock is not None:
        result["mock_cpu_ms_per_msg"] = round((_cpu_s(mock.pid) - mock_cpu) * 1000 / messages, 3)
    return result


async def main(messages: int, workers: list[int], runs: int) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="smstrio-bench-http-") as logs:
        bench = Bench(Common(amqp_url=AMQP_URL, redis_url=REDIS_URL), Path(logs))
        port = free_port()
        url = f"http://127.0.0.1:{port}/sms"
        async with open_bridge(), trio.open_nursery() as nursery:
            mock = await bench.start(nursery, ["smstrio", "mock-gateway", "--port", str(port)], queue="-", name="mock")
            try:
                while True:
                    try:
                        await _received(port)
                        break
                    except OSError:
                        await trio.sleep(0.1)
                for run in range(runs):
                    for w in workers:
                        before = await _received(port)
                        http = ["send", "--gateway", "http", "--gateway-url", url, "--workers", str(w)]
                        result = await _one(bench, f"http-{w}w-{run}", messages, http, mock)
                        after = await _received(port)
                        new = {k: v - before["accepted"].get(k, 0) for k, v in after["accepted"].items()}
                        new = {k: v for k, v in new.items() if v}
                        result["exact"] = result["exact"] and len(new) == messages and set(new.values()) == {1}
                        results.append(result)
                        simulated = ["send", "--mean", "0", "--failure-rate", "0", "--workers", str(w)]
                        results.append(await _one(bench, f"simulated-{w}w-{run}", messages, simulated, None))
            finally:
                mock.send_signal(2)
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
