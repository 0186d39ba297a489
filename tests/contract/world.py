"""Where a contract test runs, and the one difference its tests see between the two: the clock."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio
from trio.testing import MockClock

CAP_S = 30.0
"""The most one contract test may take, fixtures included, on its world's clock: a hang fails the test."""


@dataclass(frozen=True, slots=True)
class World:
    """The twins in Trio's virtual time (``memory``), or the real services in wall time (``real``)."""

    name: str
    now: Callable[[], float]
    """The clock the adapter measures time on: Trio's clock for the twins, the wall clock for Redis."""
    new_clock: Callable[[], trio.abc.Clock | None]
    """The clock Trio runs the test on: an autojumping ``MockClock`` for the twins, Trio's own (``None``) else."""

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: the twin's clock jumps at once, the real services are waited for."""
        await trio.sleep(seconds)

    def run(
        self, fn: Callable[[], Awaitable[Any]], *, clock: trio.abc.Clock | None = None, instruments: Any = ()
    ) -> Any:
        """``trio.run`` on this world's clock, capped at ``CAP_S``: the runner for pytest-trio's ``trio(run=...)``."""

        async def capped() -> Any:
            with trio.fail_after(CAP_S):
                return await fn()

        return trio.run(capped, clock=clock or self.new_clock(), instruments=instruments)


MEMORY = World("memory", trio.current_time, lambda: MockClock(autojump_threshold=0))
REAL = World("real", time.time, lambda: None)
