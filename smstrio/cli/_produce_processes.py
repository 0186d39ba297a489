"""``smstrio produce --processes N``: this process splits the campaign between N producer processes.

Each child is ``smstrio produce`` with its share of the count, a seed of its own and the
parent's service flags: its own connection, its own run id, its own confirms. The parent
checks both servers at start, as every command does, draws the progress bar on a terminal
from ``produced`` in Redis, and prints one summary combining the children's. Under the bar the
children's log lines (console lines, as the parent's) pass through the parent, so that they print
above the bar instead of across it.

A child is not started again when it fails: a new run would publish new messages. Its
confirmed messages are counted in ``produced`` all the same, and the command exits 1 (3
when a child could not reach a server). The first SIGINT/SIGTERM passes SIGTERM on to the
children, which stop as ``produce`` does (what was confirmed is counted); the second kills
them. Children run in a process group of their own, so the terminal's Ctrl-C reaches the
parent only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import os
import random
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from rich.console import Console

from smstrio.cli._app import EXIT_OK, EXIT_UNAVAILABLE, ServiceFlags, open_services, run_command
from smstrio.core.config import ProducerSettings
from smstrio.core.errors import PublishError, ServiceError, StoreError
from smstrio.core.logs import event
from smstrio.nursery.processes import describe_exit
from smstrio.nursery.signals import stop_on_signals
from smstrio.ports import StatsStore
from smstrio.web import console

log = logging.getLogger("smstrio.cli.produce")

PROGRESS_EVERY_S = 0.25
"""How often the parent reads ``produced`` for its progress bar."""


def shares(count: int, processes: int) -> list[int]:
    """``count`` split into ``processes`` shares that differ by one at most, the larger first."""
    share, extra = divmod(count, processes)
    return [share + (1 if i < extra else 0) for i in range(processes)]


def flag_arguments(flags: ServiceFlags) -> list[str]:
    """The command-line flags that give a child ``flags`` as the parent was given them."""
    out: list[str] = []
    for field in dataclasses.fields(flags):
        value = getattr(flags, field.name)
        name = "--" + field.name.replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                out += [name, str(item)]
    return out


def child_commands(settings: ProducerSettings, flags: ServiceFlags, seed: int | None) -> list[list[str]]:
    """One ``smstrio produce`` command line per child: its share, its seed (drawn from ``seed``), the parent's flags."""
    rng = random.Random(seed) if seed is not None else random.SystemRandom()
    base = [sys.executable, "-m", "smstrio", "produce"]
    common = ["--window", str(settings.window), "--no-progress", *flag_arguments(flags)]
    return [
        [*base, str(share), "--seed", str(rng.getrandbits(32)), *common]
        for share in shares(settings.count, settings.processes)
    ]


def combine(queue: str, summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The children's summaries as one: their runs, the sums, and the rate over the longest child's seconds.

    Those seconds count as one producer's do, from its first publish (connecting not counted); the
    children start together, so the longest of them spans the campaign.
    """
    confirmed = sum(int(s["confirmed"]) for s in summaries)
    seconds = max((float(s["seconds"]) for s in summaries), default=0.0)
    return {
        "queue": queue,
        "runs": [s["run"] for s in summaries],
        "processes": len(summaries),
        "published": sum(int(s["published"]) for s in summaries),
        "confirmed": confirmed,
        "seconds": round(seconds, 3),
        "rate_per_s": round(confirmed / seconds, 1) if seconds > 0 else 0.0,
    }


def produce_in_processes(settings: ProducerSettings, flags: ServiceFlags) -> None:
    """Run ``smstrio produce`` as ``settings.processes`` children; print their combined summary."""
    commands = child_commands(settings, flags, settings.seed)
    terminal = sys.stderr.isatty()
    env = {"PRODUCER_PROCESSES": "1"}
    if terminal and settings.common.log_format in ("auto", "console"):
        env["LOG_FORMAT"] = "console"  # their stderr is a pipe to this process: console lines all the same

    async def main() -> int:
        bar = console.ProduceProgress(settings.count, Console(file=sys.stderr), trio.current_time) if terminal else None
        async with open_services(settings.common, name="smstrio produce supervisor") as (broker, store):
            await broker.declare(settings.common.queue)
            with bar if bar is not None else contextlib.nullcontext():
                progress = functools.partial(_show_progress, store, bar.update) if bar is not None else None
                done = await run_children(commands, env, forward=terminal, progress=progress)
        if done is None:
            raise PublishError("stopped hard; the messages confirmed so far are counted in produced")
        failed = [(i, c) for i, c in enumerate(done) if c is None or c[0] != 0]
        for index, completed in failed:
            exit_ = describe_exit(completed[0]) if completed is not None else "killed"
            event(log, "producer process failed", level=logging.ERROR, child=index, exit=exit_)
        if failed:
            message = (
                f"{len(failed)} of {len(commands)} producer processes failed (their errors are logged above); "
                "the messages confirmed so far are counted in produced"
            )
            if any(c is not None and c[0] == EXIT_UNAVAILABLE for _, c in failed):
                raise ServiceError(message)
            raise PublishError(message)
        summaries = [json.loads(c[1].decode().strip().splitlines()[-1]) for c in done if c is not None]
        print(json.dumps(combine(settings.common.queue, summaries)), flush=True)
        return EXIT_OK

    run_command("producer", settings.common, main)


async def run_children(
    commands: list[list[str]],
    env: dict[str, str],
    *,
    forward: bool,
    progress: Callable[[list[trio.Process]], Awaitable[None]] | None = None,
) -> list[tuple[int, bytes] | None] | None:
    """Run every command as a child to its end: each one's exit code and what it printed, in order.

    The first SIGINT/SIGTERM sends each child SIGTERM; the second kills them and returns ``None``.
    ``progress``, if given, runs beside them with the list of children.
    """
    done: list[tuple[int, bytes] | None] = [None] * len(commands)
    with trio.CancelScope() as hard:
        async with trio.open_nursery() as signals:
            async with trio.open_nursery() as nursery:  # ends once every child's output is kept
                children: list[trio.Process] = []
                for index, command in enumerate(commands):
                    children.append(await nursery.start(_child, command, env, index, done, forward))
                await signals.start(stop_on_signals, functools.partial(_terminate, children), hard)
                if progress is not None:
                    nursery.start_soon(progress, children)
            signals.cancel_scope.cancel()
    return None if hard.cancelled_caught else done


async def _child(
    command: list[str],
    env: dict[str, str],
    index: int,
    done: list[tuple[int, bytes] | None],
    forward: bool,
    *,
    task_status: trio.TaskStatus[trio.Process] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run one child to its end (killed if cancelled); keep its exit code and what it printed in ``done[index]``.

    With ``forward``, what it writes to stderr goes through this process's ``sys.stderr``, a line at a time.
    """
    process = await trio.lowlevel.open_process(
        command,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if forward else None,
        process_group=0,
    )
    task_status.started(process)
    try:
        assert process.stdout is not None
        async with trio.open_nursery() as nursery:
            if process.stderr is not None:
                nursery.start_soon(_forward_lines, process.stderr)
            printed = b"".join([chunk async for chunk in process.stdout])
            code = await process.wait()
    finally:
        if process.returncode is None:  # cancelled: the hard stop
            with trio.CancelScope(shield=True):
                process.kill()
                await process.wait()
    done[index] = (code, printed)


async def _forward_lines(stream: trio.abc.ReceiveStream) -> None:
    """Write each whole line ``stream`` brings to ``sys.stderr`` (looked up each time: the bar redirects it)."""
    pending = b""
    async for chunk in stream:
        lines, _, pending = (pending + chunk).rpartition(b"\n")
        if lines:
            sys.stderr.write((lines + b"\n").decode(errors="replace"))
            sys.stderr.flush()
    if pending:
        sys.stderr.write(pending.decode(errors="replace") + "\n")


def _terminate(children: list[trio.Process]) -> None:
    for child in children:
        child.terminate()


async def _until_exited(children: list[trio.Process]) -> None:
    for child in children:
        await child.wait()


async def _show_progress(store: StatsStore, update: Callable[[int], None], children: list[trio.Process]) -> None:
    """Until every child has exited, show how many more messages ``produced`` counts than at the start."""
    before = (await store.view()).totals.produced
    while any(c.returncode is None for c in children):
        with trio.move_on_after(PROGRESS_EVERY_S):
            await _until_exited(children)
        try:
            update((await store.view()).totals.produced - before)
        except StoreError as exc:
            event(log, "progress unavailable", level=logging.DEBUG, error=str(exc))
