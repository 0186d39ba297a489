"""The ``smstrio`` command line: parse flags once, build settings, run one role under Trio.

``_app`` holds the app, the shared flags, the runner and the exit codes; importing
``services``, ``watching``, ``audit``, ``gateway``, ``simulation``, ``planning`` and ``bench`` registers their
commands on it.
"""

from smstrio.cli import audit, bench, gateway, planning, services, simulation, watching
from smstrio.cli._app import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    app,
    main,
)

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "app",
    "audit",
    "bench",
    "gateway",
    "main",
    "planning",
    "services",
    "simulation",
    "watching",
]
