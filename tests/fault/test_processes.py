"""Fault tier: supervised child processes (``smstrio.nursery.processes``) and ``smstrio send --processes``.

The first tests supervise small Python children and need no server; the others run
``smstrio send --processes 2`` on the real services and end with a ledger check.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.nursery.processes import Supervisor
from smstrio.testing import AMQP_URL, REDIS_URL, Smstrio, stats

SENDERS = ("send", "--processes", "2", "--workers", "20", "--failure-rate", "0.2", "--summary-interval", "0.5")


def _child(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    """The fields of each ``name`` event the supervisor logged."""
    return [r.fields for r in caplog.records if r.name == "smstrio.nursery.processes" and r.getMessage() == name]  # type: ignore[attr-defined]


def _waiting_child(directory: Path, on_sigterm: str) -> list[str]:
    """A child that writes ``PID.ready`` and sleeps; on SIGTERM it writes ``PID.stopped``, then runs ``on_sigterm``."""
    return _child(
        "import os, pathlib, signal, sys, time\n"
        f"d = pathlib.Path({str(directory)!r})\n"
        "def term(*_):\n"
        "    (d / f'{os.getpid()}.stopped').touch()\n"
        f"    {on_sigterm}\n"
        "signal.signal(signal.SIGTERM, term)\n"
        "(d / f'{os.getpid()}.ready').touch()\n"
        "time.sleep(60)\n"
    )


async def _names(directory: Path, pattern: str) -> list[str]:
    return sorted(p.name for p in await trio.Path(directory).glob(pattern))


async def _ready(directory: Path, count: int) -> None:
    while len(await _names(directory, "*.ready")) < count:  # noqa: ASYNC110 - polls the children's files
        await trio.sleep(0.02)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_children_that_exit_0_are_not_restarted(caplog: pytest.LogCaptureFixture) -> None:
    """Children exiting 0 stopped by themselves: the supervision ends with them, nothing restarted."""
    caplog.set_level(logging.INFO)
    supervisor = Supervisor(_child("pass"), 2)
    with trio.fail_after(30):
        await supervisor.run()
    st = supervisor.statistics()
    assert (len(st.started), st.running, st.restarts, st.fatal) == (2, (), 0, None)
    assert [e["exit"] for e in _events(caplog, "child exited")] == ["0", "0"]


async def test_a_child_that_dies_is_restarted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A child killed by SIGKILL is started again after the backoff delay, and the new one runs on."""
    caplog.set_level(logging.INFO)
    marker = tmp_path / "died-once"
    code = (
        f"import os, pathlib, signal\np = pathlib.Path({str(marker)!r})\n"
        "if not p.exists():\n    p.touch()\n    os.kill(os.getpid(), signal.SIGKILL)"
    )
    supervisor = Supervisor(_child(code), 1, first_delay=0.2, rng=random.Random(7))
    with trio.fail_after(30):
        began = trio.current_time()
        await supervisor.run()
    st = supervisor.statistics()
    assert (len(st.started), st.restarts) == (2, 1)
    delay = random.Random(7).uniform(0.1, 0.2)  # the first delay: drawn from the upper half of 0.2 s
    assert trio.current_time() - began >= delay
    [died] = _events(caplog, "child died; restarting")
    assert (died["pid"], died["exit"], died["delay_s"]) == (st.started[0], "SIGKILL", round(delay, 3))


async def test_stop_passes_sigterm_on_and_waits(tmp_path: Path) -> None:
    """stop() sends each child SIGTERM; the supervision ends once each has handled it and exited."""
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            supervisor: Supervisor = await nursery.start(Supervisor(_waiting_child(tmp_path, "sys.exit(0)"), 2).run)
            await _ready(tmp_path, 2)
            supervisor.stop()
    st = supervisor.statistics()
    assert await _names(tmp_path, "*.stopped") == sorted(f"{pid}.stopped" for pid in st.started)
    assert (st.running, st.restarts) == ((), 0)


async def test_cancelling_kills_every_child(tmp_path: Path) -> None:
    """Cancelled (the second signal), the supervisor SIGKILLs children that ignore SIGTERM, and reaps them."""
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            supervisor: Supervisor = await nursery.start(Supervisor(_waiting_child(tmp_path, "pass"), 2).run)
            await _ready(tmp_path, 2)
            supervisor.stop()
            while len(await _names(tmp_path, "*.stopped")) < 2:  # noqa: ASYNC110 - polls the children's files
                await trio.sleep(0.02)
            assert len(supervisor.statistics().running) == 2  # SIGTERM handled, and ignored
            nursery.cancel_scope.cancel()
    assert all(_gone(pid) for pid in supervisor.statistics().started)


async def test_a_fatal_exit_stops_the_others(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A child exiting with a fatal code (a usage error) is not restarted, and its sibling is stopped."""
    caplog.set_level(logging.INFO)
    first = tmp_path / "first"
    code = f"import sys, time\ntry:\n    open({str(first)!r}, 'x')\nexcept FileExistsError:\n    time.sleep(60)\n"
    code += "sys.exit(2)"
    supervisor = Supervisor(_child(code), 2, fatal=frozenset({2}))
    with trio.fail_after(30):
        await supervisor.run()
    st = supervisor.statistics()
    assert (len(st.started), st.running, st.fatal, st.restarts) == (2, (), 2, 0)
    assert [e["exit"] for e in _events(caplog, "child exited")] == ["SIGTERM"]


async def test_a_fatal_at_start_exit_on_a_first_run_stops_the_supervision(caplog: pytest.LogCaptureFixture) -> None:
    """A child whose first run exits with a fatal-at-start code (a server unreachable) is not restarted."""
    caplog.set_level(logging.INFO)
    supervisor = Supervisor(_child("import sys; sys.exit(3)"), 1, fatal_at_start=frozenset({3}))
    with trio.fail_after(30):
        await supervisor.run()
    st = supervisor.statistics()
    assert (len(st.started), st.running, st.fatal, st.restarts) == (1, (), 3, 0)
    assert [e["exit"] for e in _events(caplog, "child failed; stopping")] == [3]


async def test_a_fatal_at_start_exit_after_a_restart_is_restarted_again(tmp_path: Path) -> None:
    """Once its slot has run, a child exiting with a fatal-at-start code is restarted: the server may come back."""
    runs = tmp_path / "runs"
    code = (
        f"import pathlib, sys\np = pathlib.Path({str(runs)!r})\nn = len(p.read_text()) if p.exists() else 0\n"
        "p.write_text('x' * (n + 1))\nsys.exit({0: 1, 1: 3}.get(n, 0))"
    )
    supervisor = Supervisor(_child(code), 1, fatal_at_start=frozenset({3}), first_delay=0.05, rng=random.Random(7))
    with trio.fail_after(30):
        await supervisor.run()
    st = supervisor.statistics()
    assert (len(st.started), st.restarts, st.fatal) == (3, 2, None)


def _log_events(smstrio: Smstrio, name: str) -> list[dict[str, Any]]:
    """Each ``name`` event in the JSON lines of the processes ``smstrio`` started."""
    events = (json.loads(line) for line in smstrio.log_text().splitlines() if line.startswith("{"))
    return [e for e in events if e["event"] == name]


def _ledger(data: dict[str, int], produced: int) -> None:
    """Drained: every message produced is counted once (a redelivery after a kill counts as a duplicate only)."""
    assert (data["produced"], data["sent"] + data["failed"], data["queue_depth"]) == (produced, produced, 0)


async def _children(store: RedisStore, supervisor: trio.Process, count: int) -> list[int]:
    """The pids of the supervisor's children, once ``count`` of them are in ``senders``."""
    while True:
        pids = [s.pid for s in (await store.view()).senders if s.host == socket.gethostname()]
        if len(pids) >= count:
            assert supervisor.pid not in pids
            return sorted(pids)
        await trio.sleep(0.05)


async def _sent_at_least(store: RedisStore, count: int) -> None:
    while (await store.view()).totals.sent < count:  # noqa: ASYNC110 - polls Redis
        await trio.sleep(0.05)


@pytest.mark.services
async def test_until_empty_children_drain_the_queue_and_the_supervisor_exits_0(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """send --processes 2 --until-empty: both children consume, exit 0 once it is empty, so does the supervisor."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path, extra_env={"LOG_FORMAT": "json"})
    with trio.fail_after(120):
        assert (await smstrio.run("produce", "3000")).returncode == 0
        supervisor = await smstrio.start(*SENDERS, "--mean", "0.01", "--until-empty")
        assert await supervisor.wait() == 0
    assert len({e["sender"] for e in _log_events(smstrio, "consuming")}) == 2
    assert [e["exit"] for e in _log_events(smstrio, "child exited")] == ["0", "0"]
    assert _log_events(smstrio, "child died; restarting") == []
    assert {e["role"] for e in _log_events(smstrio, "summary")} == {"supervisor", "sender"}
    assert {e["limit_wait_s"] for e in _log_events(smstrio, "summary")} == {None}  # no limit, no wait to show
    data = stats(await smstrio.run("stats"))
    _ledger(data, 3000)
    assert data["duplicates"] == 0


@pytest.mark.services
async def test_under_a_rate_limit_the_supervisors_summary_adds_up_the_childrens_waits(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """send --processes 2 --rate-limit 200: the supervisor's summary lines carry the children's limit waits, summed."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path, extra_env={"LOG_FORMAT": "json"})
    with trio.fail_after(120):
        assert (await smstrio.run("produce", "600")).returncode == 0
        supervisor = await smstrio.start(*SENDERS, "--mean", "0", "--rate-limit", "200", "--until-empty")
        assert await supervisor.wait() == 0
    summaries = _log_events(smstrio, "summary")
    ours = [e["limit_wait_s"] for e in summaries if e["role"] == "supervisor" and e["limit_wait_s"] is not None]
    theirs = {e["sender"]: e["limit_wait_s"] for e in summaries if e["role"] == "sender"}  # each child's last
    assert ours == sorted(ours)
    assert ours[-1] > 0
    assert ours[-1] <= round(sum(theirs.values()), 3)  # heartbeats lag the children's own last lines
    _ledger(stats(await smstrio.run("stats")), 600)


@pytest.mark.services
async def test_a_sigkilled_child_is_restarted_and_counts_stay_exact(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """A child killed with SIGKILL mid-run is started again; every message is counted exactly once."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path, extra_env={"LOG_FORMAT": "json"})
    with trio.fail_after(120):
        assert (await smstrio.run("produce", "5000")).returncode == 0
        supervisor = await smstrio.start(*SENDERS, "--mean", "0.01", "--until-empty")
        victim = (await _children(store, supervisor, 2))[0]
        await _sent_at_least(store, 300)
        os.kill(victim, signal.SIGKILL)
        assert await supervisor.wait() == 0
        audit = await smstrio.run("audit", "--json")
    [died] = _log_events(smstrio, "child died; restarting")
    assert (died["pid"], died["exit"]) == (victim, "SIGKILL")
    assert len(_log_events(smstrio, "child started")) == 3
    _ledger(stats(await smstrio.run("stats")), 5000)
    assert (audit.returncode, json.loads(audit.stdout)["missing"]) == (0, 0)


@pytest.mark.services
async def test_sigterm_drains_every_child_and_exits_0(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """SIGTERM to the supervisor: each child stops gracefully, nothing is lost or counted twice, exit 0."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path, extra_env={"LOG_FORMAT": "json"})
    with trio.fail_after(120):
        assert (await smstrio.run("produce", "5000")).returncode == 0
        supervisor = await smstrio.start(*SENDERS, "--mean", "0.05")
        children = await _children(store, supervisor, 2)
        await _sent_at_least(store, 200)
        supervisor.send_signal(signal.SIGTERM)
        assert await supervisor.wait() == 0
        stopped = stats(await smstrio.run("stats"))
        assert (await smstrio.run("send", "--mean", "0", "--until-empty")).returncode == 0
    assert sorted(e["pid"] for e in _log_events(smstrio, "child exited")) == children
    assert {e["exit"] for e in _log_events(smstrio, "child exited")} == {"0"}
    assert len(_log_events(smstrio, "stopping gracefully")) == 3  # the supervisor, then each child
    assert stopped["senders"] == []
    assert (stopped["sent"] + stopped["failed"] + stopped["queue_depth"], stopped["duplicates"]) == (5000, 0)
    _ledger(stats(await smstrio.run("stats")), 5000)


@pytest.mark.services
async def test_a_second_signal_kills_the_children(
    broker: AmqpBroker, store: RedisStore, queue_name: str, tmp_path: Path
) -> None:
    """A second SIGTERM while the children drain: they are killed at once, exit 130, and nothing is lost."""
    smstrio = Smstrio(queue_name, AMQP_URL, REDIS_URL, tmp_path, extra_env={"LOG_FORMAT": "json"})
    with trio.fail_after(120):
        assert (await smstrio.run("produce", "500")).returncode == 0
        supervisor = await smstrio.start(*SENDERS, "--mean", "20", "--grace", "60", "--distribution", "constant")
        children = await _children(store, supervisor, 2)
        supervisor.send_signal(signal.SIGTERM)
        await trio.sleep(0.5)
        supervisor.send_signal(signal.SIGTERM)
        with trio.fail_after(10):
            assert await supervisor.wait() == 130
        assert all(_gone(pid) for pid in children)
        assert (await smstrio.run("send", "--mean", "0", "--until-empty")).returncode == 0
    assert sorted(e["pid"] for e in _log_events(smstrio, "child killed")) == children
    _ledger(stats(await smstrio.run("stats")), 500)
