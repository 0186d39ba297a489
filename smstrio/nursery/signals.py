"""Shutdown on SIGINT/SIGTERM: the first signal asks for a graceful stop, the second stops hard."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

import trio

from smstrio.core.logs import event

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def stop_on_signals(
    graceful: Callable[[], None],
    hard: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Call ``graceful()`` on the first signal and cancel ``hard`` on the second."""
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        task_status.started()
        count = 0
        async for signum in signals:
            count += 1
            name = signal.Signals(signum).name
            if count == 1:
                event(log, "stopping gracefully", signal=name)
                graceful()
            else:
                event(log, "stopping now", level=logging.WARNING, signal=name)
                hard.cancel()
                return
