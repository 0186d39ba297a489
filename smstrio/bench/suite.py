"""The run of ``smstrio bench``: the references first, then smstrio's scenarios, then the targets.

Targets (issue #6), each a ratio taken in the same run:

- publish with confirms: at least 1.5x the older project's unconfirmed producer (issue #6), and
  with ``produce --processes 2`` at least 1.0x (issue #15);
- sender pipeline at mean 0, one process: at least 4x the older project's sender, counts exact;
- 10,000 workers at a 1 s mean: at least 90% of the ideal rate, the smaller of what the
  workers allow (workers / mean) and what the pipeline allows (the one-process rate
  at mean 0 measured in the same run); peak RSS under 300 MB;
- 100,000 messages produced and drained by two sender processes in under 25 s;
- a sender under a fleet rate limit far above its rate: at least 0.9x the throughput its CPU time per message
  allows without the limit (issue #14).
"""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import trio

from smstrio.bench.gateway import http_gateway
from smstrio.bench.limiter import limiter_cost
from smstrio.bench.report import Report, Result
from smstrio.bench.scenarios import Bench
from smstrio.core.config import Common
from smstrio.core.logs import event

log = logging.getLogger(__name__)

SCENARIOS = ("publish", "pipeline", "concurrency", "end-to-end", "limiter", "http")


@dataclass(frozen=True, slots=True, kw_only=True)
class BenchSettings:
    """``smstrio bench``."""

    common: Common
    messages: int = 50_000
    """Messages for the publish and pipeline scenarios."""
    workers: int = 100
    """Workers of each sender process in the pipeline and end-to-end scenarios."""
    concurrency_workers: int = 10_000
    concurrency_mean: float = 1.0
    concurrency_messages: int = 60_000
    e2e_messages: int = 100_000
    reference_messages: int = 20_000
    limiter_messages: int = 40_000
    """Messages of each of the limiter scenario's four drains."""
    http_messages: int = 20_000
    """Messages the http scenario sends through the HTTP gateway to the local mock."""
    http_workers: int = 200
    """Workers of the http scenario's sender: requests in flight, as many connections."""
    references: bool = True
    only: tuple[str, ...] = SCENARIOS


def _send(workers: int, mean: float, *extra: str) -> list[str]:
    return ["smstrio", "send", "--workers", str(workers), "--mean", str(mean), "--until-empty", *extra]


def _produce(count: int, processes: int = 1) -> list[str]:
    return ["smstrio", "produce", str(count), "--processes", str(processes)]


class Suite:
    """The scenarios of one run, sharing the references' rates for their ratios."""

    def __init__(self, settings: BenchSettings, bench: Bench) -> None:
        self.s = settings
        self.bench = bench
        self.results: list[Result] = []
        self.older: dict[str, float] = {}
        self.pika: dict[str, float] = {}
        self.plain: dict[str, float] = {}
        self.pipeline_rate: float | None = None

    async def references(self) -> None:
        """The references, each publishing ``reference_messages`` and then consuming them.

        - ``older``: the older project's design (pika, no confirms, a JSON log line per
          message, prefetch 1, JSON statistics read-modify-write): the targets' reference;
        - ``pika``: the same publisher without the log lines, the most a pika program
          could publish;
        - ``plain``: aiormq on plain asyncio, confirms, acks one by one.
        """
        url = ["--amqp-url", self.s.common.amqp_urls[0]]  # pika and plain aiormq take one node: the first
        n = str(self.s.reference_messages)
        redis = ["--redis-url", self.s.common.redis_url]
        older = "smstrio.bench.older"
        for name, module, rates, extra in (
            ("older", older, self.older, ["--log-each"]),
            ("pika", older, self.pika, []),
            ("plain", "smstrio.bench.plain_asyncio", self.plain, []),
        ):
            queue = self.bench.queue(f"ref-{name}")
            publish = [module, "publish", *url, *extra, "--queue", queue, "--messages", n]
            rates["publish"] = float((await self.bench.run(publish, queue=queue, name=f"{name}-publish"))["rate_per_s"])
            if name == "pika":
                continue
            stats = [*redis, "--stats-key", f"{queue}:stats"] if module == older else []
            send = [module, "send", *url, *extra, *stats, "--queue", queue, "--expected", n]
            rates["send"] = float((await self.bench.run(send, queue=queue, name=f"{name}-send"))["rate_per_s"])

    def _ratio(self, value: float, what: str) -> tuple[str | None, float | None]:
        if what not in self.older:
            return None, None
        return f"older {what} {self.older[what]:,.0f} msg/s", value / self.older[what]

    def _others(self, value: float, what: str) -> tuple[str, dict[str, float]]:
        """The other references for ``what``: text for the detail column (``; plain asyncio 7,544 msg/s
        (1.62x)``) and, for the JSON, each one's rate and this result's ratio to it."""
        text, extra = "", dict[str, float]()
        references = (("plain asyncio", "plain_asyncio", self.plain), ("bare pika", "bare_pika", self.pika))
        for label, name, rates in references:
            if what in rates:
                text += f"; {label} {rates[what]:,.0f} msg/s ({value / rates[what]:.2f}x)"
                extra |= {f"{name}_{what}_per_s": rates[what], f"vs_{name}": round(value / rates[what], 3)}
        return text, extra

    async def publish_and_pipeline(self) -> None:
        """Publish ``messages`` with one producer process and drain them with one sender process; with
        ``pipeline``, again with two of each.

        Each campaign is a publish result (``produce --processes 2`` for the second; without
        ``pipeline``, that campaign is published and not drained). The concurrency scenario needs
        the one-process rate for its ideal, so it runs that drain too.
        """
        n, w, only = self.s.messages, self.s.workers, self.s.only
        drains: tuple[int, ...] = (1, 2) if "pipeline" in only else (1,) if "concurrency" in only else (0,)
        if "publish" in only and "pipeline" not in only:
            drains += (0,)
        for step, processes in enumerate(drains):
            queue = self.bench.queue(f"pipeline-{step}")
            producers = 1 + step
            produced = await self.bench.run(_produce(n, producers), queue=queue, name=f"produce-{step}")
            if "publish" in only:
                self._publish_result(float(produced["rate_per_s"]), producers)
            if processes == 0:
                continue
            async with trio.open_nursery() as nursery:
                started = [
                    await self.bench.start(nursery, _send(w, 0.0), queue=queue, name=f"send-{processes}-{i}")
                    for i in range(processes)
                ]
                drained = await self.bench.drained(queue, n, processes=started)
            rate = drained.rate(n)
            if processes == 1:
                self.pipeline_rate = rate
            reference, ratio = self._ratio(rate, "send")
            others, extra = self._others(rate, "send")
            one = processes == 1
            self.results.append(
                Result(
                    scenario=f"sender pipeline, mean 0, {processes} process{'' if one else 'es'}",
                    value=rate,
                    unit="msg/s",
                    detail=f"{n:,} messages, {w} workers each, exact: {drained.exact}{others}",
                    reference=reference,
                    ratio=ratio,
                    target=">= 4x older, exact" if one else None,
                    met=(None if ratio is None else ratio >= 4 and drained.exact) if one else None,
                    extra={"exact": drained.exact, **extra},
                )
            )

    def _publish_result(self, rate: float, processes: int) -> None:
        reference, ratio = self._ratio(rate, "publish")
        others, extra = self._others(rate, "publish")
        one = processes == 1
        least = 1.5 if one else 1.0
        self.results.append(
            Result(
                scenario="publish, persistent, confirmed" + ("" if one else f", {processes} processes"),
                value=rate,
                unit="msg/s",
                detail=f"{self.s.messages:,} messages, {'one process' if one else f'produce --processes {processes}'}"
                + others,
                reference=reference,
                ratio=ratio,
                target=f">= {least:g}x older",
                met=None if ratio is None else ratio >= least,
                extra=extra,
            )
        )

    async def concurrency(self) -> None:
        """Many workers in one process at a long mean: the rate between 10% and 90% of the messages."""
        n, w, mean = self.s.concurrency_messages, self.s.concurrency_workers, self.s.concurrency_mean
        queue = self.bench.queue("concurrency")
        await self.bench.run(_produce(n), queue=queue, name="produce-concurrency")
        async with trio.open_nursery() as nursery:
            sender = await self.bench.start(
                nursery, _send(w, mean, "--distribution", "constant"), queue=queue, name="send-concurrency"
            )
            drained = await self.bench.drained(queue, n, processes=[sender], marks=(0.1, 0.9))
        rate = drained.rate(n, 0.1, 0.9)
        ideal = min(w / mean, self.pipeline_rate or w / mean)
        share = 100 * rate / ideal
        self.results.append(
            Result(
                scenario=f"{w:,} workers at {mean:g} s, one process",
                value=share,
                unit="% of ideal",
                detail=f"{rate:,.0f} of {ideal:,.0f} msg/s; peak RSS {drained.rss_mb:.0f} MB",
                target=">= 90% of ideal, RSS < 300 MB",
                met=share >= 90 and drained.rss_mb < 300,
                extra={"rate_per_s": rate, "ideal_per_s": ideal, "rss_mb": drained.rss_mb, "exact": drained.exact},
            )
        )

    async def end_to_end(self) -> None:
        """One producer and two senders started together; the time until every message is counted."""
        n, w = self.s.e2e_messages, self.s.workers
        queue = self.bench.queue("e2e")
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            producer = await self.bench.start(nursery, _produce(n), queue=queue, name="produce-e2e")
            await trio.sleep(1.0)  # the queue must not look empty to --until-empty senders
            senders = [
                await self.bench.start(nursery, _send(w, 0.0), queue=queue, name=f"send-e2e-{i}") for i in range(2)
            ]
            drained = await self.bench.drained(queue, n, processes=[producer, *senders])
        seconds = drained.done - started
        self.results.append(
            Result(
                scenario="end to end, 1 producer + 2 senders",
                value=seconds,
                unit="s",
                detail=f"{n:,} messages, exact: {drained.exact}",
                target="< 25 s, exact",
                met=seconds < 25 and drained.exact,
                extra={"rate_per_s": n / seconds, "exact": drained.exact},
            )
        )

    async def limiter(self) -> None:
        """One sender with and without a fleet limit far above its rate (:mod:`smstrio.bench.limiter`)."""
        self.results.append(await limiter_cost(self.bench, self.s.limiter_messages, self.s.workers))

    async def http(self) -> None:
        """One sender through the HTTP gateway against the local mock SMS API (:mod:`smstrio.bench.gateway`)."""
        self.results.append(await http_gateway(self.bench, self.s.http_messages, self.s.http_workers))


async def run_bench(settings: BenchSettings) -> Report:
    """Run the selected scenarios; every queue and statistic they made is deleted afterwards."""
    started = time.monotonic()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="smstrio-bench-") as logs:
        bench = Bench(settings.common, Path(logs))
        suite = Suite(settings, bench)
        only = set(settings.only)
        stages = (
            ("references", suite.references, settings.references),
            ("publish and pipeline", suite.publish_and_pipeline, bool({"publish", "pipeline", "concurrency"} & only)),
            ("concurrency", suite.concurrency, "concurrency" in only),
            ("end to end", suite.end_to_end, "end-to-end" in only),
            ("limiter", suite.limiter, "limiter" in only),
            ("http", suite.http, "http" in only),
        )
        try:
            for name, stage, wanted in stages:
                if wanted:
                    event(log, "running", stage=name, run=bench.run_id)
                    before = len(suite.results)
                    await stage()
                    for r in suite.results[before:]:
                        event(log, "measured", scenario=r.scenario, value=round(r.value, 1), unit=r.unit, met=r.met)
            if settings.references:
                event(log, "references", older=suite.older, bare_pika=suite.pika, plain_asyncio=suite.plain)
        finally:
            with trio.move_on_after(30, shield=True):
                await bench.clean()
    machine = {
        "cores": os.cpu_count(),
        "load before": round(load, 2),
        "python": platform.python_version(),
    }
    return Report(results=suite.results, machine=machine, seconds=time.monotonic() - started, run=bench.run_id)
