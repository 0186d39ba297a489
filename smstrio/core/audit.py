"""The ledger of a queue: per producer run, what was confirmed, what was counted, what is missing.

A message the broker confirmed sets its bit in its run's ``produced`` bitmap; an outcome
counted sets its bit in the run's ``done`` bitmap (and in ``produced``: the broker had it).
A message confirmed and not counted is waiting in the queue or its retry queue, in a
sender's hands, or lost. So ``missing = confirmed - counted - waiting``, and once nothing
waits, the messages of a run that are confirmed and not counted are the lost ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from smstrio.core.message import format_message_id


@dataclass(frozen=True, slots=True, kw_only=True)
class RunLedger:
    """One producer run as the stats store counted it."""

    run: str
    confirmed: int
    """Messages counted as produced: the broker confirmed them to the producer, or delivered them."""
    counted: int
    """Messages whose outcome (sent, failed or invalid) is counted."""
    first_missing: tuple[int, ...] = ()
    """The first seqs confirmed and not counted, ascending, as many as were asked for."""

    @property
    def missing(self) -> int:
        return self.confirmed - self.counted

    def missing_ids(self) -> list[str]:
        """:attr:`first_missing` as message ids (``RUN-SEQ``)."""
        return [format_message_id(self.run, seq) for seq in self.first_missing]
