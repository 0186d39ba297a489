"""The monitor over HTTP: its app served on hypercorn, beside its refresh loop."""

from __future__ import annotations

import logging
from collections.abc import Callable

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


async def serve_http(
    app: QuartTrio, host: str, port: int, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Serve ``app`` until cancelled; hand the bound addresses to ``task_status``."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("smstrio.web.hypercorn")
    config.graceful_timeout = 2.0
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(serve, app, config)
        event(log, "serving", urls=binds)
        task_status.started(binds)


async def run_monitor(
    settings: MonitorSettings,
    broker: Broker,
    store: StatsStore,
    *,
    report: Callable[[StatsSnapshot], None] | None = None,
    stats_log_level: int = logging.INFO,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Log and ``report`` statistics every interval, serve them over HTTP; hand the bound URLs to ``task_status``."""
    monitor = Monitor(settings, broker, store, report=report, stats_log_level=stats_log_level)
    async with trio.open_nursery() as nursery:
        await nursery.start(monitor.run)
        urls = await nursery.start(serve_http, create_app(monitor), settings.host, settings.port)
        task_status.started(urls)
