"""Unit tests for ``smstrio bench``'s arithmetic and its table."""

from __future__ import annotations

from smstrio.bench.report import Report, Result, table
from smstrio.bench.scenarios import Drained
from smstrio.core.stats import Totals


def _drained(**totals: int) -> Drained:
    return Drained(started=0.0, first=1.0, done=11.0, marks={0.1: 2.0, 0.9: 6.0}, totals=Totals(**totals), rss_mb=50.0)


def test_rates_count_from_the_first_outcome_or_between_marks() -> None:
    """The whole-run rate starts at the first outcome; a marked rate counts only the messages between the marks."""
    drained = _drained(sent=1000)
    assert drained.rate(1000) == 100.0  # 1,000 over 10 s
    assert drained.rate(1000, 0.1, 0.9) == 200.0  # 800 over 4 s


def test_exact_means_no_duplicate_and_nothing_invalid() -> None:
    """A run is exact only when no outcome was counted twice and no message was malformed."""
    assert _drained(sent=10).exact
    assert not _drained(sent=10, duplicates=1).exact
    assert not _drained(sent=10, invalid=1).exact


def test_the_table_shows_values_ratios_targets_and_misses() -> None:
    """Each result is a row with its unit, its ratio to the reference, its target and whether it was met."""
    report = Report(
        results=[
            Result(scenario="publish", value=12000.0, unit="msg/s", reference="older", ratio=2.0, target="t", met=True),
            Result(scenario="e2e", value=30.5, unit="s", target="< 25 s", met=False),
        ],
        machine={"cores": 2},
        seconds=12.0,
        run="abc",
    )
    text = table(report)
    for shown in ("| publish ", "12,000 msg/s", "2.00x older", "| yes", "30.5 s", "| NO "):
        assert shown in text
    assert not report.all_met
    assert report.to_json()["all_targets_met"] is False
