"""Redis through redis-py's asyncio client under trio-asyncio: the statistics store."""
