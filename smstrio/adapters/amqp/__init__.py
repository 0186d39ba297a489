"""RabbitMQ through aiormq under trio-asyncio: the broker, its topology, frames batched per write."""
