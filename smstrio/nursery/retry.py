"""Retry a call with capped exponential backoff and jitter, logging each change of state once."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import trio

from smstrio.core.logs import event

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Backoff:
    """Delays of ``first * 2**n`` capped at ``cap``, each drawn uniformly from its upper half."""

    first: float = 0.1
    cap: float = 5.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.first * 2**self.attempts)
        self.attempts += 1
        return self.rng.uniform(ceiling / 2, ceiling)


async def retry(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    errors: tuple[type[Exception], ...],
    attempt_timeout: float | None = None,
    backoff: Backoff | None = None,
) -> T:
    """Await ``call()`` until it returns, retrying on ``errors`` (and on ``attempt_timeout``).

    Logs ``"<what> failed; retrying"`` at the first failure and ``"<what> recovered"``
    once it succeeds after failures; the attempts in between are logged at debug level.
    Runs until it succeeds or is cancelled: the caller owns the overall deadline.
    """
    retried: tuple[type[Exception], ...] = (*errors, trio.TooSlowError)
    failures = 0
    while True:
        problem: str
        try:
            if attempt_timeout is None:
                result = await call()
            else:
                with trio.fail_after(attempt_timeout):
                    result = await call()
        except retried as exc:
            problem = str(exc) or f"timed out after {attempt_timeout} s"
        else:
            if failures:
                event(log, f"{what} recovered", failures=failures)
            return result
        failures += 1
        if backoff is None:  # made at the first failure: seeding its Random from the OS costs more than most calls
            backoff = Backoff()
        delay = backoff.next_delay()
        if failures == 1:
            event(log, f"{what} failed; retrying", level=logging.WARNING, error=problem)
        else:
            event(log, f"{what} failed again", level=logging.DEBUG, error=problem, failures=failures, delay_s=delay)
        await trio.sleep(delay)
