"""HTTP tier: GET /metrics through the quart-trio test client."""

from __future__ import annotations

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from smstrio.adapters.memory import MemoryBroker, MemoryStore
from smstrio.core.config import Common, MonitorSettings
from smstrio.core.stats import Outcome, OutcomeRecord
from smstrio.roles.monitor import Monitor
from smstrio.web.app import create_app
from smstrio.web.prometheus import CONTENT_TYPE

RUN = "0123456789ab"


def _families(text: str) -> dict[str, Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


async def test_metrics_endpoint_matches_stats(queue_name: str) -> None:
    """GET /metrics answers 200 in the 0.0.4 text format with the same numbers as GET /stats."""
    store = MemoryStore(clock=lambda: 100.0)
    await store.add_produced(RUN, range(6))
    await store.record(
        [
            OutcomeRecord(outcome=Outcome.SENT, service_us=2_000, latency_us=50_000, run=RUN, seq=0),
            OutcomeRecord(outcome=Outcome.FAILED, service_us=700_000, latency_us=900_000, run=RUN, seq=1),
            OutcomeRecord(outcome=Outcome.INVALID, run=RUN, seq=2),
            OutcomeRecord(outcome=Outcome.SENT, service_us=1, run=RUN, seq=0),
        ]
    )
    monitor = Monitor(MonitorSettings(common=Common(queue=queue_name)), MemoryBroker(), store)
    await monitor.refresh()
    client = create_app(monitor).test_client()

    response = await client.get("/metrics")
    stats = await (await client.get("/stats")).get_json()

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    families = _families(await response.get_data(as_text=True))
    for name in ("produced", "sent", "failed", "invalid", "duplicates"):
        assert families[f"smstrio_{name}"].samples[0].value == stats[name]
    assert families["smstrio_queue_depth"].samples[0].value == stats["queue_depth"]
    assert families["smstrio_senders"].samples[0].value == len(stats["senders"])
    service = {(s.name, s.labels.get("le")): s.value for s in families["smstrio_service_time_seconds"].samples}
    assert service["smstrio_service_time_seconds_count", None] == stats["sent"] + stats["failed"] == 2
    assert service["smstrio_service_time_seconds_sum", None] == 0.702
    assert service["smstrio_service_time_seconds_bucket", "0.005"] == 1
    assert stats["service_time_s"]["max"] == 0.7
