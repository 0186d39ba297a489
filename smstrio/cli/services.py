"""The commands that move messages through RabbitMQ and Redis: produce and send (the others: watching)."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from typing import Annotated

import trio
from cyclopts import Parameter
from rich.console import Console

from smstrio.cli._app import (
    DEFAULT_FLAGS,
    EXIT_OK,
    ServiceFlags,
    app,
    open_services,
    run_command,
    sources,
    until_signalled,
)
from smstrio.cli._processes import process_count, supervise_senders
from smstrio.cli._produce_processes import produce_in_processes
from smstrio.cli.gateway import DEFAULT_GATEWAY_FLAGS, GatewayFlags, make_gateway
from smstrio.core.config import (
    ProducerSettings,
    SenderSettings,
)
from smstrio.core.distributions import Distribution
from smstrio.core.errors import PublishError
from smstrio.core.sources import as_distribution, as_float, as_int
from smstrio.nursery.signals import stop_on_signals
from smstrio.roles.producer import run_producer
from smstrio.roles.sender import run_sender
from smstrio.web import console


@app.command
def produce(
    count: Annotated[int | None, Parameter(name=["--count", "--num-messages"])] = None,
    *,
    window: int | None = None,
    seed: int | None = None,
    processes: str | None = None,
    progress: bool = True,
    flags: ServiceFlags = DEFAULT_FLAGS,
) -> None:
    """Publish COUNT random SMS alerts, persistent and confirmed, then print a JSON summary.

    On a terminal, a progress bar on stderr shows the confirmed count, the rate and the ETA.

    Parameters
    ----------
    count
        How many alerts to publish [default 1000].
    window
        Publishes in flight at once, awaiting their confirms [env PRODUCER_WINDOW; default 1000].
    seed
        Seed the random generator for a reproducible campaign.
    processes
        Split the count between this many producer processes, each with its own connection, seed and run;
        the summary combines theirs; auto: one per CPU [env PRODUCER_PROCESSES; default 1: this process publishes].
    progress
        Draw the progress bar when stderr is a terminal (--no-progress: never).
    """
    src = sources()
    settings = ProducerSettings(
        common=flags.resolve(src),
        count=count if count is not None else 1000,
        window=src.pick(window, ("PRODUCER_WINDOW",), as_int, 1000),
        seed=seed,
        processes=process_count(processes, src, "PRODUCER_PROCESSES"),
    )
    if settings.processes > 1:
        return produce_in_processes(settings, flags)

    async def main() -> int:
        terminal = progress and sys.stderr.isatty()
        bar = console.ProduceProgress(settings.count, Console(file=sys.stderr), trio.current_time) if terminal else None
        async with open_services(settings.common, name="smstrio produce") as (broker, store):
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as nursery:
                    await nursery.start(stop_on_signals, scope.cancel, scope)
                    with bar if bar is not None else contextlib.nullcontext():
                        update = bar.update if bar is not None else None
                        summary = await run_producer(settings, broker, store, progress=update)
                    nursery.cancel_scope.cancel()
            if scope.cancelled_caught:
                raise PublishError("interrupted; the messages confirmed so far are counted in produced")
            print(json.dumps(summary.to_json()), flush=True)
        return EXIT_OK

    run_command("producer", settings.common, main)


@app.command
def send(
    *,
    workers: int | None = None,
    mean: float | None = None,
    failure_rate: float | None = None,
    distribution: Distribution | None = None,
    prefetch: int | None = None,
    grace: float | None = None,
    max_attempts: int | None = None,
    retry_delay: float | None = None,
    until_empty: bool = False,
    summary_interval: float | None = None,
    seed: int | None = None,
    processes: str | None = None,
    rate_limit: float | None = None,
    fleet_rate_limit: float | None = None,
    flags: ServiceFlags = DEFAULT_FLAGS,
    gateway_flags: GatewayFlags = DEFAULT_GATEWAY_FLAGS,
) -> None:
    """Consume alerts and send them, simulated or to an HTTP SMS API; record each outcome in Redis, then acknowledge.

    Parameters
    ----------
    workers
        Concurrent sends; with --gateway http, the most connections to it [env SENDER_WORKERS; default 20].
    mean
        Mean simulated send time in seconds, 0 allowed [env MEAN_PROCESSING_TIME; default 2].
    failure_rate
        Probability that a send fails, 0 to 1 [env FAILURE_RATE; default 0.1].
    distribution
        How send times are drawn around the mean [env SEND_DISTRIBUTION; default exponential].
    prefetch
        Unacknowledged deliveries held at once [env SENDER_PREFETCH; default: twice the worker count].
    grace
        On SIGINT/SIGTERM, seconds to let in-flight sends finish [env SENDER_GRACE; default 30].
    max_attempts
        Attempts at each send; a failed attempt before the last is retried later through the queue
        <queue>.retry and counted in "retried" [env SENDER_MAX_ATTEMPTS; default 1: no retries].
    retry_delay
        Seconds before the first retry, doubling for each further one [env SENDER_RETRY_DELAY; default 1].
    until_empty
        Stop by itself once the queue (and its retries) is empty and every delivery is settled.
    summary_interval
        Seconds between "summary" log lines of this sender's own counts and rate; 0 turns them off
        [env SENDER_SUMMARY_INTERVAL; default 5].
    seed
        Seed the random generator (send times and failures).
    processes
        Run this many senders as child processes, each with these flags, its own connections and --workers;
        one that dies is restarted, a signal is passed on, their combined summary is logged; auto: one per CPU
        [env SENDER_PROCESSES; default 1: this process sends].
    rate_limit
        Messages per second this command sends at most; with --processes N each child gets 1/N of it
        [env RATE_LIMIT; default: no limit].
    fleet_rate_limit
        Messages per second all senders of the queue send at most together, shared through Redis; give every
        sender the same [env FLEET_RATE_LIMIT; default: no limit].
    """
    src = sources()
    settings = SenderSettings(
        common=flags.resolve(src),
        workers=src.pick(workers, ("SENDER_WORKERS",), as_int, 20),
        mean=src.pick(mean, ("MEAN_PROCESSING_TIME",), as_float, 2.0),
        failure_rate=src.pick(failure_rate, ("FAILURE_RATE",), as_float, 0.1),
        distribution=src.pick(distribution, ("SEND_DISTRIBUTION",), as_distribution, Distribution.EXPONENTIAL),
        prefetch=src.pick(prefetch, ("SENDER_PREFETCH",), as_int, None),
        grace=src.pick(grace, ("SENDER_GRACE",), as_float, 30.0),
        max_attempts=src.pick(max_attempts, ("SENDER_MAX_ATTEMPTS",), as_int, 1),
        retry_delay=src.pick(retry_delay, ("SENDER_RETRY_DELAY",), as_float, 1.0),
        until_empty=until_empty,
        summary_interval=src.pick(summary_interval, ("SENDER_SUMMARY_INTERVAL",), as_float, 5.0),
        seed=seed,
        gateway=gateway_flags.resolve(src),
        rate_limit=src.pick(rate_limit, ("RATE_LIMIT",), as_float, None),
        fleet_rate_limit=src.pick(fleet_rate_limit, ("FLEET_RATE_LIMIT",), as_float, None),
        processes=process_count(processes, src, "SENDER_PROCESSES"),
    )
    if settings.processes > 1:
        return supervise_senders(settings)
    gateway = make_gateway(settings, seed)

    async def main() -> int:
        async with open_services(settings.common, name="smstrio send") as (broker, store):
            return await until_signalled(functools.partial(run_sender, fleet=store), settings, broker, store, gateway)

    run_command("sender", settings.common, main)
