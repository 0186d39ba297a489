"""``smstrio plan``, which needs no servers: its flags become a campaign; it plans under a signal handler, prints
the answer (the table drawn with ``rich`` on a terminal, plain text in a pipe) and writes the HTML report."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import trio
from cyclopts import Parameter
from rich.console import Console

from smstrio.cli._app import (
    DEFAULT_LOG_FLAGS,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    LogFlags,
    app,
    run_command,
    sources,
)
from smstrio.cli._campaign import SenderDefaults, check_scaling, planned_campaign, planned_profiles
from smstrio.cli.simulation import virtual_clock
from smstrio.core.distributions import Distribution
from smstrio.core.scenario import ArrivalProcess, Scenario
from smstrio.core.scenario_file import load_scenario
from smstrio.nursery.signals import stop_on_signals


@app.command
def plan(
    *,
    messages: int | None = None,
    target_duration: float | None = None,
    arrival_rate: float | None = None,
    arrivals: ArrivalProcess = ArrivalProcess.POISSON,
    duration: float | None = None,
    max_p99_latency: float | None = None,
    mean: float | None = None,
    failure_rate: float = 0.1,
    distribution: Distribution = Distribution.EXPONENTIAL,
    max_attempts: int | None = None,
    retry_delay: float | None = None,
    rate_limit: float | None = None,
    fleet_rate_limit: float | None = None,
    sender: Annotated[list[str] | None, Parameter(negative="")] = None,
    scenario: Path | None = None,
    scale: str | None = None,
    max_workers: int = 10_000,
    workers_per_process: int | None = None,
    verify: bool = True,
    seed: int | None = None,
    json_output: Annotated[bool, Parameter(name="--json")] = False,
    report: Path | None = None,
    log_flags: LogFlags = DEFAULT_LOG_FLAGS,
) -> None:
    """Find the fewest workers that answer one of two questions.

    Drain: --messages N --target-duration S, every message loaded at once and processed within S
    seconds. Steady arrivals: --arrival-rate R --duration S --max-p99-latency L, R messages a
    second for S seconds, 99% of them processed within L seconds of their arrival. Starts from an
    analytic estimate (Little's law; Erlang C for exponential sends, else the offered load), searches
    around it with a fast model of the simulation (same seed for every run), then confirms the answer
    with full virtual-time simulations at the answer (passes) and one worker fewer (fails). Prints
    the answer, every run (with runs 10% either side of the answer: the curve) and the
    deciding summaries. Exit 1, with one line saying why, when there is no answer. With several
    sender profiles (--sender, --scenario), every profile's workers are scaled by one factor, or
    with --scale NAME only that profile's while the others keep theirs.

    Parameters
    ----------
    messages
        Drain: messages in the campaign, loaded at once.
    target_duration
        Drain: seconds within which every message must be processed.
    arrival_rate
        Steady arrivals: messages per second.
    arrivals
        Steady arrivals: poisson (exponential gaps) or constant.
    duration
        Steady arrivals: seconds of arrivals.
    max_p99_latency
        Steady arrivals: seconds within which 99% of messages must be processed after they arrive.
    mean
        Mean simulated send time in seconds of the one profile (or of --sender specs that give none).
    failure_rate
        Probability that a send fails, 0 to 1 (the one profile's, or what --sender specs leave out).
    distribution
        How send times are drawn around the mean (likewise).
    max_attempts
        Retries, as send's: each message then takes its mean attempts of work (1 + p + ... + p^(K-1) sends).
    retry_delay
        Seconds before a retry, doubling per attempt (with --max-attempts) [default 1].
    rate_limit
        Each sender's own limit in sends per second, as send's: a bound no worker count lifts.
    fleet_rate_limit
        One limit in sends per second over all senders, as send's: a target beyond it is refused in one line.
    sender
        One sender profile, repeatable: "workers=50,mean=0.2,name=fast"; its workers are the base scaled.
    scenario
        A TOML scenario file: its sender profiles, its seed, and its question when no flag asks one.
    scale
        Scale only the profile of this name; the others keep their workers [default: all, by one factor].
    max_workers
        The most workers to consider (in all, or of the profile --scale names).
    workers_per_process
        Answer in sender processes of this many workers each: the fewest such processes that pass.
    verify
        Confirm the answer with two full simulations; --no-verify trusts the model (large campaigns).
    seed
        Seed for every run [default: random, printed in the summary].
    json_output
        Print one JSON object: the answer, every run and the deciding summaries.
    report
        Also write the plan to this HTML file: one self-contained page with the curve around the answer.
    """
    common = log_flags.resolve(sources())
    base = load_scenario(scenario) if scenario is not None else None
    retries = SenderDefaults(max_attempts=max_attempts, retry_delay=retry_delay, rate_limit=rate_limit)
    profiles = planned_profiles(
        base, sender, mean=mean, failure_rate=failure_rate, distribution=distribution, retries=retries
    )
    campaign, question = planned_campaign(
        profiles,
        base=base,
        seed=seed,
        messages=messages,
        target_duration=target_duration,
        arrival_rate=arrival_rate,
        arrivals=arrivals,
        duration=duration,
        max_p99_latency=max_p99_latency,
        fleet_rate_limit=fleet_rate_limit,
    )
    check_scaling(campaign, scale=scale, workers_per_process=workers_per_process, max_workers=max_workers)
    planner = functools.partial(
        run_planner,
        campaign,
        {**question, "scale": scale},
        max_workers=max_workers,
        workers_per_process=workers_per_process,
        scale=scale,
        verify=verify,
        json_output=json_output,
        report=report,
    )
    run_command("planner", common, planner, clock=virtual_clock(True))


async def run_planner(
    campaign: Scenario,
    question: dict[str, Any],
    *,
    max_workers: int,
    workers_per_process: int | None,
    scale: str | None,
    verify: bool,
    json_output: bool,
    report: Path | None,
) -> int:
    """Plan ``campaign``; print the plan (``question``'s terms first in JSON) and write ``report``; return the
    exit code."""
    from smstrio.sim.plan import plan_workers  # the simulation brings the web stack: only when planning
    from smstrio.sim.plan_report import report_html
    from smstrio.sim.plan_text import plan_parts, render_plan

    with trio.CancelScope() as scope, _roles_quiet():
        async with trio.open_nursery() as nursery:
            await nursery.start(stop_on_signals, scope.cancel, scope)
            result = await plan_workers(
                campaign, max_workers=max_workers, workers_per_process=workers_per_process, scale=scale, verify=verify
            )
            nursery.cancel_scope.cancel()
    if scope.cancelled_caught:
        print("smstrio: error: interrupted before an answer", file=sys.stderr)
        return EXIT_INTERRUPTED
    if json_output:
        print(json.dumps({**question, **result.to_json()}), flush=True)
    elif result.trials and sys.stdout.isatty():
        console = Console(highlight=False)
        for number, part in enumerate(plan_parts(result, campaign)):
            if number:
                console.print()
            console.print(part, markup=False, soft_wrap=isinstance(part, str))  # lines as they are, unwrapped
    elif result.trials:
        print(render_plan(result, campaign), flush=True)
    if report is not None and result.trials:
        try:
            await trio.Path(report).write_text(report_html(result, campaign), encoding="utf-8")
        except OSError as exc:
            print(f"smstrio: error: cannot write the report {report}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILURE
    if result.reason is not None:
        print(f"smstrio: error: {result.reason}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


@contextlib.contextmanager
def _roles_quiet() -> Iterator[None]:
    """The simulations' producer and senders log warnings only while planning, unless at DEBUG: their lines (each
    sender's consuming, summary and stopped) would bury the plan's own (a ``plan trial`` line per run)."""
    roles = logging.getLogger("smstrio.roles")
    saved = roles.level
    if not logging.getLogger("smstrio").isEnabledFor(logging.DEBUG):
        roles.setLevel(logging.WARNING)
    try:
        yield
    finally:
        roles.setLevel(saved)
