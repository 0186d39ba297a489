"""Which engine runs ``smstrio simulate``: the full simulation (Trio tasks) or the event kernel, and the kernel's run.

``tasks`` runs the producer, senders and monitor on the in-memory twins (:mod:`smstrio.sim.simulate`);
``kernel`` models the same campaign with a heap of completion times (:mod:`smstrio.sim.kernel`), twenty
times faster and more, and ``tests/component/test_kernel_agreement.py`` holds it to the simulation's
summary. ``auto`` takes the kernel where that test binds the two and nothing asks for what only tasks do.
"""

from __future__ import annotations

import enum
import logging
import random
from dataclasses import replace

import trio

from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError
from smstrio.core.logs import event
from smstrio.core.scenario import Scenario
from smstrio.core.summary import Engine, SimulationSummary

log = logging.getLogger(__name__)


class EngineChoice(enum.StrEnum):
    """``smstrio simulate --engine``."""

    AUTO = "auto"
    """The kernel for a virtual-time run it models as the simulation does, else the full simulation."""
    TASKS = "tasks"
    """The full simulation: the roles as Trio tasks on the in-memory twins."""
    KERNEL = "kernel"
    """The event kernel: no tasks, no twins, no stats lines."""


def kernel_refusal(*, virtual_time: bool, port: int | None, interval: float | None) -> str | None:
    """Why the kernel cannot run this at all (what only the full simulation does); ``None``: it can."""
    if port is not None:
        return "the event kernel serves no /stats (--port): use --engine tasks"
    if not virtual_time:
        return "the event kernel runs in virtual time only: add --virtual-time, or use --engine tasks"
    if interval is not None:
        return "the event kernel logs no stats lines (--interval): use --engine tasks"
    return None


def kernel_differs(scenario: Scenario) -> str | None:
    """Why the kernel's numbers may differ from a simulation's for ``scenario``, where Trio's order of tasks
    changes what the simulation draws (the agreement test leaves these out); ``None``: the same numbers."""
    if sum(p.distribution is Distribution.CONSTANT for p in scenario.senders) > 1:
        return "several senders of constant send times end sends at one instant, in an order Trio picks"
    if any(p.max_attempts >= 3 and p.retry_delay > 0 for p in scenario.senders):
        return "retries of three attempts or more with a delay come back to idle workers Trio runs in its own order"
    if scenario.fleet_rate_limit is not None and len(scenario.senders) > 1 and scenario.arrivals is not None:
        return "arrivals to several senders under a fleet limit go to the worker Trio ran first"
    return None


def choose(
    choice: EngineChoice, scenario: Scenario, *, virtual_time: bool, port: int | None, interval: float | None
) -> tuple[Engine, str]:
    """The engine that runs ``scenario``, and why; a :class:`ConfigError` (one line) when ``kernel`` cannot."""
    refusal = kernel_refusal(virtual_time=virtual_time, port=port, interval=interval)
    if choice is EngineChoice.TASKS:
        return "tasks", "asked for"
    if choice is EngineChoice.KERNEL:
        if refusal is not None:
            raise ConfigError(refusal)
        return "kernel", kernel_differs(scenario) or "asked for"
    reason = refusal or kernel_differs(scenario)
    return ("tasks", reason) if reason is not None else ("kernel", "a virtual-time run the kernel models")


class KernelRun:
    """The handle a signal stops: the kernel keeps no partial summary, so a stop abandons the run."""

    def __init__(self) -> None:
        self.scope = trio.CancelScope()

    def stop(self) -> None:
        self.scope.cancel()


async def run_kernel_thread(
    scenario: Scenario, *, task_status: trio.TaskStatus[KernelRun] = trio.TASK_STATUS_IGNORED
) -> SimulationSummary | None:
    """Run the kernel on ``scenario`` in a worker thread, so that signals are heard; ``None`` when stopped.

    Logs ``simulating`` and ``simulated`` as the simulation does (with ``engine``), and nothing between.
    """
    from smstrio.sim.kernel import run_kernel

    seed = scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(2**32)
    scenario = replace(scenario, seed=seed)
    handle = KernelRun()
    log_simulating(scenario, seed=seed, virtual_time=True, engine="kernel")
    task_status.started(handle)
    with handle.scope:
        summary = await trio.to_thread.run_sync(run_kernel, scenario, abandon_on_cancel=True)
        log_simulated(summary)
        return summary
    return None


def log_simulating(scenario: Scenario, *, seed: int, virtual_time: bool, engine: Engine) -> None:
    """The ``simulating`` line either engine logs as it starts."""
    event(
        log,
        "simulating",
        messages=scenario.messages,
        senders=len(scenario.senders),
        workers=scenario.total_workers,
        seed=seed,
        virtual_time=virtual_time,
        engine=engine,
    )


def log_simulated(summary: SimulationSummary) -> None:
    """The ``simulated`` line either engine logs at its end."""
    s = summary
    event(
        log,
        "simulated",
        complete=s.complete,
        sent=s.sent,
        failed=s.failed,
        duration_s=s.duration_s,
        p99_s=s.p99_s,
        passed=s.passed,
        engine=s.engine,
    )
