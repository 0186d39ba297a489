"""Trio-only supervision pieces: signals, batching, shutdown. No service clients here."""
