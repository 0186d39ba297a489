# smstrio tasks; run `uv run just --list` to see them all.

# Lint, type-check and test: what CI runs.
check: lint types test

# Run the whole test suite (real-service tests skip without RabbitMQ/Redis, fail when CI is set).
test *args:
    uv run pytest {{args}}

# Only the fast tiers that need no servers.
test-fast:
    uv run pytest -m "not services"

# Ruff lint and format check.
lint:
    uv run ruff check .
    uv run ruff format --check .

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
