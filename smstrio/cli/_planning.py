"""What ``smstrio plan`` does once its flags are a campaign: plan under a signal handler, print the answer."""

from __future__ import annotations

import json
import sys
from typing import Any

import trio

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
) -> int:
    """Plan ``campaign``; print the plan (``question``'s terms first in JSON); return the exit code."""
    from smstrio.sim.plan import plan_workers  # the simulation brings the web stack: only when planning
    from smstrio.sim.plan_text import render_plan

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
    elif result.trials:
        print(render_plan(result, campaign), flush=True)
    if result.reason is not None:
        print(f"smstrio: error: {result.reason}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
