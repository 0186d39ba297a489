"""HTTP for the monitor: quart-trio on hypercorn.

GET /stats    the latest statistics snapshot (JSON, refreshed once per interval)
GET /metrics  the same snapshot in the Prometheus text format (``smstrio.prometheus``)
GET /healthz  whether Redis and RabbitMQ answer (200 or 503, JSON)
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response
from quart_trio import QuartTrio

from smstrio import prometheus
from smstrio.logs import event

if TYPE_CHECKING:
    from smstrio.monitor import Monitor

log = logging.getLogger(__name__)


def create_app(monitor: Monitor) -> QuartTrio:
    """The monitor's ASGI app; tests drive it with ``app.test_client()``."""
    app = QuartTrio("smstrio")

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return (await monitor.current()).to_json()

    @app.get("/metrics")
    async def metrics() -> Response:
        text = prometheus.render(await monitor.current())
        return Response(text, status=200, content_type=prometheus.CONTENT_TYPE)

    @app.get("/healthz")
    async def healthz() -> tuple[dict[str, Any], int]:
        health = await monitor.health()
        return {"ok": health.ok, "redis": health.redis, "rabbitmq": health.rabbitmq}, 200 if health.ok else 503

    return app


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
