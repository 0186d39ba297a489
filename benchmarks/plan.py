"""Wall time of ``smstrio plan`` (no servers needed), each case a fresh process as a user runs it.

    case           command                                                        target wall
    1m-no-verify   plan --messages 1000000 --target-duration 600 --mean 2          < 30 s
                        --failure-rate 0.05 --seed 7 --no-verify
    100k-verified  plan --messages 100000 --target-duration 600 --mean 2          (reported)
                        --failure-rate 0.05 --seed 7
    arrivals       plan --arrival-rate 500 --duration 600 --mean 2                < 10 s
                        --max-p99-latency 10 --seed 7 --no-verify

Each row gives the answer, the runs made (kernel and full simulations) and where the wall
time went, from the log lines' timestamps: start-up until the ``planning`` line, then each
``plan trial`` line ends a kernel run or a full simulation. (Before the kernel, the 100,000-message question took
5 min 12 s: a binary search over about 14 full simulations.)

Usage: uv run python benchmarks/plan.py [--cases 1m-no-verify,100k-verified,arrivals] [--json]
Exit 1 if a case gives no answer (wall targets are reported, not enforced: they depend on the
machine and its load).
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

QUESTION = ("--target-duration", "600", "--mean", "2", "--failure-rate", "0.05", "--seed", "7")
ARRIVALS = ("--arrival-rate", "500", "--duration", "600", "--mean", "2", "--max-p99-latency", "10", "--seed", "7")
CASES = {
    "1m-no-verify": (("--messages", "1000000", *QUESTION, "--no-verify"), 30.0),
    "100k-verified": (("--messages", "100000", *QUESTION), None),
    "arrivals": ((*ARRIVALS, "--no-verify"), 10.0),
}
"""Case name: (arguments of ``smstrio plan``, target wall seconds or None)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    case: str
    command: str
    workers: int | None
    estimate: int
    verified: bool
    kernel_runs: int
    simulations: int
    wall_s: float
    startup_s: float
    """From the process start to the planner's ``planning`` log line: imports and setup."""
    kernel_s: float
    simulations_s: float
    target_wall_s: float | None
    wall_ok: bool | None


def run_case(case: str) -> Result:
    args, target = CASES[case]
    argv = [sys.executable, "-m", "smstrio", "plan", *args, "--json"]
    started = time.time()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.time() - started
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise SystemExit(f"{case}: smstrio plan exited {done.returncode}:\n{done.stderr[-2000:]}")
    plan = json.loads(done.stdout)
    events = [e for e in map(_json_or_none, done.stderr.splitlines()) if e]
    (planning,) = (e["ts"] for e in events if e.get("event") == "planning")
    trials = [e for e in events if e.get("event") == "plan trial"]
    stamps = [planning] + [e["ts"] for e in trials]
    spans = [(e["by"], after - before) for e, (before, after) in zip(trials, itertools.pairwise(stamps), strict=True)]
    return Result(
        case=case,
        command="smstrio plan " + " ".join(args),
        workers=plan["workers"],
        estimate=plan["estimate"],
        verified=plan["verified"],
        kernel_runs=sum(1 for by, _ in spans if by == "kernel"),
        simulations=sum(1 for by, _ in spans if by == "simulation"),
        wall_s=round(wall, 2),
        startup_s=round(planning - started, 2),
        kernel_s=round(sum(s for by, s in spans if by == "kernel"), 2),
        simulations_s=round(sum(s for by, s in spans if by == "simulation"), 2),
        target_wall_s=target,
        wall_ok=None if target is None else wall < target,
    )


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def table(results: list[Result]) -> str:
    header = ("case", "answer", "start", "runs (kernel+sim)", "wall", "target", "start-up", "kernel", "simulations")
    rows = [
        (
            r.case,
            "-" if r.workers is None else f"{r.workers:,}{'' if r.verified else ' (unverified)'}",
            f"{r.estimate:,}",
            f"{r.kernel_runs}+{r.simulations}",
            f"{r.wall_s:.1f} s",
            "-" if r.target_wall_s is None else f"< {r.target_wall_s:g} s{'' if r.wall_ok else ' MISSED'}",
            f"{r.startup_s:.1f} s",
            f"{r.kernel_s:.1f} s",
            f"{r.simulations_s:.1f} s",
        )
        for r in results
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [header, *rows]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated cases to run: {', '.join(CASES)}")
    args = parser.parse_args()
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}: expected {', '.join(CASES)}")
    results = []
    for case in cases:
        if not args.json:
            print(f"{case}: smstrio plan {' '.join(CASES[case][0])}", file=sys.stderr, flush=True)
        results.append(run_case(case))
        if not args.json:
            print(f"{case}: done in {results[-1].wall_s} s", file=sys.stderr, flush=True)
    data: dict[str, Any] = {"python": sys.version.split()[0], "results": [asdict(r) for r in results]}
    print(json.dumps(data) if args.json else table(results))
    sys.exit(0 if all(r.workers is not None for r in results) else 1)


if __name__ == "__main__":
    main()
