"""The scenarios of ``smstrio bench``, each run as real ``smstrio`` processes on the local services.

Every role runs as its own process (``python -m smstrio ...``), as a user would run it;
this process only starts them and reads the queue's statistics from Redis every
``POLL_S`` seconds. Rates of consuming are taken between outcomes seen, so process
start-up is not counted; the end-to-end time is counted from the producer's start.
Each scenario has its own queue, deleted with its statistics at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.core.config import Common
from smstrio.core.errors import SmstrioError
from smstrio.core.stats import Totals

POLL_S = 0.05
CAP_S = 600.0
"""No scenario may take longer than this; a stalled one fails the run instead of hanging it."""


class BenchError(SmstrioError):
    """A scenario could not run or did not finish."""


@dataclass(frozen=True, slots=True)
class Drained:
    """How a queue's messages were worked off, as seen from its statistics."""

    started: float
    first: float
    """When the first outcome was seen."""
    done: float
    """When the last expected outcome was seen."""
    marks: Mapping[float, float]
    """Fraction of the expected outcomes -> when it was reached."""
    totals: Totals
    rss_mb: float
    """The largest peak resident memory among the watched processes."""
    cpu_s: float = 0.0
    """CPU time (user and system) the watched processes used from the first outcome seen to the last."""

    def rate(self, expected: int, low: float = 0.0, high: float = 1.0) -> float:
        """Outcomes per second between the ``low`` and ``high`` fractions (``0``: the first outcome)."""
        start = self.first if low == 0 else self.marks[low]
        end = self.done if high == 1 else self.marks[high]
        return expected * (high - low) / max(end - start, 1e-9)

    @property
    def exact(self) -> bool:
        return self.totals.duplicates == 0 and self.totals.invalid == 0


@dataclass
class Bench:
    """Starts the processes of one bench run and cleans up after them."""

    common: Common
    logs: Path
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    queues: list[str] = field(default_factory=list)

    def queue(self, name: str) -> str:
        queue = f"smstrio-bench-{self.run_id}-{name}"
        self.queues.append(queue)
        return queue

    def env(self, queue: str) -> dict[str, str]:
        """The environment a role process gets: the servers, the queue, quiet logs."""
        c = self.common
        env = {**os.environ, "AMQP_URL": c.amqp_url, "REDIS_URL": c.redis_url, "QUEUE_NAME": queue}
        env |= {"LOG_LEVEL": "WARNING", "QUEUE_TYPE": c.queue_type}
        for prefix, tls in (("AMQP", c.amqp_tls), ("REDIS", c.redis_tls)):
            for part in ("ca", "cert", "key"):
                path = getattr(tls, part)
                if path is not None:
                    env[f"{prefix}_{part.upper()}"] = str(path)
        return env

    async def run(self, args: Sequence[str], *, queue: str, name: str) -> dict[str, Any]:
        """Run ``python -m ARGS`` to the end; return the last JSON line it printed."""
        log = self.logs / f"{name}.log"
        with log.open("wb") as stderr:
            done = await trio.run_process(
                [sys.executable, "-m", *args], env=self.env(queue), capture_stdout=True, stderr=stderr, check=False
            )
        if done.returncode != 0:
            raise BenchError(f"{name} exited with {done.returncode}: {_last_line(log)}")
        lines = [line for line in done.stdout.decode().splitlines() if line.startswith("{")]
        if not lines:
            raise BenchError(f"{name} printed no result (log: {log})")
        result: dict[str, Any] = json.loads(lines[-1])
        return result

    async def start(self, nursery: trio.Nursery, args: Sequence[str], *, queue: str, name: str) -> trio.Process:
        """Start ``python -m ARGS`` in ``nursery``; it must exit 0."""
        log = (self.logs / f"{name}.log").open("wb")

        async def run(task_status: trio.TaskStatus[trio.Process]) -> None:
            with log:
                done = await trio.run_process(
                    [sys.executable, "-m", *args],
                    env=self.env(queue),
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    check=False,
                    task_status=task_status,
                )
            if done.returncode != 0:
                raise BenchError(f"{name} exited with {done.returncode}: {_last_line(Path(log.name))}")

        process: trio.Process = await nursery.start(run)
        return process

    @contextlib.asynccontextmanager
    async def store(self, queue: str) -> AsyncIterator[RedisStore]:
        store = await RedisStore.connect(self.common.redis_url, queue, tls=self.common.redis_tls)
        try:
            yield store
        finally:
            await store.aclose()

    async def drained(
        self, queue: str, expected: int, *, processes: Sequence[trio.Process] = (), marks: Sequence[float] = ()
    ) -> Drained:
        """Watch ``queue``'s statistics until ``expected`` outcomes are counted."""
        started = trio.current_time()
        first: float | None = None
        reached: dict[float, float] = {}
        rss_mb = cpu_first = 0.0
        async with self.store(queue) as store:
            with trio.fail_after(CAP_S):
                while True:
                    totals = (await store.view()).totals
                    now = trio.current_time()
                    done = totals.sent + totals.failed + totals.invalid
                    if done and first is None:
                        first, cpu_first = now, _cpu_s(processes)
                    reached |= {m: now for m in marks if m not in reached and done >= m * expected}
                    rss_mb = max([rss_mb, *(_peak_rss_mb(p.pid) for p in processes)])
                    if done >= expected:
                        assert first is not None
                        return Drained(started, first, now, reached, totals, rss_mb, _cpu_s(processes) - cpu_first)
                    await trio.sleep(POLL_S)

    async def clean(self) -> None:
        """Delete every queue of this run with its statistics."""
        broker = await AmqpBroker.connect(self.common.amqp_url, name="smstrio bench", tls=self.common.amqp_tls)
        try:
            for queue in self.queues:
                with contextlib.suppress(SmstrioError):
                    await broker.delete(queue)
                async with self.store(queue) as store:
                    await store.reset()
        finally:
            await broker.aclose()


def _peak_rss_mb(pid: int) -> float:
    """A live process's peak resident memory (``VmHWM``), or 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_s(processes: Sequence[trio.Process]) -> float:
    """The CPU time (user and system) the live ones of ``processes`` used so far, in seconds."""
    total = 0
    for p in processes:
        try:
            fields = Path(f"/proc/{p.pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime and stime, fields 14 and 15 of proc(5)
    return total / os.sysconf("SC_CLK_TCK")


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else f"no output (log: {log})"
