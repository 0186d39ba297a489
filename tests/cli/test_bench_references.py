"""CLI tier: the references of ``smstrio bench`` as processes, without a server: exit codes and imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from smstrio.testing import AMQP_URL, free_port

TIMEOUT_S = 60
REFERENCES = {"older": "older", "plain_asyncio": "plain-asyncio"}


def _run(module: str, *args: str, amqp_url: str = AMQP_URL) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", f"smstrio.bench.{module}", args[0], "--amqp-url", amqp_url, *args[1:]]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


@pytest.mark.parametrize("module", REFERENCES)
def test_unreachable_broker_is_one_stderr_line_and_exit_3(module: str) -> None:
    """A broker that refuses connections gives exit 3, no JSON, and one stderr line with the password hidden."""
    url = f"amqp://guest:topsecret@127.0.0.1:{free_port()}/"
    result = _run(module, "publish", "--queue", "unused", "--messages", "1", amqp_url=url)
    assert result.returncode == 3
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("RabbitMQ at amqp://guest:***@127.0.0.1:")
    assert "topsecret" not in result.stderr


def test_older_without_pika_exits_4() -> None:
    """Without pika the older reference exits 4 with the one line "pika is not installed"."""
    code = "import sys; sys.modules['pika'] = None; from smstrio.bench.older import main; sys.exit(main())"
    argv = [sys.executable, "-c", code, "publish", "--queue", "unused", "--messages", "1"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (4, "", "pika is not installed\n")


def test_plain_asyncio_reference_never_imports_trio() -> None:
    """Importing the plain-asyncio reference loads neither trio nor trio_asyncio (which patches asyncio)."""
    code = "import json, sys, smstrio.bench.plain_asyncio; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_S, check=True)
    assert {"trio", "trio_asyncio"}.isdisjoint(m.split(".")[0] for m in json.loads(result.stdout))
