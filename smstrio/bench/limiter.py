"""The ``limiter`` scenario of ``smstrio bench``: what ``--fleet-rate-limit`` costs a sender far below its limit.

One sender process at mean 0 drains a campaign without a limit and another under a fleet limit
of ``FAR_LIMIT`` messages a second, far above what it can send, so that the limiter never makes
it wait and only its own cost shows: a gate per delivery and one Redis script call per grant of
slots. Drains alternate (without, with, with, without) so that a machine getting busier or quieter
weighs on both alike. The sender at mean 0 is CPU-bound, so its CPU time per message (from the
first outcome to the last) sets its throughput and, unlike the wall-clock rate, hardly moves with
what else the machine runs: the ratio is the CPU time per message without the limit over the time
with it, each the mean of its two drains, and must be at least ``LEAST_RATIO`` (issue #14: the
limiter costs under 10% of throughput). The rates are reported beside it.
"""

from __future__ import annotations

import statistics

import trio

from smstrio.bench.report import Result
from smstrio.bench.scenarios import Bench

FAR_LIMIT = 1_000_000
"""Messages a second: the highest limit, hundreds of times what one sender at mean 0 does here."""
LEAST_RATIO = 0.9
ORDER = (False, True, True, False)
"""Which drains run under the limit, in turn."""


async def limiter_cost(bench: Bench, messages: int, workers: int) -> Result:
    """Drain ``messages`` four times with one sender of ``workers`` at mean 0, alternately with and without
    the fleet limit: the sender's CPU time per message and its rate, under the limit against without."""
    rates: dict[bool, list[float]] = {False: [], True: []}
    cpu_us: dict[bool, list[float]] = {False: [], True: []}
    exact = True
    for step, limited in enumerate(ORDER):
        queue = bench.queue(f"limiter-{step}")
        await bench.run(["smstrio", "produce", str(messages)], queue=queue, name=f"produce-limiter-{step}")
        args = ["smstrio", "send", "--workers", str(workers), "--mean", "0", "--until-empty"]
        if limited:
            args += ["--fleet-rate-limit", str(FAR_LIMIT)]
        async with trio.open_nursery() as nursery:
            sender = await bench.start(nursery, args, queue=queue, name=f"send-limiter-{step}")
            drained = await bench.drained(queue, messages, processes=[sender])
        rates[limited].append(drained.rate(messages))
        cpu_us[limited].append(drained.cpu_s / messages * 1e6)
        exact = exact and drained.exact and drained.totals.sent + drained.totals.failed == messages
    rate, rate_without = statistics.fmean(rates[True]), statistics.fmean(rates[False])
    cpu, cpu_without = statistics.fmean(cpu_us[True]), statistics.fmean(cpu_us[False])
    # The throughput a CPU-bound sender keeps under the limiter; none when a drain was too short for the
    # CPU clock (it counts in ticks of 10 ms): a ratio of nothing would be a guess.
    ratio = cpu_without / cpu if min(cpu_us[True] + cpu_us[False]) > 0 else None
    return Result(
        scenario="sender mean 0, fleet limit far above the rate",
        value=rate,
        unit="msg/s",
        detail=f"{messages:,} messages x 4 drains, {workers} workers, with the limit vs without: CPU per message "
        f"{_runs(cpu_us[True])} vs {_runs(cpu_us[False])} µs; rate {_runs(rates[True])} vs {_runs(rates[False])} "
        f"msg/s ({rate / rate_without:.2f}x); exact: {exact}",
        reference=f"no limit {cpu_without:,.0f} µs CPU/msg",
        ratio=ratio,
        target=f">= {LEAST_RATIO:g}x no limit (CPU)",
        met=None if ratio is None else ratio >= LEAST_RATIO and exact,
        extra={
            "cpu_us_per_message": cpu,
            "cpu_us_per_message_without": cpu_without,
            "rate_without_per_s": rate_without,
            "rate_ratio": rate / rate_without,
            "runs_per_s": {"with": rates[True], "without": rates[False]},
            "runs_cpu_us": {"with": cpu_us[True], "without": cpu_us[False]},
            "exact": exact,
        },
    )


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)
