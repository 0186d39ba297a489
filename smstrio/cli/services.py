"""The commands that talk to RabbitMQ and Redis: produce, send, monitor, stats, dead, reset."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from typing import Annotated

import trio
from cyclopts import Parameter
from rich.console import Console

from smstrio.cli._app import (
    DEAD_BODY_SHOWN,
    DEFAULT_FLAGS,
    EXIT_OK,
    ServiceFlags,
    app,
    open_services,
    run_command,
    sources,
    stop_by_trigger,
    until_signalled,
)
from smstrio.cli._processes import process_count, supervise_senders
from smstrio.cli._produce_processes import produce_in_processes
from smstrio.cli.gateway import DEFAULT_GATEWAY_FLAGS, GatewayFlags, make_gateway
from smstrio.core.config import (
    MonitorSettings,
    ProducerSettings,
    SenderSettings,
)
from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError, PublishError
from smstrio.core.sources import as_distribution, as_float, as_int
from smstrio.core.stats import StatsSnapshot
from smstrio.nursery.signals import stop_on_signals
from smstrio.roles.monitor import collect
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


@app.command
def monitor(
    *,
    interval: Annotated[float | None, Parameter(name=["--interval", "--update-interval"])] = None,
    host: str | None = None,
    port: int | None = None,
    json_lines: Annotated[bool, Parameter(name="--json", negative=())] = False,
    token: str | None = None,
    flags: ServiceFlags = DEFAULT_FLAGS,
) -> None:
    """Show the statistics every interval and serve them over HTTP (/, /stats, /rates, /metrics, /healthz).

    On stdout: one JSON line per interval, or a live table when stdout is a terminal.

    Parameters
    ----------
    interval
        Seconds between statistics lines [env MONITOR_UPDATE_INTERVAL; default 5].
    host
        Address the HTTP server binds [env MONITOR_HOST; default 127.0.0.1].
    port
        HTTP port, 0 for any free one [env MONITOR_PORT; default 8080].
    json_lines
        Print JSON lines even on a terminal (there, as with the table, the stats log line goes to DEBUG).
    token
        Require "Authorization: Bearer TOKEN" on /, /stats, /rates and /metrics; / also takes ?token=TOKEN
        [env MONITOR_TOKEN; default: no token].
    """
    src = sources()
    settings = MonitorSettings(
        common=flags.resolve(src),
        interval=src.pick(interval, ("MONITOR_UPDATE_INTERVAL",), as_float, 5.0),
        host=src.pick(host, ("MONITOR_HOST",), str, "127.0.0.1"),
        port=src.pick(port, ("MONITOR_PORT",), as_int, 8080),
        token=src.pick(token, ("MONITOR_TOKEN",), str, None),
    )
    # Imported here: quart and hypercorn take a third of a second that the other commands need not pay.
    from smstrio.web.serve import run_monitor

    table = console.LiveTable(Console(file=sys.stdout), redirect_stderr=sys.stderr.isatty())
    # A terminal on stdout shows the statistics already (as the table, or as JSON lines with --json): the stats
    # log line, which says the same, goes to DEBUG there. Elsewhere (a pipe, a container) it stays at INFO.
    level = logging.DEBUG if sys.stdout.isatty() else logging.INFO
    if json_lines or not sys.stdout.isatty():
        role = functools.partial(run_monitor, report=_print_json_line, stats_log_level=level)
    else:
        role = functools.partial(run_monitor, report=lambda s: table.show(s.to_json()), stats_log_level=level)

    async def main() -> int:
        with table:  # draws nothing unless shown
            async with open_services(settings.common, name="smstrio monitor") as (broker, store):
                return await until_signalled(stop_by_trigger, role, settings, broker, store)

    run_command("monitor", settings.common, main)


def _print_json_line(snap: StatsSnapshot) -> None:
    print(json.dumps(snap.to_json()), flush=True)


@app.command
def stats(
    *,
    json_output: Annotated[bool, Parameter(name="--json", negative=())] = False,
    flags: ServiceFlags = DEFAULT_FLAGS,
) -> None:
    """Print the current statistics of the queue once: one JSON object, or on a terminal the monitor's table.

    Parameters
    ----------
    json_output
        Print the JSON object even on a terminal.
    """
    common = flags.resolve(sources())

    async def main() -> int:
        async with open_services(common, name="smstrio stats") as (broker, store):
            snap = await collect(common.queue, broker, store)
        if sys.stdout.isatty() and not json_output:
            Console().print(console.render(snap.to_json(), title="smstrio stats"))
        else:
            print(json.dumps(snap.to_json()), flush=True)
        return EXIT_OK

    run_command("stats", common, main)


@app.command
def dead(*, requeue: bool = False, limit: int = 100, flags: ServiceFlags = DEFAULT_FLAGS) -> None:
    """List the queue's dead letters (malformed messages) as JSON lines, or move them back with --requeue.

    Parameters
    ----------
    requeue
        Move the dead letters back to the queue instead of listing them.
    limit
        At most this many dead letters.
    """
    common = flags.resolve(sources())
    if limit < 1:
        raise ConfigError(f"limit must be >= 1, got {limit}")

    async def main() -> int:
        async with open_services(common, name="smstrio dead") as (broker, _):
            await broker.declare(common.queue)
            if requeue:
                moved = await broker.requeue_dead(common.queue, limit)
                print(json.dumps({"queue": common.queue, "requeued": moved}), flush=True)
                return EXIT_OK
            for letter in await broker.dead_letters(common.queue, limit):
                body = letter.body[:DEAD_BODY_SHOWN].decode("utf-8", errors="replace")
                print(json.dumps({"message_id": letter.message_id, "reason": letter.reason, "body": body}), flush=True)
        return EXIT_OK

    run_command("dead", common, main)


@app.command
def reset(*, flags: ServiceFlags = DEFAULT_FLAGS) -> None:
    """Delete the queue's statistics in Redis (not its messages), to start counting afresh."""
    common = flags.resolve(sources())

    async def main() -> int:
        async with open_services(common, name="smstrio reset") as (_, store):
            deleted = await store.reset()
        print(json.dumps({"queue": common.queue, "deleted_keys": deleted}), flush=True)
        return EXIT_OK

    run_command("reset", common, main)
