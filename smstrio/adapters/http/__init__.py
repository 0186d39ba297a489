"""HTTP through httpx, natively on Trio (no asyncio bridge): the gateway to an SMS provider's API."""
