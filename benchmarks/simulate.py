"""Wall time of ``smstrio simulate --virtual-time`` as a user runs it, by each engine (no servers needed).

Each run is the command in a process of its own, start-up included: one sender of 1,000 workers at
a constant 2 s, failure rate 0.1, seed 1, ``--engine auto`` (which takes the event kernel here) or
``--engine tasks`` (the full simulation). The simulated duration must be within 1% of
messages / workers x 2 s, ``auto`` must have run the kernel, and both engines must give the same summary;
the wall time is compared with its target.

    case   messages    workers  simulated   target wall
    100k   100,000     1,000    200 s       < 15 s
    1m     1,000,000   1,000    2,000 s     < 20 s (issue 12)

Each run also reports the CPU time and peak RSS of its process, which other work on the machine inflates
less than the wall time.

Usage: uv run python benchmarks/simulate.py [--cases 100k,1m] [--engines auto,tasks] [--json]
Exit 1 if a simulated duration is off by more than 1%, auto did not take the kernel, or the engines'
summaries differ (wall targets are reported, not enforced: they depend on the machine and its load).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

WORKERS = 1000
MEAN_S = 2.0
CASES = {"100k": (100_000, 15.0), "1m": (1_000_000, 20.0)}
"""Case name: (messages, target wall seconds)."""
ENGINES = ("auto", "tasks")
EXPECTED_ENGINE = {"auto": "kernel", "tasks": "tasks", "kernel": "kernel"}
"""What each ``--engine`` must have run for this scenario."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    case: str
    engine: str
    """The ``--engine`` asked for."""
    ran: str
    """The engine the summary says ran."""
    messages: int
    workers: int
    expected_s: float
    simulated_s: float
    error_pct: float
    wall_s: float
    cpu_s: float
    """CPU time of the command's process: what the run costs when other work shares the cores."""
    target_wall_s: float
    messages_per_wall_s: float
    peak_rss_mb: float
    duration_ok: bool
    engine_ok: bool
    wall_ok: bool


def command(messages: int, engine: str) -> list[str]:
    return [
        sys.executable, "-m", "smstrio", "simulate", "--virtual-time", "--json", "--engine", engine,
        "--messages", str(messages), "--workers", str(WORKERS), "--mean", str(MEAN_S),
        "--distribution", "constant", "--failure-rate", "0.1", "--seed", "1", "--log-level", "WARNING",
    ]  # fmt: skip


def run_case(case: str, engine: str) -> tuple[Result, dict[str, Any]]:
    """One run of ``case`` by ``engine``, and its JSON summary."""
    messages, target = CASES[case]
    started = time.perf_counter()
    process = subprocess.Popen(command(messages, engine), stdout=subprocess.PIPE)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)  # reaped here, for its own CPU time and peak RSS
    wall = time.perf_counter() - started
    process.returncode = code = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    if code:
        raise SystemExit(f"{case} {engine}: smstrio simulate exited {code}")
    summary = json.loads(out)
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
    expected = messages / WORKERS * MEAN_S
    error = abs(summary["duration_s"] - expected) / expected
    result = Result(
        case=case,
        engine=engine,
        ran=summary["engine"],
        messages=messages,
        workers=WORKERS,
        expected_s=expected,
        simulated_s=summary["duration_s"],
        error_pct=round(100 * error, 4),
        wall_s=round(wall, 2),
        cpu_s=round(cpu, 2),
        target_wall_s=target,
        messages_per_wall_s=round(messages / wall),
        peak_rss_mb=round(rss),
        duration_ok=error <= 0.01 and summary["complete"] and summary["sent"] + summary["failed"] == messages,
        engine_ok=summary["engine"] == EXPECTED_ENGINE[engine],
        wall_ok=wall < target,
    )
    return result, summary


def table(results: list[Result]) -> str:
    header = (
        "case",
        "engine",
        "ran",
        "messages",
        "workers",
        "simulated",
        "error",
        "wall",
        "CPU",
        "target",
        "msg/s",
        "RSS",
    )
    rows = [
        (
            r.case,
            r.engine,
            r.ran + ("" if r.engine_ok else " WRONG"),
            f"{r.messages:,}",
            f"{r.workers:,}",
            f"{r.simulated_s:g} s",
            f"{r.error_pct:g}%{'' if r.duration_ok else ' FAIL'}",
            f"{r.wall_s:.1f} s",
            f"{r.cpu_s:.1f} s",
            f"< {r.target_wall_s:g} s{'' if r.wall_ok else ' MISSED'}",
            f"{r.messages_per_wall_s:,}",
            f"{r.peak_rss_mb:g} MB",
        )
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [header, *rows]
    )


def _names(given: str, known: Any, parser: argparse.ArgumentParser, what: str) -> list[str]:
    names = [c.strip() for c in given.split(",") if c.strip()]
    unknown = [c for c in names if c not in known]
    if unknown:
        parser.error(f"unknown {what} {', '.join(unknown)}: expected {', '.join(known)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--cases", default="100k,1m", help="comma-separated cases to run: 100k, 1m")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated: auto, tasks, kernel")
    args = parser.parse_args()
    cases = _names(args.cases, CASES, parser, "case(s)")
    engines = _names(args.engines, EXPECTED_ENGINE, parser, "engine(s)")
    results, agree = [], True
    for case in cases:
        summaries = []
        for engine in engines:
            result, summary = run_case(case, engine)
            results.append(result)
            summaries.append({k: v for k, v in summary.items() if k != "engine"})
            if not args.json:
                print(f"{case} {engine}: done in {result.wall_s} s", file=sys.stderr, flush=True)
        same = all(s == summaries[0] for s in summaries)
        agree &= same
        if not args.json and len(summaries) > 1:
            print(f"{case}: the engines' summaries are {'the same' if same else 'DIFFERENT'}", file=sys.stderr)
    data: dict[str, Any] = {"python": sys.version.split()[0], "results": [asdict(r) for r in results], "agree": agree}
    print(json.dumps(data) if args.json else table(results))
    sys.exit(0 if agree and all(r.duration_ok and r.engine_ok for r in results) else 1)


if __name__ == "__main__":
    main()
