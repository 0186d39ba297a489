"""Browser tier: the monitor's dashboard page in a real headless Chromium while messages flow."""

from __future__ import annotations

import json
import os
import random
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.core.config import Common, MonitorSettings, ProducerSettings, SenderSettings
from smstrio.core.distributions import Distribution, sampler
from smstrio.core.stats import RATE_HISTORY_S
from smstrio.roles.gateway import SimulatedGateway
from smstrio.roles.producer import run_producer
from smstrio.roles.sender import Sender, run_sender
from smstrio.testing import AMQP_URL, REDIS_URL, http_get
from smstrio.web.serve import run_monitor

pytestmark = pytest.mark.services

INTERVAL_S = 0.5
COUNTERS = ("produced", "processed", "sent", "failed", "invalid", "retried", "duplicates", "queue_depth", "consumers")
RATES = ("throughput_per_s", "rate_1s", "rate_60s", "avg_time_s", "progress")
PERCENTILES = ("p50", "p90", "p95", "p99", "max")


@pytest.fixture
def chromium() -> str:
    """The Chromium binary; without one the test skips, or fails when CI is set."""
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        reason = "needs chromium on PATH for the headless browser test (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and this test {reason}", pytrace=False)
        pytest.skip(reason)
    return found


class Page(HTMLParser):
    """The numbers a dumped dashboard shows: ``data-value`` by element id, and each sender row's fields."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.attrs: dict[str, dict[str, str]] = {}
        self.senders: dict[str, dict[str, str]] = {}
        self._row: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.attrs[a["id"]] = a
            if "data-value" in a:
                self.values[a["id"]] = a["data-value"]
        if tag == "tr" and "data-sender-id" in a:
            self._row = a["data-sender-id"]
            self.senders[self._row] = {}
        if tag == "td" and self._row is not None and "data-field" in a:
            self.senders[self._row][a["data-field"]] = a["data-value"]

    def number(self, element_id: str) -> float | None:
        raw = self.values[element_id]
        return None if raw == "" else float(raw)


async def _load(chromium: str, url: str, profile: Path, budget_ms: int = 2000) -> Page:
    """Load ``url`` in headless Chromium, let the page run for ``budget_ms`` virtual milliseconds (virtual
    time stands still while a request is pending), and parse the DOM."""
    argv = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    argv += [f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", "--dump-dom", url]
    with trio.fail_after(25):
        result = await trio.run_process(argv, capture_stdout=True, capture_stderr=True, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return Page(result.stdout.decode())


async def _poll_stats(port: int, seen: dict[float, dict[str, Any]]) -> None:
    """Fetch /stats every 0.1 s (five times per interval), keeping each distinct snapshot by its time."""
    while True:
        status, _, body = await http_get("127.0.0.1", port, "/stats")
        assert status == 200
        data = json.loads(body)
        seen[data["updated_at"]] = data
        await trio.sleep(0.1)


def _assert_page_matches(page: Page, stats: dict[str, Any]) -> None:
    for key in (*COUNTERS, *RATES):
        assert page.number(key) == stats[key], key
    for key in ("service_time_s", "latency_s"):
        for p in PERCENTILES:
            assert page.number(f"{key}-{p}") == stats[key][p], f"{key} {p}"
    assert page.number("eta_s") == stats["eta_s"]
    assert page.number("sender_count") == len(stats["senders"])
    counts, limits = ("sent", "failed", "invalid", "retried"), ("rate_limit", "limit_wait_s")
    assert page.senders == {s["id"]: {key: _js_number(s[key]) for key in (*counts, *limits)} for s in stats["senders"]}


def _js_number(value: float | None) -> str:
    """``value`` as the page writes it into a data-value: JavaScript's String(), "" for null."""
    if value is None:
        return ""
    return str(int(value)) if value == int(value) else repr(value)


async def test_dashboard_shows_the_live_numbers_of_stats(
    broker: AmqpBroker, store: RedisStore, queue_name: str, chromium: str, tmp_path: Path
) -> None:
    """In headless Chromium the dashboard shows the numbers /stats served at that moment, and they move on."""
    common = Common(queue=queue_name, amqp_url=AMQP_URL, redis_url=REDIS_URL)
    rng = random.Random(4)
    sending = SenderSettings(
        common=common, workers=10, mean=0.05, failure_rate=0.2, distribution=Distribution.UNIFORM, grace=1.0
    )
    gateway = SimulatedGateway(sampler(sending.distribution, sending.mean, rng), sending.failure_rate, rng)
    monitor_broker = await AmqpBroker.connect(AMQP_URL, name="smstrio dashboard test monitor")
    monitor_store = await RedisStore.connect(REDIS_URL, queue_name)
    seen: dict[float, dict[str, Any]] = {}
    try:
        with trio.fail_after(60):
            await run_producer(ProducerSettings(common=common, count=3000, window=500), broker, store)
            async with trio.open_nursery() as nursery:
                settings = MonitorSettings(common=common, port=0, interval=INTERVAL_S)
                (url,) = await nursery.start(run_monitor, settings, monitor_broker, monitor_store)
                sender: Sender = await nursery.start(run_sender, sending, broker, store, gateway)
                nursery.start_soon(_poll_stats, urlsplit(url).port, seen)
                await trio.sleep(1.0)
                first = await _load(chromium, url + "/", tmp_path / "profile")
                latest_first = max(seen)
                await trio.sleep(1.0)
                second = await _load(chromium, url + "/", tmp_path / "profile")
                latest_second = max(seen)
                await trio.sleep(0.2)  # the poller's copy of the newest snapshot
                sender.stop()
                nursery.cancel_scope.cancel()
    finally:
        await monitor_broker.aclose()
        await monitor_store.aclose()

    # Real services in real time: how far the run got when each page loaded varies, so below are only
    # the orders and lower bounds that any run must show.
    for page, latest in ((first, latest_first), (second, latest_second)):
        assert page.attrs["status"]["data-state"] == "live"
        assert int(page.attrs["status"]["data-polls"]) >= 3, "the page does not poll every interval"
        shown_at = page.number("updated_at")
        assert shown_at in seen, "the page shows a snapshot /stats never served"
        assert latest - shown_at <= 2 * INTERVAL_S, "the page shows a stale snapshot"
        stats = seen[shown_at]
        _assert_page_matches(page, stats)
        assert stats["processed"] < stats["produced"] == 3000, "messages were not flowing while the page loaded"
        assert int(page.attrs["throughput-chart"]["data-points"]) >= RATE_HISTORY_S
        histogram_totals = {s["sent"] + s["failed"] for s in seen.values()}
        assert int(page.attrs["hist-service_time"]["data-total"]) in histogram_totals
        assert int(page.attrs["hist-latency"]["data-total"]) in histogram_totals
    assert first.number("updated_at") < second.number("updated_at")  # type: ignore[operator]
    assert 0 < first.number("sent") < second.number("sent")  # type: ignore[operator]
    assert first.number("queue_depth") > second.number("queue_depth")  # type: ignore[operator]


async def test_dashboard_chart_is_full_at_first_paint(
    broker: AmqpBroker, store: RedisStore, queue_name: str, chromium: str, tmp_path: Path
) -> None:
    """After its first poll the dashboard's chart already draws one point per second of the last 120, rates included."""
    common = Common(queue=queue_name, amqp_url=AMQP_URL, redis_url=REDIS_URL)
    rng = random.Random(5)
    sending = SenderSettings(common=common, workers=10, mean=0.02, failure_rate=0.0, grace=1.0)
    gateway = SimulatedGateway(sampler(sending.distribution, sending.mean, rng), sending.failure_rate, rng)
    monitor_broker = await AmqpBroker.connect(AMQP_URL, name="smstrio dashboard chart test monitor")
    monitor_store = await RedisStore.connect(REDIS_URL, queue_name)
    try:
        with trio.fail_after(60):
            await run_producer(ProducerSettings(common=common, count=2000, window=500), broker, store)
            async with trio.open_nursery() as nursery:
                settings = MonitorSettings(common=common, port=0, interval=INTERVAL_S)
                (url,) = await nursery.start(run_monitor, settings, monitor_broker, monitor_store)
                sender: Sender = await nursery.start(run_sender, sending, broker, store, gateway)
                await trio.sleep(3.0)
                page = await _load(chromium, url + "/", tmp_path / "profile", budget_ms=int(INTERVAL_S * 1000) // 2)
                sender.stop()
                nursery.cancel_scope.cancel()
    finally:
        await monitor_broker.aclose()
        await monitor_store.aclose()

    assert page.attrs["status"]["data-polls"] == "1"
    assert int(page.attrs["throughput-chart"]["data-points"]) == RATE_HISTORY_S
    assert page.number("chart-max") > 1, "the chart drew no outcomes"  # type: ignore[operator]
