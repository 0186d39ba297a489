"""The only modules that import aiormq, redis or trio_asyncio."""
