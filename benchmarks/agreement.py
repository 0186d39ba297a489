"""Does the embedded simulation predict the real pipeline? (issue 5)

Runs one heterogeneous scenario twice: virtually (``run_simulation`` on the in-memory seams
under a MockClock) and for real (the same producer and one in-process sender per profile,
each on its own RabbitMQ connection, with Redis statistics), then compares throughput.

    scenario: 3,000 messages; sender "fast" 60 workers, exponential mean 0.2 s, 10% failures;
              sender "slow" 40 workers, normal mean 0.4 s, 20% failures (ideal 400 msg/s)

Usage: uv run python benchmarks/agreement.py [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import uuid
from typing import Any

import trio
from trio.testing import MockClock

from smstrio.adapters.amqp.broker import AmqpBroker
from smstrio.adapters.bridge import open_bridge
from smstrio.adapters.redis.store import RedisStore
from smstrio.core.config import Common, ProducerSettings, SenderSettings
from smstrio.core.distributions import Distribution, sampler
from smstrio.core.scenario import Scenario, SenderProfile
from smstrio.roles.gateway import SimulatedGateway
from smstrio.roles.producer import run_producer
from smstrio.roles.sender import Sender, run_sender
from smstrio.sim.simulate import run_simulation
from smstrio.testing import AMQP_URL, REDIS_URL, delete_queues

SCENARIO = Scenario(
    messages=3000,
    senders=(
        SenderProfile(name="fast", workers=60, mean=0.2, failure_rate=0.1, distribution=Distribution.EXPONENTIAL),
        SenderProfile(name="slow", workers=40, mean=0.4, failure_rate=0.2, distribution=Distribution.NORMAL),
    ),
    seed=11,
)


async def real(scenario: Scenario) -> dict[str, Any]:
    queue = f"bench-agree-{uuid.uuid4().hex[:8]}"
    common = Common(queue=queue, amqp_url=AMQP_URL, redis_url=REDIS_URL)
    rng = random.Random(scenario.seed)
    async with open_bridge():
        store = await RedisStore.connect(REDIS_URL, queue)
        brokers = [await AmqpBroker.connect(AMQP_URL) for _ in range(len(scenario.senders) + 1)]
        try:
            await run_producer(ProducerSettings(common=common, count=scenario.messages), brokers[0], store, rng=rng)
            async with trio.open_nursery() as nursery:
                started = trio.current_time()
                senders: list[Sender] = []
                for profile, broker in zip(scenario.senders, brokers[1:], strict=True):
                    settings = SenderSettings(
                        common=common,
                        workers=profile.workers,
                        mean=profile.mean,
                        failure_rate=profile.failure_rate,
                        distribution=profile.distribution,
                    )
                    sender_rng = random.Random(rng.getrandbits(32))
                    gateway = SimulatedGateway(
                        sampler(profile.distribution, profile.mean, sender_rng), profile.failure_rate, sender_rng
                    )
                    senders.append(await nursery.start(run_sender, settings, broker, store, gateway))
                # The senders offer counters, not an event, for "all settled": poll them.
                while sum(s.statistics().settled for s in senders) < scenario.messages:  # noqa: ASYNC110
                    await trio.sleep(0.005)
                elapsed = trio.current_time() - started
                for sender in senders:
                    sender.stop()
            totals = (await store.view()).totals
        finally:
            await store.reset()
            await store.aclose()
            for broker in brokers:
                await broker.aclose()
            await delete_queues(queue)
    return {
        "duration_s": round(elapsed, 3),
        "throughput_per_s": round(scenario.messages / elapsed, 1),
        "failure_rate": round(totals.failed / scenario.messages, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    virtual = trio.run(run_simulation, SCENARIO, clock=MockClock(autojump_threshold=0))
    measured = trio.run(real, SCENARIO)
    predicted = virtual.throughput_per_s or 0.0
    result = {
        "virtual": {
            "duration_s": virtual.duration_s,
            "throughput_per_s": predicted,
            "failure_rate": virtual.failure_rate,
        },
        "real": measured,
        "throughput_difference": round(abs(measured["throughput_per_s"] - predicted) / predicted, 4),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for name, value in result.items():
            print(f"{name}: {value}")


if __name__ == "__main__":
    main()
