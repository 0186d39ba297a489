"""The simulation's own seams that need no Trio: the producer's quick texts."""

from __future__ import annotations

import random
import string

from smstrio.sim.seams import TEXT_POOL, QuickTextRandom


def test_quick_texts_have_the_asked_length_and_alphabet_and_follow_the_seed() -> None:
    """choices of an alphabet gives k of its characters, the same for the same seed, one draw each call."""
    first, again, other = QuickTextRandom(1), QuickTextRandom(1), QuickTextRandom(2)

    texts = [first.choices(string.digits, k=k) for k in (1, 14, 100)]

    assert [len(t) for t in texts] == [1, 14, 100]
    assert {c for text in texts for c in text} <= set(string.digits)
    assert texts == [again.choices(string.digits, k=k) for k in (1, 14, 100)]
    assert texts != [other.choices(string.digits, k=k) for k in (1, 14, 100)]


def test_other_choices_are_random_randoms() -> None:
    """Weights, a list, or more than half the pool: the draws of random.Random with the same seed."""
    quick, plain = QuickTextRandom(3), random.Random(3)

    assert quick.choices("ab", weights=[1, 3], k=5) == plain.choices("ab", weights=[1, 3], k=5)
    assert quick.choices([1, 2, 3], k=4) == plain.choices([1, 2, 3], k=4)
    assert quick.choices("xyz", k=TEXT_POOL) == plain.choices("xyz", k=TEXT_POOL)
