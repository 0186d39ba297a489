"""Unit tests for the console output of ``smstrio monitor`` and ``produce``: the live table and the progress bar."""

from __future__ import annotations

import re
from typing import Any

import pytest

from smstrio.web.console import LiveTable, ProgressBar, bar, duration, eta_s, progress_line, redraw, render
from tests.conftest import ANSI, stats_document


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, 10.998),
        ({"produced": 0, "processed": 0, "progress": None}, None),
        ({"throughput_per_s": 0.0}, None),
        ({"processed": 10_000}, 0.0),
    ],
)
def test_eta_is_what_remains_at_the_current_rate(changes: dict[str, Any], expected: float | None) -> None:
    """ETA = (produced - processed) / 5-second rate; 0 when done; unknown with nothing produced or no rate."""
    assert eta_s(stats_document(**changes)) == expected


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, "-"), (0.04, "0.0s"), (59.94, "59.9s"), (185.4, "3m05s"), (7620, "2h07m")]
)
def test_duration_reads_at_a_glance(seconds: float | None, text: str) -> None:
    """Durations print as seconds, minutes and seconds, or hours and minutes."""
    assert duration(seconds) == text


@pytest.mark.parametrize(("progress", "text"), [(None, "[....]"), (0.0, "[....]"), (0.5, "[##..]"), (1.7, "[####]")])
def test_bar_fills_in_proportion(progress: float | None, text: str) -> None:
    """The progress bar fills in proportion, clamped to 0..1, empty while unknown."""
    assert bar(progress, width=4) == text


def test_render_shows_every_number() -> None:
    """The table shows the counts, rates, progress with ETA, both percentile rows and the sender row."""
    lines = render(stats_document())

    text = "\n".join(lines)
    assert lines[0] == "smstrio monitor  queue alerts"
    assert "[##############................] 45.0%  4,501/10,000  ETA 11.0s" in text
    assert "sent 4,000  failed 500  invalid 1  retried 3  duplicates 2" in text
    assert "depth 5,499  consumers 1  senders 1" in text
    assert "1s 480.0  5s 500.0  60s 300.5  mean send 50.0ms" in text
    assert re.search(r"^service\s+40\.0ms\s+90\.0ms\s+120\.0ms\s+200\.0ms\s+1\.500s$", text, re.M)
    assert re.search(r"^latency\s+-\s+-\s+-\s+-\s+-$", text, re.M)
    assert re.search(r"^host-7-abcd\s+20\s+50\.0ms\s+10\s+4,000\s+500\s+1\s+3\s+0\.5s ago$", text, re.M)


def test_render_without_senders_or_depth() -> None:
    """With no live sender the sender table is left out, and an unknown queue depth shows as -."""
    lines = render(stats_document(senders=[], queue_depth=None, consumers=None))

    assert "depth -  consumers -  senders 0" in "\n".join(lines)
    assert not any(line.startswith("sender") for line in lines)


def test_redraw_moves_back_over_the_previous_table() -> None:
    """A redraw goes up as many lines as were drawn before, clears each line and what is left below."""
    assert redraw(["a", "b"], 0) == "a\x1b[K\nb\x1b[K\n\x1b[J"
    assert redraw(["a"], 3) == "\x1b[3Fa\x1b[K\n\x1b[J"


def test_live_table_draws_each_frame_over_the_last() -> None:
    """Each frame of the live table starts by moving up over exactly the lines of the frame before."""
    table = LiveTable()

    first = table.frame(stats_document())
    second = table.frame(stats_document(senders=[]))
    third = table.frame(stats_document())

    assert not first.startswith("\x1b[")
    assert second.startswith(f"\x1b[{len(render(stats_document()))}F")
    assert third.startswith(f"\x1b[{len(render(stats_document(senders=[])))}F")


def test_progress_line_shows_count_share_rate_and_eta() -> None:
    """The produce progress line shows the confirmed count of the total, the share, the rate and the time left."""
    line = progress_line(4000, 10000, 0.5)
    assert line.startswith("produce [" + "#" * 12 + "." * 18 + "]")
    assert "4,000/10,000  40%" in line
    assert "8,000 msg/s" in line
    assert line.endswith("ETA 0.8s")


def test_progress_bar_redraws_in_place_at_most_every_tenth_of_a_second_and_always_at_the_end() -> None:
    """Updates closer than the throttle are skipped, the last one never is, and finish ends the line."""
    now = [0.0]
    written: list[str] = []
    progress = ProgressBar(100, written.append, lambda: now[0])
    for at, done in ((0.05, 10), (0.06, 20), (0.2, 30), (0.21, 100)):
        now[0] = at
        progress.update(done)
    progress.finish()
    assert [ANSI.sub("", w).split("]")[1].split()[0] for w in written[:-1]] == ["10/100", "30/100", "100/100"]
    assert all(w.startswith("\r") and w.endswith("\x1b[K") for w in written[:-1])
    assert written[-1] == "\n"
