"""HTTP/1.1 through h11 on Trio's own streams (no asyncio bridge): the gateway to an SMS provider's API."""
