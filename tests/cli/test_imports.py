"""CLI tier: the in-memory commands start without the service clients and the web stack."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import trio

HEAVY = ("aiormq", "redis", "trio_asyncio", "quart", "quart_trio", "hypercorn")
"""What ``simulate`` and ``plan`` must not import (unless asked to serve HTTP): each takes time to load."""

PROBE = f"""
import json, sys
from smstrio.cli import main
code = 0
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
imported = sorted({{name.partition(".")[0] for name in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"code": code, "imported": imported}}))
"""
"""Runs one command in this fresh process, then prints its exit code and the heavy packages it imported."""


async def _heavy_imports(tmp_path: Path, *argv: str) -> list[str]:
    """The heavy packages that ``smstrio ARGV`` imported, run in a fresh process; the command must succeed."""
    with trio.fail_after(60):
        quiet = ("--log-level", "WARNING")
        done = await trio.run_process([sys.executable, "-c", PROBE, *argv, *quiet], capture_stdout=True, cwd=tmp_path)
    result = json.loads(done.stdout.decode().splitlines()[-1])
    assert result["code"] == 0
    imported: list[str] = result["imported"]
    return imported


@pytest.mark.parametrize(
    "argv",
    [
        ("simulate", "--messages", "50", "--virtual-time", "--seed", "1"),
        ("plan", "--messages", "50", "--target-duration", "2", "--mean", "0.1", "--seed", "1"),
    ],
    ids=["simulate", "plan"],
)
async def test_in_memory_commands_import_no_service_client_nor_web_stack(tmp_path: Path, argv: tuple[str, ...]) -> None:
    """simulate and plan run without importing aiormq, redis, trio_asyncio, quart, quart_trio or hypercorn."""
    assert await _heavy_imports(tmp_path, *argv) == []


async def test_simulate_with_a_port_imports_the_web_stack_only(tmp_path: Path) -> None:
    """simulate --port 0 serves HTTP, so it imports hypercorn and quart, and still no service client."""
    argv = ("simulate", "--messages", "50", "--mean", "0.01", "--port", "0", "--seed", "1")
    assert await _heavy_imports(tmp_path, *argv) == ["hypercorn", "quart", "quart_trio"]
