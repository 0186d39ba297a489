"""Deployment tier: the local-process stack (``just local-up`` / ``local-down``), for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.testing import AMQP_URL, REDIS_URL, free_port
from tests.deploy.deploykit import JUST, ROOT, TIMEOUT_S, _load, known_env_names


def _gone(proc: dict[str, Any]) -> bool:
    """Whether the recorded process no longer runs (exited, a zombie, or its pid now names another process)."""
    try:
        stat = Path(f"/proc/{proc['pid']}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return True
    return stat[0] == "Z" or stat[19] != proc["started"]


def test_local_down_spares_a_process_whose_pid_was_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """local-down signals only the processes it started: a recorded pid now naming another process is left alone."""
    local = _load(ROOT / "scripts" / "local.py")
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "pids").write_text(json.dumps({"role": "sender-1", "pid": bystander.pid, "started": "1"}) + "\n")
        monkeypatch.setenv("SMSTRIO_LOCAL_DIR", str(tmp_path))
        assert local.main(["down", "--timeout", "1"]) == 0
        assert bystander.poll() is None
        assert not (tmp_path / "pids").exists()
    finally:
        bystander.kill()
        bystander.wait()


async def _stats(env: dict[str, str]) -> dict[str, Any]:
    done = await trio.run_process([sys.executable, "-m", "smstrio", "stats"], env=env, capture_stdout=True)
    stats: dict[str, Any] = json.loads(done.stdout)
    return stats


@pytest.mark.services
async def test_local_up_down_leaves_no_process_and_loses_no_message(
    tmp_path: Path, queue_name: str, store: RedisStore, broker: AmqpBroker
) -> None:
    """`just local-up 3` runs a monitor and 3 senders that process every message; `just local-down` stops just them."""
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in known_env_names()}
    env.update(
        AMQP_URL=AMQP_URL,
        REDIS_URL=REDIS_URL,
        QUEUE_NAME=queue_name,
        MONITOR_PORT=str(free_port()),
        MONITOR_UPDATE_INTERVAL="0.5",
        MEAN_PROCESSING_TIME="0.01",
        SMSTRIO_LOCAL_DIR=str(run_dir),
        UV_FROZEN="1",
    )
    with trio.fail_after(TIMEOUT_S):
        await trio.run_process([JUST, "local-up", "3"], env=env, cwd=ROOT, capture_stdout=True)
        procs = [json.loads(line) for line in (run_dir / "pids").read_text().splitlines()]
        try:
            assert [p["role"] for p in procs] == ["monitor", "sender-1", "sender-2", "sender-3"]
            for proc in procs[:2]:  # the container health check, against the real monitor and a real sender
                await trio.run_process(
                    [sys.executable, ROOT / "containers" / "healthcheck.py", str(proc["pid"])], env=env
                )
            await trio.run_process([sys.executable, "-m", "smstrio", "produce", "300"], env=env, capture_stdout=True)
            while (totals := (await store.view()).totals).sent + totals.failed < 300:  # noqa: ASYNC110 - polls Redis
                await trio.sleep(0.2)
        finally:
            down = await trio.run_process([JUST, "local-down"], env=env, cwd=ROOT, capture_stdout=True, check=False)
        assert down.returncode == 0, down
        assert [p["role"] for p in procs if not _gone(p)] == []
        assert not (run_dir / "pids").exists()
        assert sorted(p.name for p in run_dir.glob("*.log")) == [f"{p['role']}.log" for p in procs]
        stats = await _stats(env)
    assert (stats["produced"], stats["sent"] + stats["failed"], stats["invalid"], stats["duplicates"]) == (
        300,
        300,
        0,
        0,
    )
    assert (stats["queue_depth"], stats["senders"]) == (0, [])
