"""HTTP for the monitor: quart-trio on hypercorn.

GET /         the live dashboard (``dashboard.html``: inline CSS and JS, polls /stats, /rates and /metrics)
GET /stats    the latest statistics snapshot (JSON, refreshed once per interval)
GET /rates    the same snapshot's outcomes per second over the last 120 s (JSON: ``start``, ``per_s``)
GET /metrics  the same snapshot in the Prometheus text format (``smstrio.web.prometheus``)
These bodies are rendered once per snapshot and served as is until the next one.
GET /healthz  whether Redis and RabbitMQ answer (200 or 503, JSON)

With a token (``MonitorSettings.token``) every endpoint but ``/healthz`` answers 401 unless the
request carries ``Authorization: Bearer <token>``; ``/`` also takes it as ``?token=<token>``,
and the page then sends it as that header on its own requests.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import asdict
from importlib import resources
from typing import Any, Generic, Protocol, TypeVar

from quart import Response, request
from quart_trio import QuartTrio

from smstrio.core.stats import StatsSnapshot
from smstrio.web import prometheus

T = TypeVar("T")

INTERVAL_MARKER = "__SMSTRIO_INTERVAL_S__"
"""Replaced in ``dashboard.html`` by the monitor's interval, so the page polls at the same pace."""
OPEN_PATHS = frozenset({"/healthz"})
"""Paths served without the token, for health checks."""


class HealthReport(Protocol):
    """Whether each service answered, as ``GET /healthz`` reports it."""

    @property
    def ok(self) -> bool:
        """Both answered."""

    @property
    def redis(self) -> str:
        """``ok``, or why Redis did not answer."""

    @property
    def rabbitmq(self) -> str:
        """``ok``, or why RabbitMQ did not answer."""


class MonitorView(Protocol):
    """What the app reads from the monitor; :class:`smstrio.roles.monitor.Monitor` is one."""

    @property
    def token(self) -> str | None:
        """When set, every endpoint but ``/healthz`` requires it (see the module docstring)."""

    @property
    def interval(self) -> float:
        """Seconds between snapshots: the dashboard polls at this pace."""

    async def current(self) -> StatsSnapshot:
        """The latest snapshot."""

    async def health(self) -> HealthReport:
        """Ask the services now."""


def dashboard_page(interval: float) -> str:
    """The dashboard's HTML, polling every ``interval`` seconds."""
    page = resources.files("smstrio.web").joinpath("dashboard.html").read_text(encoding="utf-8")
    return page.replace(INTERVAL_MARKER, repr(float(interval)))


def authorized(token: str, header: str | None, query: str | None) -> bool:
    """Whether the ``Authorization`` header (or, where allowed, the query token) carries ``token``."""
    scheme, _, given = (header or "").partition(" ")
    candidates = [given.strip()] if scheme.lower() == "bearer" else []
    if query is not None:
        candidates.append(query)
    expected = token.encode()
    return any(hmac.compare_digest(c.encode(), expected) for c in candidates)


class PerSnapshot(Generic[T]):
    """``render(snapshot)`` for the latest snapshot, computed once per snapshot, not once per request."""

    def __init__(self, render: Callable[[StatsSnapshot], T]) -> None:
        self._render = render
        self._last: tuple[StatsSnapshot, T] | None = None

    def __call__(self, snap: StatsSnapshot) -> T:
        if self._last is None or self._last[0] is not snap:
            self._last = (snap, self._render(snap))
        return self._last[1]


def create_app(monitor: MonitorView) -> QuartTrio:
    """The monitor's ASGI app; tests drive it with ``app.test_client()``."""
    app = QuartTrio("smstrio")
    token = monitor.token
    page = dashboard_page(monitor.interval)
    stats_body = PerSnapshot(lambda snap: json.dumps(snap.to_json(), separators=(",", ":")).encode())
    rates_body = PerSnapshot(lambda snap: json.dumps(asdict(snap.rates), separators=(",", ":")).encode())
    metrics_body = PerSnapshot(prometheus.render)

    @app.before_request
    async def require_token() -> tuple[dict[str, Any], int, dict[str, str]] | None:
        if token is None or request.path in OPEN_PATHS:
            return None
        query = request.args.get("token") if request.path == "/" else None
        if authorized(token, request.headers.get("Authorization"), query):
            return None
        error = {"error": "unauthorized: send the header Authorization: Bearer <token>"}
        return error, 401, {"WWW-Authenticate": 'Bearer realm="smstrio"'}

    @app.get("/")
    async def dashboard() -> Response:
        return Response(
            page, status=200, content_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"}
        )

    @app.get("/stats")
    async def stats() -> Response:
        body = stats_body(await monitor.current())
        return Response(body, status=200, content_type="application/json")

    @app.get("/rates")
    async def rates() -> Response:
        body = rates_body(await monitor.current())
        return Response(body, status=200, content_type="application/json")

    @app.get("/metrics")
    async def metrics() -> Response:
        text = metrics_body(await monitor.current())
        return Response(text, status=200, content_type=prometheus.CONTENT_TYPE)

    @app.get("/healthz")
    async def healthz() -> tuple[dict[str, Any], int]:
        health = await monitor.health()
        return {"ok": health.ok, "redis": health.redis, "rabbitmq": health.rabbitmq}, 200 if health.ok else 503

    return app
