"""CLI tier: how ``smstrio produce --processes N`` splits a campaign and builds its children's command lines."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from smstrio.cli._app import ServiceFlags
from smstrio.cli._produce_processes import child_commands, combine, flag_arguments, run_children, shares
from smstrio.core.config import Common, ProducerSettings


def test_shares_differ_by_one_at_most_and_add_up() -> None:
    """10 messages over 3 processes: 4, 3, 3; fewer messages than processes leaves some with none."""
    assert shares(10, 3) == [4, 3, 3]
    assert shares(2, 4) == [1, 1, 0, 0]


def test_children_get_the_parents_service_flags() -> None:
    """Every flag the parent was given reaches the child, unset ones left out."""
    flags = ServiceFlags(redis_url="redis://r", queue="q", log_file=Path("/tmp/x.log"))
    assert flag_arguments(flags) == ["--log-file", "/tmp/x.log", "--redis-url", "redis://r", "--queue", "q"]


def test_each_child_has_its_share_and_a_seed_drawn_from_the_parents() -> None:
    """With --seed S the children's seeds are the first draws of Random(S): the same campaign every time."""
    settings = ProducerSettings(common=Common(), count=5, window=7, processes=2, seed=9)
    rng = random.Random(9)
    seeds = [str(rng.getrandbits(32)) for _ in range(2)]
    tail = ["--window", "7", "--no-progress", "--queue", "q"]
    assert child_commands(settings, ServiceFlags(queue="q"), 9) == [
        [sys.executable, "-m", "smstrio", "produce", "3", "--seed", seeds[0], *tail],
        [sys.executable, "-m", "smstrio", "produce", "2", "--seed", seeds[1], *tail],
    ]


def test_the_summary_adds_the_childrens_and_rates_over_the_longest_child() -> None:
    """Published and confirmed add up, every run is listed, the rate is confirmed over the longest child's seconds."""
    children = [
        {"queue": "q", "run": "a", "published": 6, "confirmed": 5, "seconds": 1.0, "rate_per_s": 5.0},
        {"queue": "q", "run": "b", "published": 5, "confirmed": 5, "seconds": 2.5, "rate_per_s": 2.0},
    ]
    assert combine("q", children) == {
        "queue": "q",
        "runs": ["a", "b"],
        "processes": 2,
        "published": 11,
        "confirmed": 10,
        "seconds": 2.5,
        "rate_per_s": 4.0,
    }


async def test_each_childs_exit_and_output_are_kept_when_they_all_end_at_once() -> None:
    """Children that print and exit at once: each one's exit code and output are kept, in order (20 rounds of 4)."""
    commands = [[sys.executable, "-c", f"import sys; print('child {i}'); sys.exit({i % 2})"] for i in range(4)]
    for _ in range(20):
        done = await run_children(commands, {}, forward=False)
        assert done == [(i % 2, f"child {i}\n".encode()) for i in range(4)]
