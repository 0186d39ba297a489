"""Unit tier: the audit's arithmetic and its report (smstrio.core.audit)."""

from __future__ import annotations

from typing import Any

from smstrio.core.audit import Audit, RunLedger

RUN = "0123456789ab"


def _audit(**changes: Any) -> Audit:
    fields: dict[str, Any] = {
        "queue": "alerts",
        "runs": [
            RunLedger(run=RUN, confirmed=100, counted=90, first_missing=(4, 7)),
            RunLedger(run="f" * 12, confirmed=50, counted=50),
        ],
        "duplicates": 3,
        "waiting": 0,
        "consumers": 0,
        "dead_letters": 2,
        "dead_letters_counted": 1000,
    }
    fields.update(changes)
    return Audit(**fields)


def test_missing_is_confirmed_minus_counted_minus_waiting() -> None:
    """missing = confirmed - counted - waiting, never below 0; lost only once nothing waits."""
    assert [(a.missing, a.drained, a.lost) for a in (_audit(), _audit(waiting=4), _audit(waiting=30))] == [
        (10, True, True),
        (6, False, False),
        (0, False, False),
    ]
    assert (_audit(runs=[RunLedger(run=RUN, confirmed=5, counted=5)]).lost, _audit(runs=[]).missing) == (False, 0)


def test_json_names_the_first_missing_ids() -> None:
    """to_json() gives the totals, whether the dead letters were counted to the cap, and each run's missing ids."""
    data = _audit(dead_letters=1000).to_json()
    assert data["runs"][0] == {
        "run": RUN,
        "confirmed": 100,
        "counted": 90,
        "missing": 10,
        "first_missing": [f"{RUN}-4", f"{RUN}-7"],
    }
    assert {k: data[k] for k in ("confirmed", "counted", "missing", "drained", "dead_letters_more")} == {
        "confirmed": 150,
        "counted": 140,
        "missing": 10,
        "drained": True,
        "dead_letters_more": True,
    }


def test_lines_say_what_the_numbers_mean() -> None:
    """The text report: a queue line, a line per run with its ids, then a verdict that depends on the queue."""
    assert _audit(consumers=2).lines() == [
        "queue alerts: confirmed 150, counted 140, duplicates 3, waiting 0, consumers 2, dead letters 2",
        f"run {RUN}: confirmed 100, counted 90, not counted 10: {RUN}-4 {RUN}-7 ...",
        "run ffffffffffff: confirmed 50, counted 50, not counted 0",
        "missing 10: the queue is drained and these messages were never counted; 2 consumers are attached, "
        "and deliveries in their hands count as missing until recorded",
    ]
    assert _audit(waiting=4).lines()[-1] == (
        "missing 6 (confirmed - counted - waiting): 4 messages still wait, so the ids not counted are not "
        "necessarily lost; audit again once the queue is drained"
    )
    assert _audit(runs=[]).lines()[-1] == "missing 0: every confirmed message is counted"
