"""``smstrio bench``: the throughput scenarios of issue #6 on the local services."""

from __future__ import annotations

import json
from typing import Annotated

import trio
from cyclopts import Parameter

from smstrio.bench.report import table
from smstrio.cli._app import DEFAULT_FLAGS, EXIT_FAILURE, EXIT_OK, ServiceFlags, app, run_command, sources
from smstrio.core.errors import ConfigError
from smstrio.nursery.signals import stop_on_signals


@app.command
def bench(
    *,
    only: Annotated[list[str] | None, Parameter(negative="")] = None,
    messages: int = 50_000,
    workers: int = 100,
    concurrency_workers: int = 10_000,
    concurrency_mean: float = 1.0,
    concurrency_messages: int = 60_000,
    e2e_messages: int = 100_000,
    reference_messages: int = 20_000,
    limiter_messages: int = 40_000,
    http_messages: int = 20_000,
    http_workers: int = 200,
    references: bool = True,
    json_output: Annotated[bool, Parameter(name="--json")] = False,
    flags: ServiceFlags = DEFAULT_FLAGS,
) -> None:
    """Measure throughput on the local RabbitMQ and Redis, and compare it with reference designs.

    Runs every role as its own process on queues of its own (deleted afterwards), then
    prints a table, or one JSON object with --json. Exits 1 when a target is missed.

    Parameters
    ----------
    only
        Run only these scenarios (repeatable): publish, pipeline, concurrency, end-to-end, limiter, http.
    messages
        Messages for the publish and sender-pipeline scenarios.
    workers
        Workers of each sender process in the pipeline and end-to-end scenarios.
    concurrency_workers
        Workers of the one sender process in the concurrency scenario.
    concurrency_mean
        Constant send time, in seconds, in the concurrency scenario.
    concurrency_messages
        Messages in the concurrency scenario.
    e2e_messages
        Messages produced and drained by two senders in the end-to-end scenario.
    reference_messages
        Messages for each reference (the older project's design; aiormq on plain asyncio).
    limiter_messages
        Messages of each of the four drains of the limiter scenario (one sender with and without a fleet limit).
    http_messages
        Messages the http scenario sends through the HTTP gateway to a local mock SMS API.
    http_workers
        Workers (and connections) of the http scenario's sender.
    references
        Measure the references, for the ratios (--no-references skips them).
    json_output
        Print one JSON object instead of the table.
    """
    # Imported here: the service clients take time to load that simulate and plan need not pay.
    from smstrio.adapters.bridge import open_bridge
    from smstrio.bench.scenarios import BenchError
    from smstrio.bench.suite import SCENARIOS, BenchSettings, run_bench

    common = flags.resolve(sources())
    chosen = tuple(only) if only else SCENARIOS
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        raise ConfigError(f"unknown scenario {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")
    settings = BenchSettings(
        common=common,
        messages=messages,
        workers=workers,
        concurrency_workers=concurrency_workers,
        concurrency_mean=concurrency_mean,
        concurrency_messages=concurrency_messages,
        e2e_messages=e2e_messages,
        reference_messages=reference_messages,
        limiter_messages=limiter_messages,
        http_messages=http_messages,
        http_workers=http_workers,
        references=references,
        only=chosen,
    )

    async def main() -> int:
        async with open_bridge():
            with trio.CancelScope() as stopped:
                async with trio.open_nursery() as nursery:
                    await nursery.start(stop_on_signals, stopped.cancel, stopped)
                    report = await run_bench(settings)
                    nursery.cancel_scope.cancel()
        if stopped.cancelled_caught:
            raise BenchError("interrupted; the processes were stopped and the run's queues and statistics deleted")
        print(json.dumps(report.to_json()) if json_output else table(report), flush=True)
        return EXIT_OK if report.all_met else EXIT_FAILURE

    run_command("bench", common, main)
