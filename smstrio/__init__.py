"""smstrio: simulate, load-test and capacity-plan an SMS alert fan-out service."""

__version__ = "0.1.0"
