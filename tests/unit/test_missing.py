"""Unit tests for the monitor's ``missing``: smstrio audit's number, from the snapshot's own counts."""

from __future__ import annotations

import pytest

from smstrio.core.stats import missing


@pytest.mark.parametrize(
    ("produced", "processed", "depth", "expected"),
    [
        (1000, 1000, 0, 0),
        (1000, 750, 0, 250),
        (1000, 750, 10, None),  # messages wait: those not counted are not necessarily lost
        (1000, 750, None, None),  # the broker did not answer
        (1000, 1001, 0, 0),  # counted between the two reads: never negative
    ],
)
def test_missing_is_known_once_the_queue_is_drained(
    produced: int, processed: int, depth: int | None, expected: int | None
) -> None:
    """missing is produced - processed once nothing waits in the queue, else unknown (None)."""
    assert missing(produced, processed, depth) == expected
