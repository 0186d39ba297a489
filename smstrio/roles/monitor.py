"""The monitor role: every interval, read the statistics, log them as one JSON line, serve them.

Each fresh snapshot also goes to ``report`` if one is given: the CLI prints it on stdout,
as a JSON line or a live table (``smstrio.web.console``).

The monitor keeps no counts of its own: every number comes from the store and the
broker, so several monitors, or a restarted one, show the same numbers. It caches the
latest snapshot once per interval and serves that, so HTTP load never reaches Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from smstrio.core.config import MonitorSettings
from smstrio.core.errors import BrokerError, ServiceError
from smstrio.core.logs import event
from smstrio.core.stats import StatsSnapshot, snapshot
from smstrio.ports import Broker, StatsStore
from smstrio.roles.redeclare import declare_again

log = logging.getLogger(__name__)


async def collect(queue: str, broker: Broker, store: StatsStore) -> StatsSnapshot:
    """One fresh snapshot: the store's counters plus the broker's queue depth."""
    view = await store.view()
    info = await broker.queue_info(queue)
    return snapshot(queue, view, queue_depth=info.depth, consumers=info.consumers, now=time.time())


@dataclass
class Health:
    """Whether each service answered, as ``GET /healthz`` reports it."""

    redis: str
    rabbitmq: str

    @property
    def ok(self) -> bool:
        return self.redis == "ok" and self.rabbitmq == "ok"


RECONNECT_TIMEOUT_S = 10.0
"""The least time one reconnect of the monitor may take."""

HEALTH_TIMEOUT_S = 2.0
"""How long ``/healthz`` waits for each service."""


async def check_health(queue: str, broker: Broker, store: StatsStore) -> Health:
    """Ask both services, each within ``HEALTH_TIMEOUT_S``."""
    health = Health(redis="unreachable", rabbitmq="unreachable")
    with trio.move_on_after(HEALTH_TIMEOUT_S):
        try:
            await store.ping()
            health.redis = "ok"
        except ServiceError as exc:
            health.redis = str(exc)
    with trio.move_on_after(HEALTH_TIMEOUT_S):
        try:
            await broker.queue_depth(queue)
            health.rabbitmq = "ok"
        except ServiceError as exc:
            health.rabbitmq = str(exc)
    return health


@dataclass
class Monitor:
    """The latest snapshot, refreshed by :meth:`run`, read by the HTTP app."""

    settings: MonitorSettings
    broker: Broker
    store: StatsStore
    report: Callable[[StatsSnapshot], None] | None = None
    """Called with each fresh snapshot, after it is cached and logged."""
    stats_log_level: int = logging.INFO
    """The level of the ``stats`` log line (the CLI lowers it while a live table shows the same)."""
    latest: StatsSnapshot | None = None
    _fresh: trio.Event = field(default_factory=trio.Event)

    @property
    def token(self) -> str | None:
        """The bearer token HTTP clients must send, if any."""
        return self.settings.token

    @property
    def interval(self) -> float:
        """Seconds between refreshes."""
        return self.settings.interval

    async def refresh(self) -> StatsSnapshot:
        """Collect, cache, log and report one snapshot."""
        snap = await collect(self.settings.common.queue, self.broker, self.store)
        self.latest = snap
        self._fresh.set()
        event(log, "stats", level=self.stats_log_level, **snap.to_json())
        if self.report is not None:
            self.report(snap)
        return snap

    async def current(self) -> StatsSnapshot:
        """The cached snapshot, waiting for the first one if none was taken yet."""
        await self._fresh.wait()
        assert self.latest is not None
        return self.latest

    async def health(self) -> Health:
        """Ask Redis and RabbitMQ now."""
        return await check_health(self.settings.common.queue, self.broker, self.store)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Refresh every interval, forever; a failed refresh is logged and retried next interval,
        after the broker failed (or a refresh went unanswered for an interval, at least
        ``RECONNECT_TIMEOUT_S``) on a new connection (to the next node of a list)."""
        await self.refresh()
        task_status.started()
        while True:
            await trio.sleep(self.settings.interval)
            try:
                with trio.fail_after(max(self.settings.interval, RECONNECT_TIMEOUT_S)):
                    await self.refresh()
            except trio.TooSlowError:  # a request on a connection cut under it waits for the heartbeat otherwise
                event(log, "stats unavailable", level=logging.WARNING, error="no answer in time")
                await self._reconnect()
            except ServiceError as exc:
                event(log, "stats unavailable", level=logging.WARNING, error=str(exc))
                if isinstance(exc, BrokerError):
                    await self._reconnect()

    async def _reconnect(self) -> None:
        """One attempt at a new broker connection, within an interval (the next refresh tries again)."""
        with trio.move_on_after(max(self.settings.interval, RECONNECT_TIMEOUT_S)):
            try:
                await self.broker.reconnect()
                await declare_again(self.broker, self.settings.common.queue, self.store)
            except BrokerError as exc:
                event(log, "reconnecting to the broker failed", level=logging.DEBUG, error=str(exc))
                return
            event(log, "reconnected to the broker")
