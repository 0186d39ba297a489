"""Integration tier: ``smstrio produce --processes N`` against the real RabbitMQ and Redis, run as processes."""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import pytest
import trio

from smstrio.adapters.redis.store import RedisStore
from smstrio.cli import EXIT_FAILURE
from smstrio.core.message import new_run_id
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio

pytestmark = pytest.mark.services


async def test_a_campaign_split_between_two_processes_is_confirmed_and_counted_once(
    store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """Two children seeded from --seed: their runs are that seed's, each confirms its share, none is missing."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path)
    with trio.fail_after(120):
        result = await smstrio.run("produce", "3001", "--processes", "2", "--seed", "5")
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        summary = json.loads(result.stdout)
        sender = ("send", "--workers", "20", "--mean", "0", "--failure-rate", "0.2", "--until-empty")
        assert (await smstrio.run(*sender)).returncode == 0
        audit = json.loads((await smstrio.run("audit", "--json")).stdout)
    rng = random.Random(5)
    runs = [new_run_id(random.Random(rng.getrandbits(32))) for _ in range(2)]
    assert (summary["runs"], summary["processes"], summary["confirmed"], summary["published"]) == (runs, 2, 3001, 3001)
    by_run = {r["run"]: (r["confirmed"], r["counted"], r["missing"]) for r in audit["runs"]}
    assert by_run == {runs[0]: (1501, 1501, 0), runs[1]: (1500, 1500, 0)}
    totals = (await store.view()).totals
    assert (totals.produced, totals.sent + totals.failed, totals.duplicates) == (3001, 3001, 0)


async def test_sigterm_stops_every_child_and_the_ledger_stays_exact(
    store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """SIGTERM mid-campaign: the children stop, exit 1 with one line; once drained, every message is counted once."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path)
    with trio.fail_after(120):
        parent = await smstrio.start("produce", "1000000", "--processes", "2")
        while (await store.view()).totals.produced < 5000:  # noqa: ASYNC110 - polls Redis
            await trio.sleep(0.05)
        parent.send_signal(signal.SIGTERM)
        assert await parent.wait() == EXIT_FAILURE
        assert smstrio.log_text().splitlines()[-1] == (
            "smstrio: error: 2 of 2 producer processes failed (their errors are logged above); "
            "the messages confirmed so far are counted in produced"
        )
        sender = ("send", "--workers", "50", "--mean", "0", "--failure-rate", "0", "--until-empty")
        assert (await smstrio.run(*sender)).returncode == 0
        audit = json.loads((await smstrio.run("audit", "--json")).stdout)
    totals = (await store.view()).totals
    # Publishes the stop cut short may still have reached the queue: counted as produced once delivered.
    assert (totals.sent, totals.duplicates, audit["missing"]) == (totals.produced, 0, 0)
    assert 5000 <= totals.produced < 1000000
