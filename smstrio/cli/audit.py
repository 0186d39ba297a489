"""``smstrio audit``: the ledger check of a queue, as lines of text or one JSON object."""

from __future__ import annotations

import json
from typing import Annotated

from cyclopts import Parameter

from smstrio.cli._app import (
    DEFAULT_FLAGS,
    EXIT_FAILURE,
    EXIT_OK,
    ServiceFlags,
    app,
    open_services,
    run_command,
    sources,
)
from smstrio.core.errors import ConfigError
from smstrio.roles.audit import collect_audit


@app.command
def audit(
    *,
    json_output: Annotated[bool, Parameter(name="--json", negative=())] = False,
    limit: int = 20,
    flags: ServiceFlags = DEFAULT_FLAGS,
) -> None:
    """Check the ledger: per producer run, the messages confirmed and counted, and what is missing.

    missing = confirmed - counted - waiting (in the queue and its retry queue). Each run names
    its first messages confirmed and not counted (RUN-SEQ): once the queue is drained, those are
    lost, or still in a sender's hands. Exits 1 when something is missing once the queue is drained.

    Parameters
    ----------
    json_output
        Print one JSON object instead of lines of text.
    limit
        At most this many missing message ids per run.
    """
    common = flags.resolve(sources())
    if limit < 0:
        raise ConfigError(f"limit must be >= 0, got {limit}")

    async def main() -> int:
        async with open_services(common, name="smstrio audit") as (broker, store):
            ledger = await collect_audit(common.queue, broker, store, shown=limit)
        if json_output:
            print(json.dumps(ledger.to_json()), flush=True)
        else:
            print("\n".join(ledger.lines()), flush=True)
        return EXIT_FAILURE if ledger.lost else EXIT_OK

    run_command("audit", common, main)
