"""Run the monitor and N senders as local processes, no containers: ``up N [SEND ARGS...]`` and ``down``.

``up`` starts ``smstrio monitor`` and N ``smstrio send`` processes in their own sessions, each
logging to ``DIR/<role>.log``, records them in ``DIR/pids`` (one JSON object per line: role,
pid, and the kernel's start time of that pid, so a reused pid is never mistaken for ours),
waits until the monitor's ``/healthz`` answers 200, and exits. ``down`` sends SIGTERM to
exactly the recorded processes (senders first, then the monitor), waits for each to exit,
SIGKILLs those still running after ``--timeout`` seconds (then exits 1), and removes the file.

DIR is ``logs/``, or ``$SMSTRIO_LOCAL_DIR``. Settings come from the environment and ``.env``
as for any smstrio command; ``MONITOR_PORT`` (default 8080) is also where ``up`` looks for
``/healthz``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

READY_TIMEOUT_S = 30.0
POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class Proc:
    """One started process, as recorded in the pids file."""

    role: str
    pid: int
    started: str | None
    """Field 22 of ``/proc/PID/stat`` (start time in clock ticks); ``None`` where there is no /proc."""

    def alive(self) -> bool:
        """Whether this very process still runs (not a zombie, not another process with its pid)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        stat = _stat(self.pid)
        if stat is None:
            return self.started is None
        state, started = stat
        return state != "Z" and (self.started is None or started == self.started)


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of ``pid`` from ``/proc``, or ``None`` if unavailable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # the command name in parentheses may hold spaces
    return fields[0], fields[19]


def run_dir() -> Path:
    return Path(os.environ.get("SMSTRIO_LOCAL_DIR", "").strip() or "logs")


def read_pids(path: Path) -> list[Proc]:
    if not path.exists():
        return []
    return [Proc(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def start(role: str, args: list[str], directory: Path) -> Proc:
    """Start ``smstrio ARGS`` in its own session with stdout and stderr in ``DIR/<role>.log``."""
    with (directory / f"{role}.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "smstrio", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    stat = _stat(process.pid)
    return Proc(role=role, pid=process.pid, started=stat[1] if stat else None)


def healthy(port: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def up(count: int, send_args: list[str]) -> int:
    directory = run_dir()
    pids = directory / "pids"
    running = [p for p in read_pids(pids) if p.alive()]
    if running:
        print(f"already running ({len(running)} processes in {pids}); run `just local-down` first", file=sys.stderr)
        return 1
    directory.mkdir(parents=True, exist_ok=True)
    procs = [start("monitor", ["monitor"], directory)]
    procs += [start(f"sender-{i}", ["send", *send_args], directory) for i in range(1, count + 1)]
    pids.write_text("".join(json.dumps(asdict(p)) + "\n" for p in procs))
    port = os.environ.get("MONITOR_PORT", "").strip() or "8080"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        dead = [p for p in procs if not p.alive()]
        if dead:
            print(f"{', '.join(p.role for p in dead)} exited at start: see {directory}/*.log", file=sys.stderr)
            stop(procs, timeout=10)
            pids.unlink()
            return 1
        if healthy(port):
            print(f"monitor on http://127.0.0.1:{port} and {count} senders running; logs and pids in {directory}/")
            return 0
        time.sleep(POLL_S)
    print(f"the monitor's /healthz on port {port} did not answer 200 within {READY_TIMEOUT_S:g} s", file=sys.stderr)
    stop(procs, timeout=10)
    pids.unlink()
    return 1


def signal_all(procs: list[Proc], signum: signal.Signals) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError):  # it exited since we looked
            os.kill(p.pid, signum)


def stop(procs: list[Proc], *, timeout: float) -> tuple[int, int]:
    """SIGTERM the live senders, wait, then the monitor; SIGKILL what outlives ``timeout``.

    Returns how many were running and how many needed SIGKILL.
    """
    running = killed = 0
    for group in ([p for p in procs if p.role != "monitor"], [p for p in procs if p.role == "monitor"]):
        live = [p for p in group if p.alive()]
        running += len(live)
        signal_all(live, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while live and time.monotonic() < deadline:
            time.sleep(POLL_S)
            live = [p for p in live if p.alive()]
        for p in live:
            print(f"{p.role} (pid {p.pid}) still running after {timeout:g} s: SIGKILL", file=sys.stderr)
        signal_all(live, signal.SIGKILL)
        killed += len(live)
    return running, killed


def down(timeout: float) -> int:
    pids = run_dir() / "pids"
    procs = read_pids(pids)
    if not procs:
        print(f"nothing to stop: no {pids}")
        return 0
    running, killed = stop(procs, timeout=timeout)
    pids.unlink()
    print(f"stopped {running} of the {len(procs)} recorded processes" + (f", {killed} by SIGKILL" if killed else ""))
    return 1 if killed else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start_cmd = commands.add_parser("up", help="start the monitor and N senders")
    start_cmd.add_argument("count", type=int, help="how many sender processes")
    start_cmd.add_argument("send_args", nargs=argparse.REMAINDER, help="extra flags for each `smstrio send`")
    stop_cmd = commands.add_parser("down", help="SIGTERM the recorded processes and wait for them")
    stop_cmd.add_argument("--timeout", type=float, default=60.0, help="seconds to wait before SIGKILL [60]")
    args = parser.parse_args(argv)
    if args.command == "up":
        if args.count < 0:
            parser.error("count must be >= 0")
        return up(args.count, args.send_args)
    return down(args.timeout)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
