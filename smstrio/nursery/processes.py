"""Supervise child processes from one nursery: each restarted with backoff when it dies, all stopped together.

A child that exits 0 stopped by itself (a sender with ``--until-empty``, or one stopped by a
signal of its own) and is not started again; the supervision ends once every child has
ended. A child that exits otherwise, or dies of a signal, is started again after a delay of
:class:`~smstrio.nursery.retry.Backoff` (starting over once a child has run ``stable_s``
seconds); one that exits with a ``fatal`` code (say, a usage error, which a restart would
only repeat) stops the supervision, and so does one that exits with a ``fatal_at_start`` code
the first time its slot runs (a server unreachable before any child got going: restarting
would hide it; once a slot has run, the same code is a server lost for a while, and the
child is restarted). :meth:`Supervisor.stop` sends every child SIGTERM and
starts none again: each drains as its own signal handling says, and the supervision ends
when the last has exited. Cancelling :meth:`Supervisor.run` kills every child with SIGKILL
and reaps it.

Children run in a process group of their own, so a Ctrl-C on the terminal reaches the
supervisor only, which passes one SIGTERM on: a child would take the terminal's SIGINT
and then that SIGTERM for two signals, the second of which stops it hard. A supervisor
killed with SIGKILL leaves its children running.
"""

from __future__ import annotations

import logging
import random
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import trio

from smstrio.core.logs import event
from smstrio.nursery.retry import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorStatistics:
    """What a supervisor has done so far."""

    running: tuple[int, ...]
    """The pids of the children alive now."""
    started: tuple[int, ...]
    """The pid of every child started, in order."""
    restarts: int
    """Children started again after dying."""
    fatal: int | None
    """The exit code of a child that ended the supervision (one of ``fatal`` or ``fatal_at_start``), else None."""


def describe_exit(returncode: int) -> str:
    """``"0"``, ``"1"``, ... or the signal's name (``"SIGKILL"``) for a child that a signal ended."""
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return str(returncode)


class Supervisor:
    """``count`` children running ``command``; :meth:`run` supervises them (see the module docstring)."""

    def __init__(
        self,
        command: Sequence[str],
        count: int,
        *,
        env: Mapping[str, str] | None = None,
        fatal: frozenset[int] = frozenset(),
        fatal_at_start: frozenset[int] = frozenset(),
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        stable_s: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self._command = list(command)
        self._count = count
        self._env = dict(env) if env is not None else None
        self._fatal_codes = fatal
        self._fatal_at_start = fatal_at_start
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._stable_s = stable_s
        self._rng = rng or random.Random()
        self._stopping = trio.Event()
        self._children: dict[int, trio.Process] = {}
        self._started: list[int] = []
        self._restarts = 0
        self._fatal: int | None = None

    def stop(self) -> None:
        """Send every child SIGTERM and start none again; :meth:`run` returns once all have exited."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for process in self._children.values():
            process.terminate()

    def statistics(self) -> SupervisorStatistics:
        return SupervisorStatistics(
            running=tuple(p.pid for _, p in sorted(self._children.items())),
            started=tuple(self._started),
            restarts=self._restarts,
            fatal=self._fatal,
        )

    async def run(self, *, task_status: trio.TaskStatus[Supervisor] = trio.TASK_STATUS_IGNORED) -> None:
        """Start every child, hand ``self`` to ``task_status``, and return once every child has ended."""
        async with trio.open_nursery() as nursery:
            for slot in range(self._count):
                await nursery.start(self._keep, slot)
            task_status.started(self)

    async def _keep(self, slot: int, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep child ``slot`` running until it exits 0, a stop, or a fatal exit."""
        backoff = Backoff(first=self._first_delay, cap=self._max_delay, rng=self._rng)
        fatal = self._fatal_codes | self._fatal_at_start
        while True:
            began = trio.current_time()
            process = await trio.lowlevel.open_process(
                self._command, env=self._env, stdin=subprocess.DEVNULL, process_group=0
            )
            try:
                self._children[slot] = process
                self._started.append(process.pid)
                event(log, "child started", slot=slot, pid=process.pid)
                task_status.started()
                task_status = trio.TASK_STATUS_IGNORED
                if self._stopping.is_set():  # stopped while it was being started
                    process.terminate()
                code = await process.wait()
            finally:
                del self._children[slot]
                if process.returncode is None:  # cancelled: the hard stop
                    with trio.CancelScope(shield=True):
                        process.kill()
                        await process.wait()
                    event(log, "child killed", level=logging.WARNING, slot=slot, pid=process.pid)
            if code == 0 or self._stopping.is_set():
                level = logging.INFO if code == 0 else logging.WARNING
                event(log, "child exited", level=level, slot=slot, pid=process.pid, exit=describe_exit(code))
                return
            if code in fatal:
                event(log, "child failed; stopping", level=logging.ERROR, slot=slot, pid=process.pid, exit=code)
                self._fatal = code
                self.stop()
                return
            fatal = self._fatal_codes
            if trio.current_time() - began >= self._stable_s:
                backoff.attempts = 0
            delay = backoff.next_delay()
            event(
                log,
                "child died; restarting",
                level=logging.WARNING,
                slot=slot,
                pid=process.pid,
                exit=describe_exit(code),
                delay_s=round(delay, 3),
            )
            with trio.move_on_after(delay):
                await self._stopping.wait()
            if self._stopping.is_set():
                return
            self._restarts += 1
