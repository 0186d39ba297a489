"""The monitor over HTTP: its app served on hypercorn, beside its refresh loop.

Serving ends through hypercorn's shutdown trigger: the listeners close at once, and
requests in flight get ``GRACEFUL_TIMEOUT_S`` to finish. Cancelling the server instead
would cut them. (A connection that was answered after the trigger still closes only at
that deadline: quart-trio 0.12 cancels the task in which hypercorn 0.18 would close it.)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart_trio import QuartTrio

from smstrio.core.config import MonitorSettings
from smstrio.core.logs import event
from smstrio.core.stats import StatsSnapshot
from smstrio.ports import Broker, StatsStore
from smstrio.roles.monitor import Monitor
from smstrio.web.app import create_app

log = logging.getLogger(__name__)

GRACEFUL_TIMEOUT_S = 2.0
"""After the shutdown trigger, how long requests in flight may take before they are cut."""

ShutdownTrigger = Callable[[], Awaitable[None]]
"""Returns when serving should end (hypercorn's ``shutdown_trigger``), e.g. ``trio.Event().wait``."""


async def serve_http(
    app: QuartTrio,
    host: str,
    port: int,
    *,
    shutdown_trigger: ShutdownTrigger | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns and the requests in flight are answered
    (or ``GRACEFUL_TIMEOUT_S`` passed); hand the bound addresses to ``task_status``."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("smstrio.web.hypercorn")
    # Its one INFO line, "Running on http://... (CTRL + C to quit)", says what our serving line says.
    config.errorlog.setLevel(logging.WARNING)
    config.graceful_timeout = GRACEFUL_TIMEOUT_S
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(functools.partial(serve, app, config, shutdown_trigger=shutdown_trigger))
        event(log, "serving", urls=binds)
        task_status.started(binds)
    event(log, "stopped serving", urls=binds)


async def serve_monitor(
    monitor: Monitor,
    *,
    shutdown_trigger: ShutdownTrigger | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``monitor``'s refresh loop and serve it at its settings' host and port until ``shutdown_trigger``
    returns (see :func:`serve_http`), then stop refreshing; hand the bound URLs to ``task_status``."""
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        await serve_http(
            create_app(monitor),
            monitor.settings.host,
            monitor.settings.port,
            shutdown_trigger=shutdown_trigger,
            task_status=task_status,
        )
        nursery.cancel_scope.cancel()


async def run_monitor(
    settings: MonitorSettings,
    broker: Broker,
    store: StatsStore,
    *,
    report: Callable[[StatsSnapshot], None] | None = None,
    stats_log_level: int = logging.INFO,
    shutdown_trigger: ShutdownTrigger | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Log and ``report`` statistics every interval and serve them over HTTP until ``shutdown_trigger``
    returns (see :func:`serve_http`); hand the bound URLs to ``task_status``."""
    monitor = Monitor(settings, broker, store, report=report, stats_log_level=stats_log_level)
    await serve_monitor(monitor, shutdown_trigger=shutdown_trigger, task_status=task_status)
