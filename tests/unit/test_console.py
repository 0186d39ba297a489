"""Unit tests for what ``smstrio monitor`` and ``produce`` draw on a terminal: the live table and the progress bar."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console, RenderableType

from smstrio.web.console import LiveTable, ProduceProgress, duration, eta_s, render
from tests.conftest import stats_document
from tests.screen import screen


def _terminal(width: int = 120) -> Console:
    """A rich console that takes a StringIO for a colourless terminal ``width`` columns wide, 40 rows high."""
    return Console(file=io.StringIO(), force_terminal=True, color_system=None, width=width, height=40)


def _text(renderable: RenderableType, width: int = 120) -> str:
    """``renderable`` as plain text ``width`` columns wide, each line without trailing blanks."""
    console = Console(file=io.StringIO(), color_system=None, width=width)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())  # type: ignore[attr-defined]


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


def test_render_shows_every_number() -> None:
    """The table shows the counts, rates, progress with ETA, both percentile rows and the sender row."""
    text = _text(render(stats_document()))

    assert text.splitlines()[0] == "smstrio monitor  queue alerts"
    assert re.search(r"^progress  ━{18}╸? +45\.0%  4,501/10,000  ETA 11\.0s$", text, re.M)
    assert re.search(r"^counts    sent 4,000  failed 500  invalid 1  retried 3  duplicates 2$", text, re.M)
    assert re.search(r"^queue     depth 5,499  consumers 1  senders 1$", text, re.M)
    assert re.search(r"^rate/s    1s 480\.0  5s 500\.0  60s 300\.5  mean send 50\.0ms$", text, re.M)
    assert re.search(r"^ +p50 +p90 +p95 +p99 +max$", text, re.M)
    assert re.search(r"^service +40\.0ms +90\.0ms +120\.0ms +200\.0ms +1\.500s$", text, re.M)
    assert re.search(r"^latency +- +- +- +- +-$", text, re.M)
    assert re.search(r"^sender +workers +mean +fail% +sent +failed +invalid +retried +seen$", text, re.M)
    assert re.search(r"^host-7-abcd +20 +50\.0ms +10 +4,000 +500 +1 +3 +0\.5s ago$", text, re.M)


def test_render_without_senders_or_depth() -> None:
    """With no live sender the sender table is left out, and an unknown queue depth shows as -."""
    text = _text(render(stats_document(senders=[], queue_depth=None, consumers=None)))

    assert re.search(r"^queue     depth -  consumers -  senders 0$", text, re.M)
    assert not re.search(r"^sender", text, re.M)


def test_live_table_leaves_one_table_on_the_screen_after_many_frames() -> None:
    """Frames of different heights, with log lines written between them, leave one table on a terminal, the last."""
    console = _terminal()
    with LiveTable(console, redirect_stderr=False) as table:
        for i, senders in enumerate(([], stats_document()["senders"], [], stats_document()["senders"])):
            table.show(stats_document(senders=senders, queue_depth=i))
            console.print(f"log line {i}")  # what the redirected stderr prints: above the table
    rows = screen(console.file.getvalue())  # type: ignore[attr-defined]

    assert [r for r in rows if "smstrio monitor" in r] == ["smstrio monitor  queue alerts"]
    assert [r for r in rows if r.startswith("queue ")] == ["queue     depth 3  consumers 1  senders 1"]
    assert [r for r in rows if r.startswith("log line")] == ["log line 0", "log line 1", "log line 2", "log line 3"]
    assert rows.index("log line 3") < rows.index("smstrio monitor  queue alerts")


def test_live_table_draws_nothing_until_shown() -> None:
    """A live table never shown writes nothing to the terminal."""
    console = _terminal()
    with LiveTable(console, redirect_stderr=False):
        pass
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_progress_shows_count_share_rate_and_eta_redrawn_at_most_every_tenth_of_a_second() -> None:
    """The bar shows confirmed of total, the share, the mean rate and the time left; updates closer than 0.1 s
    are not drawn, the last one always is, and the finished bar stays on screen."""
    now = [0.0]
    console = _terminal(width=100)
    with ProduceProgress(10_000, console, lambda: now[0]) as progress:
        drawn = [console.file.getvalue()]  # type: ignore[attr-defined]
        for at, done in ((0.05, 1_000), (0.1, 2_000), (0.5, 4_000), (0.55, 5_000), (0.56, 10_000)):
            now[0] = at
            progress.update(done)
            drawn.append(console.file.getvalue())  # type: ignore[attr-defined]
    shown = [screen(text, columns=100)[0] for text in drawn]

    assert [" ".join(re.sub("[━╸]", " ", row).split()) for row in shown] == [
        "produce 0/10,000 0% 0 msg/s ETA -",
        "produce 1,000/10,000 10% 20,000 msg/s ETA 0.5s",
        "produce 1,000/10,000 10% 20,000 msg/s ETA 0.5s",
        "produce 4,000/10,000 40% 8,000 msg/s ETA 0.8s",
        "produce 4,000/10,000 40% 8,000 msg/s ETA 0.8s",
        "produce 10,000/10,000 100% 17,857 msg/s ETA 0.0s",
    ]
    assert screen(console.file.getvalue(), columns=100)[0].startswith("produce " + "━" * 40)  # type: ignore[attr-defined]


def test_produce_progress_rate_counts_from_entering() -> None:
    """The bar's rate and ETA count from entering it (publishing), not from making it (before connecting)."""
    now = [0.0]
    console = _terminal(width=100)
    bar = ProduceProgress(2_000, console, lambda: now[0])
    now[0] = 10.0
    with bar as progress:
        now[0] = 10.5
        progress.update(1_000)
        shown = screen(console.file.getvalue(), columns=100)[0]  # type: ignore[attr-defined]

    assert " ".join(re.sub("[━╸]", " ", shown).split()) == "produce 1,000/2,000 50% 2,000 msg/s ETA 0.5s"


def test_render_shows_the_rate_limit_against_the_rate_when_one_is_set() -> None:
    """Under a fleet limit the table has a limit/s row: the limit, the rate, its share and the time waited."""
    limits = {"fleet_per_s": 200.0, "senders_per_s": None, "limit_per_s": 200.0}
    limits |= {"rate_per_s": 199.6, "usage": 0.998, "wait_s": 75.25}
    text = _text(render(stats_document(limits=limits)))
    plain = _text(render(stats_document()))

    assert re.search(r"^limit/s   fleet 200\.0  rate 199\.6  use 99\.8%  waited 1m15s$", text, re.M)
    assert not re.search(r"^limit/s", plain, re.M)


def test_render_shows_missing_once_known() -> None:
    """Once the queue is drained the queue row shows the messages missing; while they are unknown, nothing."""
    drained = _text(render(stats_document(queue_depth=0, missing=1_499)))
    assert re.search(r"^queue     depth 0  consumers 1  senders 1  missing 1,499$", drained, re.M)
    assert "missing" not in _text(render(stats_document()))
