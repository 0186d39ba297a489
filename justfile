# smstrio tasks; run `uv run just --list` to see them all.

# Lint, type-check and test: what CI runs.
check: lint types test

# Run the whole test suite (real-service tests skip without RabbitMQ/Redis, fail when CI is set).
test *args:
    uv run pytest {{args}}

# Every test that needs no server, whatever its tier: all but those marked `services`.
test-fast:
    uv run pytest -m "not services"

# Ruff lint and format check, and the import contracts of pyproject.toml (the layers).
lint:
    uv run ruff check .
    uv run ruff format --check .
    uv run lint-imports

# mypy in strict mode over the package and the tests.
types:
    uv run mypy

# Format the code in place.
fmt:
    uv run ruff format .
    uv run ruff check --fix .

# The issue-2 measurements: exact counts across 4 senders, and 200 workers at 0.5 s.
measure *args:
    uv run python benchmarks/core.py {{args}}

# The issue-3 chaos run: 20,000 messages, senders SIGKILLed 12 times, then the ledger.
chaos *args:
    uv run python benchmarks/chaos.py {{args}}

# Stock vs draining trio-asyncio loop: publish and consume rates on the local services.
bench-bridge *args:
    uv run python benchmarks/bridge.py {{args}}

# Wall time of virtual-time simulations (no servers needed).
bench-simulate *args:
    uv run python benchmarks/simulate.py {{args}}

# Wall time of smstrio plan: 1,000,000 messages unverified, 100,000 verified (no servers needed).
bench-plan *args:
    uv run python benchmarks/plan.py {{args}}

# --- Containers (compose.yaml; needs Docker Compose or Podman: COMPOSE="podman compose") ---

compose := env("COMPOSE", "docker compose")
# For commands that start no container: without .env, .env.example's placeholders stand in for the
# variables compose.yaml requires (only compose reads them then; no container is made with them).
compose_no_start := compose + ' $(test -f .env || echo "--env-file .env.example")'

# Without .env, write one with random passwords (scripts/dotenv.py); stop if .env holds change-me.
_dotenv:
    @python3 scripts/dotenv.py

# Write .env if there is none, build the image, start RabbitMQ, Redis, the monitor and one sender; wait until healthy.
# Built first: `up --build` would try to pull the senders' image (the one the monitor's build tags) from a registry.
up: _dotenv
    {{compose}} build
    {{compose}} up --detach --wait

# Stop and remove the stack's containers; the data volumes stay (`just down -v` drops them too).
down *args:
    {{compose_no_start}} down {{args}}

# Run N sender containers (more or fewer than now).
scale n: _dotenv
    {{compose}} up --detach --wait --no-recreate --scale sender={{n}} sender

# Publish N alerts with a one-shot producer container.
produce n="1000": _dotenv
    {{compose}} run --rm producer produce {{n}}

# Follow the stack's logs (optionally of some services: `just logs sender`).
logs *services:
    {{compose_no_start}} logs --follow {{services}}

# Print the statistics once, as JSON, from inside the monitor container.
stats:
    {{compose_no_start}} exec monitor smstrio stats

# --- Local processes, no containers (logs and pids under logs/, or $SMSTRIO_LOCAL_DIR) ---

# Start the monitor and N senders as local processes (extra args go to each `smstrio send`).
local-up n="2" *args:
    uv run python scripts/local.py up {{n}} {{args}}

# SIGTERM exactly the processes local-up recorded and wait for them to exit.
local-down:
    uv run python scripts/local.py down

# The benchmark command: `uv run smstrio bench ARGS`.
bench *args:
    uv run smstrio bench {{args}}

# The issue-4 measurement: GET /stats latency (p50/p99/max of 1,000 requests) while 50,000 messages flow.
bench-stats *args:
    uv run python benchmarks/stats_latency.py {{args}}

# Failover in a private three-node RabbitMQ cluster: seconds from a node's SIGKILL to the producer and sender going on.
bench-failover *args:
    uv run python benchmarks/failover.py {{args}}
