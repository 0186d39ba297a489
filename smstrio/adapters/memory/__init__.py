"""In-memory twins of the broker and the stats store, beside the real adapters they stand in for."""

from smstrio.adapters.memory.broker import MemoryBroker, MemoryQueueStatistics
from smstrio.adapters.memory.store import MemoryStore

__all__ = ["MemoryBroker", "MemoryQueueStatistics", "MemoryStore"]
