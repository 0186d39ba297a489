"""Unit tests for the Redis key names."""

from __future__ import annotations

import pytest

from smstrio.core.keys import Keys


def all_keys(keys: Keys) -> list[str]:
    """Every key name (and the SCAN pattern) of one queue."""
    return [
        keys.totals,
        keys.done("0123456789ab"),
        keys.rate(1_700_000_000),
        keys.senders,
        keys.sender("host-1234-ab"),
        keys.pattern,
    ]


@pytest.mark.parametrize("queue", ["sms_queue", "a.b-c", "q"])
def test_every_key_shares_the_queue_hash_tag(queue: str) -> None:
    """Each key's first {...} hash tag is the queue name, so all keys of a queue share one cluster slot."""
    for key in all_keys(Keys(queue)):
        start = key.index("{")
        assert key[start + 1 : key.index("}", start)] == queue, key


def test_keys_of_one_queue_are_distinct_and_prefixed() -> None:
    """Each key name is different and starts with the prefix."""
    keys = all_keys(Keys("sms_queue", prefix="test"))
    assert len(set(keys)) == len(keys)
    assert all(k.startswith("test:{sms_queue}:") for k in keys)


def test_keys_of_different_queues_do_not_collide() -> None:
    """Two queues get disjoint key names."""
    assert not set(all_keys(Keys("a"))) & set(all_keys(Keys("b")))


def test_key_names_are_stable() -> None:
    """Key names stay as documented, so processes of different versions agree."""
    keys = Keys("sms_queue")
    assert keys.totals == "smstrio:{sms_queue}:totals"
    assert keys.done("0123456789ab") == "smstrio:{sms_queue}:done:0123456789ab"
    assert keys.rate(17) == "smstrio:{sms_queue}:rate:17"
    assert keys.senders == "smstrio:{sms_queue}:senders"
    assert keys.sender("s1") == "smstrio:{sms_queue}:sender:s1"
    assert keys.pattern == "smstrio:{sms_queue}:*"
