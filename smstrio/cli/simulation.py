"""``smstrio simulate``, which needs no servers: a campaign on the in-memory broker and store."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import trio
from cyclopts import Parameter

from smstrio.cli._app import (
    DEFAULT_LOG_FLAGS,
    EXIT_FAILURE,
    EXIT_OK,
    LogFlags,
    app,
    run_command,
    sources,
    until_signalled,
)
from smstrio.cli._campaign import SenderDefaults, simulated_campaign
from smstrio.core.distributions import Distribution
from smstrio.core.errors import ConfigError
from smstrio.core.logs import event
from smstrio.core.scenario import ArrivalProcess, Scenario, Thresholds
from smstrio.core.scenario_file import load_scenario
from smstrio.sim.engine import EngineChoice, choose

if TYPE_CHECKING:
    from smstrio.cli._app import Stoppable
    from smstrio.core.summary import SimulationSummary

log = logging.getLogger(__name__)


def virtual_clock(virtual: bool) -> trio.abc.Clock | None:
    from trio.testing import MockClock  # imports pytest where it is installed: only when asked for

    return MockClock(autojump_threshold=0) if virtual else None


def print_summary(summary: SimulationSummary, *, json_output: bool) -> None:
    """The summary on stdout: one JSON object with ``json_output``, drawn by rich on a terminal, else plain text."""
    from smstrio.core.summary import render

    if json_output:
        print(json.dumps(summary.to_json()), flush=True)
    elif sys.stdout.isatty():
        from rich.console import Console

        from smstrio.sim.summary_view import summary_view

        Console(highlight=False).print(summary_view(summary))
    else:
        print(render(summary), flush=True)


@app.command
def simulate(
    *,
    messages: int | None = None,
    workers: int | None = None,
    mean: float | None = None,
    failure_rate: float | None = None,
    distribution: Distribution | None = None,
    max_attempts: int | None = None,
    retry_delay: float | None = None,
    rate_limit: float | None = None,
    fleet_rate_limit: float | None = None,
    sender: Annotated[list[str] | None, Parameter(negative="")] = None,
    scenario: Path | None = None,
    arrival_rate: float | None = None,
    arrivals: ArrivalProcess | None = None,
    duration: float | None = None,
    virtual_time: bool = False,
    engine: EngineChoice = EngineChoice.AUTO,
    json_output: Annotated[bool, Parameter(name="--json")] = False,
    max_p99: float | None = None,
    max_failure_rate: float | None = None,
    max_duration: float | None = None,
    max_p99_latency: float | None = None,
    port: int | None = None,
    interval: float | None = None,
    seed: int | None = None,
    log_flags: LogFlags = DEFAULT_LOG_FLAGS,
) -> None:
    """Simulate a whole campaign in this process on an in-memory broker and store; print a summary.

    Needs no RabbitMQ or Redis: the producer, the senders and the monitor run as in production,
    on in-memory twins. With no options: 1,000 messages, 50 workers, exponential mean 0.1 s, about
    2 seconds. Exit 1 when a threshold is crossed (one line names it) or the run was stopped early.

    Parameters
    ----------
    messages
        Messages to publish [default 1000, or the scenario file's].
    workers
        Workers of each sender [default 50].
    mean
        Mean simulated send time in seconds [default 0.1].
    failure_rate
        Probability that a send fails, 0 to 1 [default 0.1].
    distribution
        How send times are drawn around the mean [default exponential].
    max_attempts
        Attempts at each message, as send's: a failed send is retried up to this many in all [default 1].
    retry_delay
        Seconds a failed send waits before its retry, doubling per attempt, as send's [default 1].
    rate_limit
        Sends per second each sender may start at most, as send's --rate-limit [default: none].
    fleet_rate_limit
        Sends per second all senders together may start at most, as send's --fleet-rate-limit [default: none].
    sender
        One sender, repeatable: "workers=50,mean=0.2,failure-rate=0.1,distribution=normal,name=fast".
        Keys not given come from --workers/--mean/--failure-rate/--distribution.
    scenario
        A TOML scenario file (format: ``smstrio/core/scenario_file.py``); flags override its values.
    arrival_rate
        Messages arrive steadily, this many per second, instead of all at once at the start.
    arrivals
        How arrivals are spaced: poisson (exponential gaps) or constant [default poisson].
    duration
        Seconds of arrivals (with --arrival-rate): rate x duration messages, instead of --messages.
    virtual_time
        Run on a virtual clock: no real waiting, durations are simulated seconds.
    engine
        What runs it: tasks (the full simulation), kernel (the event model: virtual time, no --port or --interval),
        or auto (the kernel for a virtual-time run it models as the full simulation does, else tasks).
    json_output
        Print the summary as one JSON object instead of text.
    max_p99
        Threshold: the 99th percentile send time must not exceed this many seconds.
    max_failure_rate
        Threshold: failed / (sent + failed) must not exceed this.
    max_duration
        Threshold: the campaign must end within this many seconds.
    max_p99_latency
        Threshold: the 99th percentile end-to-end latency (creation to outcome) must not exceed this many seconds.
    port
        Also serve /stats and /healthz over HTTP on this port while running (0: any free one).
    interval
        Seconds between the monitor's stats lines [default 1; virtual time: a tenth of the ideal duration].
    seed
        Seed for a reproducible run [default: random, printed in the summary].
    """
    common = log_flags.resolve(sources())
    campaign = simulated_campaign(
        load_scenario(scenario) if scenario is not None else Scenario(),
        messages=messages,
        defaults=SenderDefaults(
            workers=workers,
            mean=mean,
            failure_rate=failure_rate,
            distribution=distribution,
            max_attempts=max_attempts,
            retry_delay=retry_delay,
            rate_limit=rate_limit,
        ),
        fleet_rate_limit=fleet_rate_limit,
        senders=sender,
        arrival_rate=arrival_rate,
        arrivals=arrivals,
        duration=duration,
        seed=seed,
        limits=Thresholds(
            max_p99_s=max_p99,
            max_failure_rate=max_failure_rate,
            max_duration_s=max_duration,
            max_p99_latency_s=max_p99_latency,
        ),
    )
    if port is not None and virtual_time:
        raise ConfigError("--port serves HTTP in real time; it cannot be combined with --virtual-time")
    if interval is not None and not interval > 0:
        raise ConfigError(f"interval must be > 0 seconds, got {interval}")
    ran, why = choose(engine, campaign, virtual_time=virtual_time, port=port, interval=interval)
    if interval is None:
        steady = campaign.arrivals
        lasting = max(campaign.ideal_duration_s, campaign.messages / steady.rate if steady else 0.0)
        interval = max(1.0, round(lasting / 10)) if virtual_time else 1.0
    summaries: list[SimulationSummary | None] = []

    async def role(*, task_status: trio.TaskStatus[Stoppable] = trio.TASK_STATUS_IGNORED) -> None:
        event(log, "engine", level=logging.DEBUG, engine=ran, reason=why)
        if ran == "kernel":
            from smstrio.sim.engine import run_kernel_thread

            summaries.append(await run_kernel_thread(campaign, task_status=task_status))
            return
        # Imported here: the simulation brings the monitor's web stack, which the other commands need not load.
        from smstrio.sim.simulate import run_simulation

        summaries.append(await run_simulation(campaign, monitor_interval=interval, port=port, task_status=task_status))

    async def main() -> int:
        code = await until_signalled(role)
        if not summaries:
            return code
        (summary,) = summaries
        if summary is None:
            print("smstrio: error: stopped early: the event kernel keeps no partial summary", file=sys.stderr)
            return EXIT_FAILURE
        print_summary(summary, json_output=json_output)
        if not summary.complete:
            processed = summary.sent + summary.failed
            print(f"smstrio: error: stopped early: {processed} of {summary.messages} processed", file=sys.stderr)
            return EXIT_FAILURE
        for t in summary.thresholds:
            if not t.passed:
                print(f"smstrio: error: threshold {t.name} crossed: {t.actual:g} > {t.limit:g}", file=sys.stderr)
        return EXIT_OK if summary.passed else EXIT_FAILURE

    run_command("simulation", common, main, clock=virtual_clock(virtual_time and ran == "tasks"))
