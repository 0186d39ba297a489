"""The justfile's container recipes, run for real in a copy of the compose files with ``COMPOSE``
pointing at a stub that records its arguments (no container engine runs here): the ``.env`` that
``just up`` writes, and the compose commands each recipe runs with and without ``.env``.
Where Docker Compose v2 is installed, ``docker compose config`` also reads the written ``.env``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JUST = Path(sys.executable).with_name("just")
COPIED = ("justfile", "compose.yaml", ".env.example", "scripts/dotenv.py")
PASSWORD = re.compile(r"[A-Za-z0-9_-]{32}")
"""What scripts/dotenv.py writes: 32 characters of ``secrets.token_urlsafe``, safe in a URL as they are."""
WROTE = (
    "wrote .env from .env.example with random passwords (mode 0600); "
    "keep it: RabbitMQ's data volume keeps its first password"
)
PLACEHOLDERS = ".env still holds change-me placeholders: set real passwords"
NO_ENV = ["--env-file", ".env.example"]
"""What the recipes that start no container add when there is no .env."""
TIMEOUT_S = 30
_STUB = """#!{python}
import json, os, sys
with open(os.environ["STUB_CALLS"], "a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
"""


@dataclass(frozen=True, slots=True)
class Checkout:
    """A directory with the compose files, a stub compose and a record of its calls."""

    path: Path
    env: dict[str, str]

    def just(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [JUST, *args], cwd=self.path, env=self.env, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )

    def calls(self) -> list[list[str]]:
        """Each compose command the stub saw, without the leading ``compose``."""
        record = Path(self.env["STUB_CALLS"])
        lines = record.read_text().splitlines() if record.exists() else []
        calls = [json.loads(line) for line in lines]
        assert all(call[0] == "compose" for call in calls)
        return [call[1:] for call in calls]

    def dotenv(self) -> dict[str, str]:
        """The ``KEY=VALUE`` lines of the written ``.env``."""
        lines = (self.path / ".env").read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture
def checkout(tmp_path: Path) -> Checkout:
    path = tmp_path / "repo"
    for name in COPIED:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, path / name)
    stub = tmp_path / "compose-stub"
    stub.write_text(_STUB.format(python=sys.executable))
    stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "COMPOSE"}
    env.update(
        COMPOSE=f"{stub} compose",  # as "docker compose": the stub is the command, "compose" its first argument
        STUB_CALLS=str(tmp_path / "calls"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # python3 for dotenv.py
    )
    return Checkout(path, env)


def test_up_without_env_writes_one_with_random_passwords_then_starts_the_stack(checkout: Checkout) -> None:
    """`just up` with no .env writes one (mode 0600, each change-me a new password), says so in one line, goes on."""
    done = checkout.just("up")
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if ".env" in line] == [WROTE]
    assert checkout.calls() == [["build"], ["up", "--detach", "--wait"]]
    written = checkout.path / ".env"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    example = (checkout.path / ".env.example").read_text().splitlines()
    lines = written.read_text().splitlines()
    assert [e for e, w in zip(example, lines, strict=True) if e != w] == [
        "RABBITMQ_PASSWORD=change-me",
        "REDIS_PASSWORD=change-me",
    ]
    env = checkout.dotenv()
    assert env["RABBITMQ_USER"] == "smstrio"
    passwords = [env["RABBITMQ_PASSWORD"], env["REDIS_PASSWORD"]]
    assert all(PASSWORD.fullmatch(p) for p in passwords), passwords
    assert passwords[0] != passwords[1]
    assert "# MONITOR_TOKEN=change-me" in lines  # commented lines stay as they are


def test_up_never_rewrites_an_existing_env(checkout: Checkout) -> None:
    """A second `just up` leaves .env byte for byte and mode as it was, and says nothing about it."""
    assert checkout.just("up").returncode == 0
    written = checkout.path / ".env"
    written.chmod(0o640)
    before = written.read_bytes()
    done = checkout.just("up")
    assert done.returncode == 0, done.stderr
    assert WROTE not in done.stderr
    assert written.read_bytes() == before
    assert stat.S_IMODE(written.stat().st_mode) == 0o640
    assert checkout.calls() == [["build"], ["up", "--detach", "--wait"]] * 2


@pytest.mark.parametrize("recipe", [["up"], ["scale", "3"], ["produce", "10"]])
def test_recipes_that_start_containers_stop_on_placeholders(checkout: Checkout, recipe: list[str]) -> None:
    """An .env still holding change-me stops `up`, `scale` and `produce` with one line before compose runs."""
    shutil.copy(checkout.path / ".env.example", checkout.path / ".env")
    done = checkout.just(*recipe)
    assert done.returncode != 0
    assert PLACEHOLDERS in done.stderr.splitlines()
    assert checkout.calls() == []
    assert (checkout.path / ".env").read_text() == (checkout.path / ".env.example").read_text()


def test_scale_and_produce_write_env_first_too(checkout: Checkout) -> None:
    """`just scale` and `just produce` start containers, so without .env they write it first, as `up` does."""
    assert checkout.just("scale", "3").returncode == 0
    assert PASSWORD.fullmatch(checkout.dotenv()["REDIS_PASSWORD"])
    assert checkout.just("produce", "10").returncode == 0
    assert checkout.calls() == [
        ["up", "--detach", "--wait", "--no-recreate", "--scale", "sender=3", "sender"],
        ["run", "--rm", "producer", "produce", "10"],
    ]


def test_recipes_that_start_nothing_work_without_env(checkout: Checkout) -> None:
    """`down`, `logs` and `stats` need no .env: compose reads .env.example's placeholders, and no .env is written."""
    for recipe in (["down"], ["down", "-v"], ["logs", "sender"], ["stats"]):
        done = checkout.just(*recipe)
        assert done.returncode == 0, (recipe, done.stderr)
    assert not (checkout.path / ".env").exists()
    assert checkout.calls() == [
        [*NO_ENV, "down"],
        [*NO_ENV, "down", "-v"],
        [*NO_ENV, "logs", "--follow", "sender"],
        [*NO_ENV, "exec", "monitor", "smstrio", "stats"],
    ]


def test_recipes_that_start_nothing_read_env_when_there_is_one(checkout: Checkout) -> None:
    """With .env present, `down`, `logs` and `stats` leave compose to read it (no --env-file)."""
    assert checkout.just("up").returncode == 0
    for recipe in (["down"], ["logs"], ["stats"]):
        assert checkout.just(*recipe).returncode == 0
    assert checkout.calls()[2:] == [["down"], ["logs", "--follow"], ["exec", "monitor", "smstrio", "stats"]]


def _docker_compose() -> None:
    """Skip unless Docker Compose v2 answers ``docker compose version``."""
    docker = shutil.which("docker")
    found = docker is not None and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    if not found:
        pytest.skip("needs Docker Compose v2 (`docker compose version` fails or docker is absent)")


def test_compose_reads_the_written_env(checkout: Checkout) -> None:
    """`docker compose config` resolves the written .env: Redis's config file and each URL carry its passwords."""
    _docker_compose()
    assert checkout.just("up").returncode == 0
    env = checkout.dotenv()
    done = subprocess.run(
        ["docker", "compose", "config", "--format", "json"],
        cwd=checkout.path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    config = json.loads(done.stdout)
    assert f"requirepass {env['REDIS_PASSWORD']}\n" in config["configs"]["redis-conf"]["content"]
    sender = config["services"]["sender"]["environment"]
    assert f":{env['RABBITMQ_PASSWORD']}@rabbitmq:5672/" in sender["AMQP_URL"]
    assert f":{env['REDIS_PASSWORD']}@redis:6379/0" in sender["REDIS_URL"]
    assert [name for name, service in config["services"].items() if "build" in service] == ["monitor"]
    (checkout.path / ".env").unlink()
    without = subprocess.run(
        ["docker", "compose", *NO_ENV, "config", "--quiet"], cwd=checkout.path, capture_output=True, timeout=TIMEOUT_S
    )
    assert without.returncode == 0, without.stderr
