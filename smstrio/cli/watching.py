"""The commands that watch a queue and clear it: monitor, stats, dead, reset."""

from __future__ import annotations

import functools
import json
import logging
import sys
from typing import Annotated

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
from smstrio.core.config import MonitorSettings
from smstrio.core.errors import ConfigError
from smstrio.core.sources import as_float, as_int
from smstrio.core.stats import StatsSnapshot
from smstrio.roles.monitor import collect
from smstrio.web import console


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
