"""HTTP tier: the monitor's app through the quart-trio test client, and once on a real hypercorn server."""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import trio

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, MonitorSettings
from smstrio.core.errors import StoreError
from smstrio.core.heartbeat import SenderInfo
from smstrio.core.message import encode, random_sms
from smstrio.core.stats import Outcome, OutcomeRecord, StatsSnapshot, snapshot
from smstrio.ports import Outgoing
from smstrio.roles.monitor import Health, Monitor
from smstrio.testing import Clock, http_get
from smstrio.web.app import INTERVAL_MARKER, create_app
from smstrio.web.serve import run_monitor
from tests.conftest import SNAPSHOT_KEYS

RUN = "0123456789ab"


@dataclass
class DownStore(MemoryStore):
    """A memory store that does not answer pings."""

    async def ping(self) -> None:
        await trio.lowlevel.checkpoint()
        raise StoreError("memory store is down")


def _monitor(queue: str, broker: MemoryBroker | None = None, store: MemoryStore | None = None) -> Monitor:
    return Monitor(
        settings=MonitorSettings(common=Common(queue=queue)),
        broker=broker or MemoryBroker(),
        store=store or MemoryStore(clock=Clock(100.0)),
    )


async def test_stats_serves_the_snapshot(queue_name: str) -> None:
    """GET /stats returns the latest snapshot with every documented key and the recorded numbers."""
    clock = Clock(100.25)
    broker, store = MemoryBroker(), MemoryStore(clock=clock)
    await store.add_produced(RUN, range(7))
    await store.record(
        [
            OutcomeRecord(outcome=Outcome.SENT, service_us=1_000_000, run=RUN, seq=0),
            OutcomeRecord(outcome=Outcome.SENT, service_us=3_000_000, run=RUN, seq=1),
            OutcomeRecord(outcome=Outcome.FAILED, service_us=2_000_000, run=RUN, seq=2),
            OutcomeRecord(outcome=Outcome.INVALID),
            OutcomeRecord(outcome=Outcome.SENT, service_us=9_000_000, run=RUN, seq=0),
        ]
    )
    info = SenderInfo(
        id="host-1-abcd",
        host="host",
        pid=1,
        workers=3,
        mean_s=0.5,
        failure_rate=0.1,
        distribution="constant",
        started_at=1.0,
        rate_limit=2.0,
        fleet_rate_limit=1.0,
        limit_wait_s=3.5,
    )
    await store.heartbeat(info, 5.0)
    sms = [random_sms(random.Random(1), run=RUN, seq=s, created_at=0.0) for s in (3, 4)]
    await broker.publish(queue_name, [Outgoing(m.message_id, encode(m)) for m in sms])
    clock.now = 101.5
    monitor = _monitor(queue_name, broker, store)
    await monitor.refresh()

    response = await create_app(monitor).test_client().get("/stats")

    assert response.status_code == 200
    body = await response.get_json()
    assert set(body) == SNAPSHOT_KEYS
    assert {k: body[k] for k in SNAPSHOT_KEYS - {"updated_at"}} == {
        "queue": queue_name,
        "produced": 8,  # 7 confirmed + 1 delivered message without an id
        "sent": 2,
        "failed": 1,
        "invalid": 1,
        "duplicates": 1,
        "retried": 0,
        "processed": 4,
        "avg_time_s": 2.0,
        "throughput_per_s": 0.8,
        "queue_depth": 2,
        "consumers": 0,
        "senders": [asdict(info)],
        # the middle of 2 s's bucket (1/128 of 2^20 µs wide), within RELATIVE_ERROR of 2 s
        "service_time_s": {"p50": 2.002944, "p90": 3.0, "p95": 3.0, "p99": 3.0, "max": 3.0},
        "latency_s": {"p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0},
        "rate_1s": 4.0,
        "rate_60s": 0.067,
        "progress": 0.5,
        "eta_s": 5.0,  # 4 left at 0.8 a second
        "missing": None,  # unknown while 2 wait in the queue
        # the sender's own limit 2/s, the fleet's 1/s: 0.8/s is 80% of the tighter
        "limits": {
            "fleet_per_s": 1.0,
            "senders_per_s": 2.0,
            "limit_per_s": 1.0,
            "rate_per_s": 0.8,
            "usage": 0.8,
            "wait_s": 3.5,
        },
    }
    assert body["updated_at"] > 0  # the wall-clock time of the refresh


async def test_stats_serves_the_cached_snapshot(queue_name: str) -> None:
    """GET /stats serves the snapshot of the last refresh, not the store's live counts."""
    store = MemoryStore(clock=Clock(100.0))
    monitor = _monitor(queue_name, store=store)
    await monitor.refresh()
    await store.add_produced(RUN, range(3))
    client = create_app(monitor).test_client()

    assert (await (await client.get("/stats")).get_json())["produced"] == 0
    await monitor.refresh()
    assert (await (await client.get("/stats")).get_json())["produced"] == 3


@dataclass
class Fixed:
    """A MonitorView serving one given snapshot."""

    snap: StatsSnapshot
    token: str | None = None
    interval: float = 1.0

    async def current(self) -> StatsSnapshot:
        await trio.lowlevel.checkpoint()
        return self.snap

    async def health(self) -> Health:
        raise NotImplementedError


async def test_rates_serves_the_outcomes_of_each_of_the_last_120_seconds() -> None:
    """GET /rates returns the outcomes counted in each of the last 120 whole seconds, oldest first, and the first."""
    clock = Clock(1_000.5)
    store = MemoryStore(clock=clock)
    await store.record([OutcomeRecord(outcome=Outcome.SENT, run=RUN, seq=0), OutcomeRecord(outcome=Outcome.INVALID)])
    clock.now = 1_002.5
    await store.record([OutcomeRecord(outcome=Outcome.FAILED, run=RUN, seq=1)])
    clock.now = 1_003.25
    snap = snapshot("q", await store.view(), queue_depth=None, now=clock.now)

    response = await create_app(Fixed(snap)).test_client().get("/rates")

    assert (response.status_code, response.content_type) == (200, "application/json")
    assert await response.get_json() == {"start": 883, "per_s": [0] * 117 + [2, 0, 1]}


async def test_healthz_ok(queue_name: str) -> None:
    """GET /healthz answers 200 and ok when both services answer."""
    response = await create_app(_monitor(queue_name)).test_client().get("/healthz")

    assert response.status_code == 200
    assert await response.get_json() == {"ok": True, "redis": "ok", "rabbitmq": "ok"}


async def test_healthz_names_the_lost_broker(queue_name: str) -> None:
    """GET /healthz answers 503 naming RabbitMQ when the broker connection was lost."""
    broker = MemoryBroker()
    broker.drop()

    response = await create_app(_monitor(queue_name, broker=broker)).test_client().get("/healthz")

    assert response.status_code == 503
    assert await response.get_json() == {
        "ok": False,
        "redis": "ok",
        "rabbitmq": "memory broker connection is closed",
    }


async def test_healthz_names_the_down_store(queue_name: str) -> None:
    """GET /healthz answers 503 naming Redis when the store does not answer."""
    store = DownStore(clock=Clock(100.0))

    response = await create_app(_monitor(queue_name, store=store)).test_client().get("/healthz")

    assert response.status_code == 503
    assert await response.get_json() == {"ok": False, "redis": "memory store is down", "rabbitmq": "ok"}


async def test_run_monitor_serves_stats_over_http(queue_name: str) -> None:
    """run_monitor binds a real server on port 0, hands back its URL, and serves /stats as JSON there."""
    store = MemoryStore(clock=Clock(100.0))
    await store.add_produced(RUN, range(42))
    settings = MonitorSettings(common=Common(queue=queue_name), host="127.0.0.1", port=0, interval=60.0)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            urls: list[str] = await nursery.start(run_monitor, settings, MemoryBroker(), store)
            (url,) = urls
            parts = urlsplit(url)
            assert parts.hostname == "127.0.0.1"
            assert parts.port is not None
            assert parts.port > 0  # whichever free port the OS gave

            status, headers, body = await http_get("127.0.0.1", parts.port, "/stats")
            nursery.cancel_scope.cancel()

    assert status == 200
    assert headers["content-type"] == "application/json"
    data = json.loads(body)
    assert set(data) == SNAPSHOT_KEYS
    assert (data["queue"], data["produced"], data["queue_depth"]) == (queue_name, 42, 0)


async def test_dashboard_is_served_self_contained(queue_name: str) -> None:
    """GET / serves the dashboard HTML polling at the monitor's interval, loading nothing from elsewhere."""
    settings = MonitorSettings(common=Common(queue=queue_name), interval=2.5)
    monitor = Monitor(settings=settings, broker=MemoryBroker(), store=MemoryStore(clock=Clock(100.0)))

    response = await create_app(monitor).test_client().get("/")

    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    page = await response.get_data(as_text=True)
    assert '<body data-interval="2.5">' in page
    assert INTERVAL_MARKER not in page
    assert not re.search(r"""\s(src|href)=|<link|@import|url\(""", page), "the page must work offline"
    for element in ('id="sent"', 'id="progress-fill"', 'id="throughput-chart"', 'id="senders"', 'id="hist-latency"'):
        assert element in page
