"""The container image's health check: one image runs every role, so ask the role what it is.

Reads the command line of the container's main process (``/proc/1/cmdline``, or of PID given
as the only argument) and checks what that role can answer for:

    monitor   GET http://127.0.0.1:$MONITOR_PORT/healthz answers 200 (Redis and RabbitMQ reachable)
    send      this host's sender is among the live senders of ``smstrio stats`` (its heartbeat,
              renewed every second and expiring after 5 s, is in Redis)
    others    healthy while they run (``produce`` and the one-shot commands exit when done)

Exit 0 healthy, 1 unhealthy (one line on stderr says why), as ``HEALTHCHECK`` expects.
Settings come from the environment (and ``.env``), as for the role itself: in containers,
set ``MONITOR_PORT`` rather than ``--port``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT_S = 8.0
COMMANDS = frozenset({"produce", "send", "monitor", "stats", "dead", "reset", "simulate", "plan"})


def role_of(cmdline: bytes) -> str | None:
    """The smstrio command in a NUL-separated command line, or ``None`` if there is none."""
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]
    for i, arg in enumerate(args):
        if Path(arg).name == "smstrio" or (arg == "-m" and args[i + 1 : i + 2] == ["smstrio"]):
            return next((a for a in args[i + 1 :] if a in COMMANDS), None)
    return None


def check_monitor() -> str | None:
    """``None`` if the monitor's ``/healthz`` answers 200, else why not."""
    port = os.environ.get("MONITOR_PORT", "").strip() or "8080"
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}: {exc.read(300).decode(errors='replace')}"
    except OSError as exc:
        return f"{url}: {exc}"


def check_sender(pid: int) -> str | None:
    """``None`` if ``smstrio stats`` lists a live sender of this host and ``pid``, else why not."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "smstrio", "stats", "--log-level", "ERROR"],
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"smstrio stats took over {TIMEOUT_S:g} s"
    if done.returncode != 0:
        return f"smstrio stats exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[-300:]}"
    host = socket.gethostname()
    senders = json.loads(done.stdout)["senders"]
    if any(s["host"] == host and s["pid"] == pid for s in senders):
        return None
    return f"no live sender with host {host} and pid {pid} in the statistics"


def main(argv: list[str]) -> int:
    pid = int(argv[1]) if len(argv) > 1 else 1
    role = role_of(Path(f"/proc/{pid}/cmdline").read_bytes())
    if role == "monitor":
        problem = check_monitor()
    elif role == "send":
        problem = check_sender(pid)
    else:
        problem = None
    if problem is not None:
        print(f"unhealthy {role}: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
