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

# Build the image and start RabbitMQ, Redis, the monitor and one sender; wait until healthy.
up:
    @test -f .env || { echo "copy .env.example to .env and set its passwords first" >&2; exit 1; }
    @! grep -Eq '^[^#]*change-me' .env || { echo ".env still holds change-me placeholders: set real passwords" >&2; exit 1; }
    {{compose}} up --build --detach --wait

# Stop and remove the stack's containers (the data volumes stay; `docker compose down -v` drops them).
down:
    {{compose}} down

# Run N sender containers (more or fewer than now).
scale n:
    {{compose}} up --detach --wait --no-recreate --scale sender={{n}} sender

# Publish N alerts with a one-shot producer container.
produce n="1000":
    {{compose}} run --rm producer produce {{n}}

# Follow the stack's logs (optionally of some services: `just logs sender`).
logs *services:
    {{compose}} logs --follow {{services}}

# Print the statistics once, as JSON, from inside the monitor container.
stats:
    {{compose}} exec monitor smstrio stats

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
