"""HTTP tier: the monitor's --token: the endpoints it guards, the bearer and the page's ?token=, never logged."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import pytest
import trio

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, MonitorSettings
from smstrio.roles.monitor import Monitor
from smstrio.testing import Clock, http_get
from smstrio.web.app import create_app
from smstrio.web.serve import run_monitor

TOKEN = "s3cret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _guarded(queue: str) -> Monitor:
    return Monitor(
        settings=MonitorSettings(common=Common(queue=queue), token=TOKEN),
        broker=MemoryBroker(),
        store=MemoryStore(clock=Clock(100.0)),
    )


@pytest.mark.parametrize("path", ["/", "/stats", "/rates", "/metrics"])
@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}]
)
async def test_token_guards_every_endpoint_but_healthz(queue_name: str, path: str, headers: dict[str, str]) -> None:
    """With a token, /, /stats, /rates and /metrics answer 401 with a JSON error unless the Bearer header matches."""
    monitor = _guarded(queue_name)
    await monitor.refresh()

    response = await create_app(monitor).test_client().get(path, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="smstrio"'
    assert (await response.get_json())["error"].startswith("unauthorized")


@pytest.mark.parametrize("path", ["/", "/stats", "/rates", "/metrics", "/healthz"])
async def test_token_lets_the_bearer_in(queue_name: str, path: str) -> None:
    """With a token, the right Bearer header opens every endpoint; /healthz needs none."""
    monitor = _guarded(queue_name)
    await monitor.refresh()
    client = create_app(monitor).test_client()

    assert (await client.get(path, headers=BEARER)).status_code == 200
    assert (await client.get("/healthz")).status_code == 200


async def test_query_token_opens_only_the_page(queue_name: str) -> None:
    """?token= opens the dashboard page (which then sends the header), never /stats or /metrics."""
    monitor = _guarded(queue_name)
    await monitor.refresh()
    client = create_app(monitor).test_client()

    assert (await client.get(f"/?token={TOKEN}")).status_code == 200
    assert (await client.get("/?token=wrong")).status_code == 401
    assert (await client.get(f"/stats?token={TOKEN}")).status_code == 401
    assert (await client.get(f"/metrics?token={TOKEN}")).status_code == 401


async def test_real_server_requires_the_token_and_never_logs_it(
    queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """On a real hypercorn server /stats needs the Bearer token, /healthz does not, and no log line holds it."""
    settings = MonitorSettings(common=Common(queue=queue_name), port=0, interval=0.05, token=TOKEN)
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            (url,) = await nursery.start(run_monitor, settings, MemoryBroker(), MemoryStore(clock=Clock(100.0)))
            port = urlsplit(url).port
            assert port is not None
            denied = await http_get("127.0.0.1", port, "/stats")
            allowed = await http_get("127.0.0.1", port, "/stats", headers=BEARER)
            page = await http_get("127.0.0.1", port, f"/?token={TOKEN}")
            health = await http_get("127.0.0.1", port, "/healthz")
            await trio.sleep(0.2)
            nursery.cancel_scope.cancel()

    assert (denied[0], json.loads(denied[2])["error"][:12]) == (401, "unauthorized")
    assert (allowed[0], json.loads(allowed[2])["queue"]) == (200, queue_name)
    assert (page[0], health[0]) == (200, 200)
    assert [r for r in caplog.records if r.getMessage() == "stats"], "the monitor logged no stats line"
    assert all(TOKEN not in f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
