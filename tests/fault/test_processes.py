"""Fault tier: supervised child processes (``smstrio.nursery.processes``), small Python children, no server."""

from __future__ import annotations

import logging
import os
import random
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from smstrio.nursery.processes import Supervisor


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
