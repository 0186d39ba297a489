"""CLI tier: ``smstrio simulate`` and ``smstrio plan`` on a terminal: their summaries drawn by rich, their log lines
for a person (or JSON with --log-format json)."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from tests.screen import on_terminal, screen

CONSOLE_LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO |WARN |ERROR) \S")
"""A console log line: time, level, event."""
SIMULATE = ("--virtual-time", "--messages", "200", "--mean", "1", "--distribution", "constant", "--seed", "1")
SENDERS = (
    "--sender",
    "name=a,workers=20",
    "--sender",
    "name=b,workers=10",
    "--failure-rate",
    "0",
    "--max-duration",
    "10",
)


def _smstrio(cwd: Path, *argv: str, lines: int = 40) -> tuple[int, str]:
    """Run smstrio on a 120-column terminal: its exit code and what it wrote there."""
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES", "NO_COLOR", "LOG_FORMAT"}}
    return on_terminal([sys.executable, "-m", "smstrio", *argv], cwd=cwd, env=env, lines=lines)


def test_simulate_draws_its_summary_with_rich_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal simulate prints console log lines, then its summary in aligned columns, the senders a table."""
    code, output = _smstrio(tmp_path, "simulate", *SIMULATE, *SENDERS, "--interval", "100")
    rows = screen(output, columns=120, lines=40)

    start = rows.index("simulated 200 messages on 2 sender(s), 30 workers, seed 1, virtual time, full simulation")
    assert code == 0
    assert rows[start : start + 16] == [
        "simulated 200 messages on 2 sender(s), 30 workers, seed 1, virtual time, full simulation",
        "",
        "✓  max_duration_s  7 <= 10",
        "",
        "processed          200  of 200",
        "sent               200  100.00%",
        "failed               0  0.00%",
        "duration        7.000s  simulated",
        "throughput    28.571/s",
        "service time            p50 1.000s  p90 1.000s  p95 1.000s  p99 1.000s  max 1.000s",
        "latency                 p50 4.006s  p99 6.996s  max 7.000s  creation to outcome",
        "queue              170  at most, waiting for a worker",
        "",
        "sender   workers   distribution     mean   failure rate   sent   failed      p50      p99",
        "─" * 89,
        rows[start + 15],
    ]
    senders = [
        re.fullmatch(r"(\w) +(\d+) +constant +1\.000s +0 +(\d+) +0 +1\.000s +1\.000s", r) for r in rows[start + 15 :]
    ]
    named = [(m[1], m[2]) for m in senders if m]
    assert named == [("a", "20"), ("b", "10")]
    assert sum(int(m[3]) for m in senders if m) == 200
    logged = [row for row in rows[:start] if CONSOLE_LINE.match(row)]
    assert [row.split()[2] for row in logged][:2] == ["simulating", "consuming"]
    assert logged[-1].split()[2] == "simulated"


def test_simulate_logs_json_on_a_terminal_when_asked(tmp_path: Path) -> None:
    """simulate --log-format json writes JSON log lines on a terminal too; an unknown format is a usage error."""
    code, output = _smstrio(tmp_path, "simulate", *SIMULATE, "--log-format", "json", "--interval", "100")
    bad, error = _smstrio(tmp_path, "simulate", *SIMULATE, "--log-format", "pretty")

    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if "simulated 200 messages" in line)
    events = [json.loads(line)["event"] for line in lines[:start]]
    assert (code, events[0], events[-1]) == (0, "simulating", "simulated")
    assert (bad, error) == (2, "smstrio: error: invalid log format 'pretty': one of auto, console, json\r\n")


def test_plan_draws_its_summaries_with_rich_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal plan draws both deciding simulations' summaries with rich, each under its title, indented."""
    argv = ("--messages", "100", "--target-duration", "10", "--mean", "1", "--distribution", "constant", "--seed", "1")
    code, output = _smstrio(tmp_path, "plan", *argv, "--log-level", "WARNING", lines=80)
    rows = screen(output, columns=120, lines=80)

    passes = rows.index("full simulation at 10 workers (passes):")
    fails = rows.index("full simulation at 9 workers (fails):")
    assert code == 0
    assert rows[passes + 1 : passes + 4] == [
        "  simulated 100 messages on 1 sender(s), 10 workers, seed 1, virtual time, full simulation",
        "",
        "  ✓  max_duration_s  10 <= 10",
    ]
    assert (rows[fails + 3], rows[fails + 8]) == ("  ✗  max_duration_s  12 > 10", "  duration      12.000s  simulated")
    assert (
        rows[fails + 16]
        == "  sender-1         9   constant       1.000s            0.1     88       12   1.000s   1.000s"
    )


def test_plan_logs_its_trials_and_leaves_the_roles_lines_to_debug(cli: Any, tmp_path: Path) -> None:
    """plan logs a plan trial per run while its simulations' producer and senders log warnings only; at DEBUG
    their lines come too; the roles' own level is as it was afterwards."""
    argv = ("--messages", "100", "--target-duration", "10", "--mean", "1", "--distribution", "constant", "--seed", "1")
    for level in ("INFO", "DEBUG"):
        code, _, errors = cli("plan", *argv, "--log-level", level, "--log-file", f"{level}.log")
        assert (code, errors) == (0, [])
    for handler in logging.getLogger("smstrio").handlers:
        handler.close()  # the log file's
    info, debug = (
        [json.loads(line)["event"] for line in (tmp_path / f"{n}.log").read_text().splitlines()]
        for n in ("INFO", "DEBUG")
    )

    assert (info.count("plan trial"), info.count("simulated"), "consuming" in info, "stopped" in info) == (
        6,
        2,
        False,
        False,
    )
    assert ("consuming" in debug, "stopped" in debug) == (True, True)
    assert logging.getLogger("smstrio.roles").level == logging.NOTSET
