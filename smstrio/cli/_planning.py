"""What ``smstrio plan`` does once its flags are a campaign: plan under a signal handler, print the answer
(the table drawn with ``rich`` on a terminal, plain text in a pipe), write the HTML report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import trio
from rich.console import Console

from smstrio.cli._app import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK
from smstrio.core.scenario import Scenario
from smstrio.nursery.signals import stop_on_signals


async def run_planner(
    campaign: Scenario,
    question: dict[str, Any],
    *,
    max_workers: int,
    workers_per_process: int | None,
    verify: bool,
    json_output: bool,
    report: Path | None,
) -> int:
    """Plan ``campaign``; print the plan (``question``'s terms first in JSON) and write ``report``; return the
    exit code."""
    from smstrio.sim.plan import plan_workers  # the simulation brings the web stack: only when planning
    from smstrio.sim.plan_report import report_html
    from smstrio.sim.plan_text import plan_parts, render_plan

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            await nursery.start(stop_on_signals, scope.cancel, scope)
            result = await plan_workers(
                campaign, max_workers=max_workers, workers_per_process=workers_per_process, verify=verify
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
