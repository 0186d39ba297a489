"""The ledger of a queue: per producer run, what was confirmed, what was counted, what is missing.

A message the broker confirmed sets its bit in its run's ``produced`` bitmap; an outcome
counted sets its bit in the run's ``done`` bitmap (and in ``produced``: the broker had it).
A message confirmed and not counted is waiting in the queue or its retry queue, in a
sender's hands, or lost. So ``missing = confirmed - counted - waiting``, and once nothing
waits, the messages of a run that are confirmed and not counted are the lost ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Audit:
    """A queue's ledger: its runs, its duplicates, and what the broker still holds."""

    queue: str
    runs: Sequence[RunLedger]
    duplicates: int
    """Outcomes recorded again for a message already counted (redeliveries), over all runs."""
    waiting: int
    """Messages ready in the queue or waiting in its retry queue."""
    consumers: int
    dead_letters: int
    """Messages in the dead-letter queue, counted up to ``dead_letters_counted``."""
    dead_letters_counted: int

    @property
    def confirmed(self) -> int:
        return sum(r.confirmed for r in self.runs)

    @property
    def counted(self) -> int:
        return sum(r.counted for r in self.runs)

    @property
    def missing(self) -> int:
        """``confirmed - counted - waiting``, or 0 while more is waiting than that."""
        return max(0, self.confirmed - self.counted - self.waiting)

    @property
    def drained(self) -> bool:
        """Nothing waits in the queue or its retry queue: a message still not counted is lost or in a sender's hands."""
        return self.waiting == 0

    @property
    def lost(self) -> bool:
        """Something is missing once the queue is drained (``smstrio audit`` exits 1)."""
        return self.drained and self.missing > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "confirmed": self.confirmed,
            "counted": self.counted,
            "duplicates": self.duplicates,
            "waiting": self.waiting,
            "consumers": self.consumers,
            "dead_letters": self.dead_letters,
            "dead_letters_more": self.dead_letters >= self.dead_letters_counted,
            "missing": self.missing,
            "drained": self.drained,
            "runs": [
                {
                    "run": r.run,
                    "confirmed": r.confirmed,
                    "counted": r.counted,
                    "missing": r.missing,
                    "first_missing": r.missing_ids(),
                }
                for r in self.runs
            ],
        }

    def lines(self) -> list[str]:
        """The report for people: the queue, a line per run, then what the numbers mean."""
        dead = f"{self.dead_letters}{'+' if self.dead_letters >= self.dead_letters_counted else ''}"
        out = [
            f"queue {self.queue}: confirmed {self.confirmed}, counted {self.counted}, "
            f"duplicates {self.duplicates}, waiting {self.waiting}, consumers {self.consumers}, dead letters {dead}"
        ]
        for r in self.runs:
            shown = f": {' '.join(r.missing_ids())}{' ...' if r.missing > len(r.first_missing) else ''}"
            out.append(
                f"run {r.run}: confirmed {r.confirmed}, counted {r.counted}, "
                f"not counted {r.missing}{shown if r.missing else ''}"
            )
        out.append(self._verdict())
        return out

    def _verdict(self) -> str:
        if not self.drained:
            return (
                f"missing {self.missing} (confirmed - counted - waiting): {self.waiting} messages still wait, "
                "so the ids not counted are not necessarily lost; audit again once the queue is drained"
            )
        if not self.missing:
            return "missing 0: every confirmed message is counted"
        held = (
            f"; {self.consumers} consumers are attached, and deliveries in their hands count as missing until recorded"
            if self.consumers
            else ""
        )
        return f"missing {self.missing}: the queue is drained and these messages were never counted{held}"
