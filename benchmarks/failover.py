"""Failover in a private three-node RabbitMQ cluster: seconds from the SIGKILL of a node to the work going on.

Starts three RabbitMQ nodes of its own on free ports (``smstrio.testing_cluster``, as the cluster test
does), then per run, on a fresh quorum queue with ``AMQP_URL`` listing the three nodes:

1. ``smstrio produce N --window 500``; at N/4 confirmed, SIGKILLs the node the producer is connected
   to (its last "connected to a broker node" log line) and measures the seconds to the producer's
   connection to another node and to its next confirm counted in Redis; the node is restarted and rejoins.
2. ``smstrio send --workers 50 --mean 0.005 --failure-rate 0.1 --until-empty``; at N/4 sent, SIGKILLs
   the sender's node and measures the seconds to its "consuming again" line and to its next outcome
   counted in Redis (polled every 20 ms); the node is restarted and rejoins.
3. Checks the counts: sent + failed + invalid == confirmed == N, the queue empty, ``smstrio audit``
   finding nothing missing.

Prints each run, then the medians; exits 1 when a run's counts are not exact. The nodes are stopped
and their files removed at the end, on an error, on Ctrl-C and on SIGTERM. Starting the cluster takes
20-45 s here, each run about 20 s more (two node restarts).

Usage: uv run python benchmarks/failover.py [--runs 3] [--messages 10000] [--json]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import FrameType
from typing import Any

import trio

from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import REDIS_URL, Smstrio, stats
from smstrio.testing_cluster import (
    START_TIMEOUT_S,
    Node,
    events,
    node_of,
    rabbitmq_available,
    rabbitmq_cluster,
    running,
    until_total,
)

SENDER = ("send", "--workers", "50", "--mean", "0.005", "--failure-rate", "0.1", "--until-empty")
POLL_S = 0.02
RUN_TIMEOUT_S = 300
MEASURES = ("producer_connected_s", "producer_confirming_s", "sender_consuming_s", "sender_outcome_s")

Sample = tuple[float, int, int]
"""A poll of the queue's totals: (wall time, confirmed, sent + failed + invalid)."""


async def _poll(store: RedisStore, samples: list[Sample]) -> None:
    while True:
        totals = (await store.view()).totals
        samples.append((time.time(), totals.produced, totals.sent + totals.failed + totals.invalid))
        await trio.sleep(POLL_S)


def _next_count(samples: list[Sample], after: float, column: int) -> float:
    """The time of the first poll after ``after`` whose count (``column``) is above the count just before it."""
    before = max((s[column] for s in samples if s[0] <= after), default=0)
    return _first([s[0] for s in samples if s[0] > after and s[column] > before], "a count after the failover")


def _first(times: list[float], what: str) -> float:
    if not times:
        raise RuntimeError(f"no {what} was seen")
    return times[0]


def _logged_after(log: Path, event: str, after: float) -> float:
    """The time of ``log``'s first ``event`` line after ``after``."""
    return _first([e["ts"] for e in events(log, event) if e["ts"] > after], f"{event!r} line in {log.name}")


async def _kill_and_rejoin(victim: Node, process: trio.Process, role: str) -> float:
    """SIGKILL ``victim``, wait for ``process`` to finish (exit 0), restart the node; the kill's wall time."""
    killed_at = time.time()
    await trio.to_thread.run_sync(victim.kill)
    if (code := await process.wait()) != 0:
        raise RuntimeError(f"{role} exited {code} after its node was killed")
    await trio.to_thread.run_sync(victim.start)  # on its data: it rejoins, so that two of three stay up
    with trio.fail_after(START_TIMEOUT_S):
        while len(await trio.to_thread.run_sync(running, victim)) < 3:  # noqa: ASYNC110 - asks rabbitmqctl
            await trio.sleep(0.5)
    return killed_at


async def _reap(processes: list[trio.Process]) -> None:
    with trio.CancelScope(shield=True):
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def one_run(nodes: list[Node], messages: int, logs: Path) -> dict[str, Any]:
    queue = f"bench-failover-{uuid.uuid4().hex[:8]}"
    url = ",".join(node.url for node in nodes)
    smstrio = Smstrio(queue, url, REDIS_URL, logs, extra_env={"QUEUE_TYPE": "quorum"})
    store = await RedisStore.connect(REDIS_URL, queue)
    samples: list[Sample] = []
    started: list[trio.Process] = []
    try:
        with trio.fail_after(RUN_TIMEOUT_S):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_poll, store, samples)
                started.append(producer := await smstrio.start("produce", str(messages), "--window", "500"))
                victim = await node_of(logs / "001-produce.log", nodes)
                await until_total(store, "produced", messages // 4)
                producer_killed = await _kill_and_rejoin(victim, producer, "the producer")
                started.append(sender := await smstrio.start(*SENDER))
                victim = await node_of(logs / "002-send.log", nodes)
                await until_total(store, "sent", messages // 4)
                sender_killed = await _kill_and_rejoin(victim, sender, "the sender")
                nursery.cancel_scope.cancel()
            data = stats(await smstrio.run("stats"))
            audit = await smstrio.run("audit", "--json")
    finally:
        await _reap(started)
        with trio.CancelScope(shield=True):
            await store.reset()
            await store.aclose()
    connected = _logged_after(logs / "001-produce.log", "connected to a broker node", producer_killed)
    consuming = _logged_after(logs / "002-send.log", "consuming again", sender_killed)
    missing = json.loads(audit.stdout)["missing"] if audit.returncode in (0, 1) and audit.stdout else None
    outcomes = data["sent"] + data["failed"] + data["invalid"]
    return {
        "producer_connected_s": round(connected - producer_killed, 3),
        "producer_confirming_s": round(_next_count(samples, connected, 1) - producer_killed, 3),
        "sender_consuming_s": round(consuming - sender_killed, 3),
        "sender_outcome_s": round(_next_count(samples, consuming, 2) - sender_killed, 3),
        "confirmed": data["produced"],
        "sent": data["sent"],
        "failed": data["failed"],
        "invalid": data["invalid"],
        "queue_depth": data["queue_depth"],
        "audit_missing": missing,
        "exact": data["produced"] == outcomes == messages and data["queue_depth"] == 0 and missing == 0,
    }


async def runs(nodes: list[Node], count: int, messages: int, logs: Path) -> list[dict[str, Any]]:
    results = []
    async with open_bridge():
        with trio.open_signal_receiver(signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:

                async def on_sigterm() -> None:
                    async for _ in signals:
                        raise KeyboardInterrupt

                nursery.start_soon(on_sigterm)
                for index in range(1, count + 1):
                    result = await one_run(nodes, messages, logs / f"run{index}")
                    results.append(result)
                    print(f"run {index}: " + "  ".join(f"{k}: {v}" for k, v in result.items()), flush=True)
                nursery.cancel_scope.cancel()
    return results


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM outside trio.run (cluster start and stop): unwind as Ctrl-C does


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.runs < 1 or args.messages < 100:
        parser.error("--runs must be at least 1 and --messages at least 100")
    if not rabbitmq_available():
        print("failover: needs rabbitmq-server (/usr/lib/rabbitmq/bin) to start a private cluster", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with tempfile.TemporaryDirectory(prefix="smstrio-failover-") as directory:
            print("starting a private three-node RabbitMQ cluster...", file=sys.stderr, flush=True)
            began = time.monotonic()
            with rabbitmq_cluster(Path(directory) / "cluster", nodes=3) as nodes:
                cluster_s = round(time.monotonic() - began, 1)
                print(f"cluster started in {cluster_s} s", file=sys.stderr, flush=True)
                results = trio.run(runs, nodes, args.runs, args.messages, Path(directory) / "logs")
                print("stopping the cluster...", file=sys.stderr, flush=True)
    except BaseException as error:  # one line, never a traceback; the cluster is stopped by now
        leaves = _leaves(error)
        if any(isinstance(e, KeyboardInterrupt) for e in leaves):
            print("failover: interrupted; the cluster's nodes are stopped and their files removed", file=sys.stderr)
            return 130
        if not all(isinstance(e, Exception) for e in leaves):
            raise
        print("failover: " + "; ".join(f"{type(e).__name__}: {e}" for e in leaves), file=sys.stderr)
        return 1
    medians = {k: round(statistics.median(r[k] for r in results), 3) for k in MEASURES}
    exact = sum(r["exact"] for r in results)
    summary = {"runs": len(results), "messages": args.messages, "cluster_start_s": cluster_s, "medians": medians}
    summary["exact_runs"] = exact
    if args.json:
        print(json.dumps({**summary, "results": results}))
    else:
        print("medians: " + "  ".join(f"{k}: {v}" for k, v in medians.items()))
        print(f"counts exact and audit clean in {exact} of {len(results)} runs; the cluster started in {cluster_s} s")
    return 0 if exact == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
