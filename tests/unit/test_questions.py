"""The planner's analytic starts: Erlang C for exponential sends, and a send's own p99."""

from __future__ import annotations

import math

import pytest

from smstrio.core.distributions import Distribution
from smstrio.core.scenario import SenderProfile
from smstrio.sim.questions import erlang_c, send_p99


def test_erlang_c_with_one_server_is_the_m_m_1_queue() -> None:
    """At 0.5/s of exponential 1 s sends, an M/M/1 time in system is exponential of rate 0.5: its p99 is 2 ln 100 s,
    so one server meets a limit just above it and two are needed just below."""
    p99 = 2 * math.log(100)

    assert (erlang_c(0.5, 1.0, p99 + 0.01, 10), erlang_c(0.5, 1.0, p99 - 0.01, 10)) == (1, 2)


def test_erlang_c_grows_with_load_and_stops_at_most() -> None:
    """500/s of 2 s sends within 10 s need 1003 servers (the offered load is 1000); capped at ``most``."""
    assert (erlang_c(500.0, 2.0, 10.0, 10_000), erlang_c(500.0, 2.0, 10.0, 1001)) == (1003, 1001)


def test_erlang_c_where_the_queue_drains_at_the_service_rate() -> None:
    """With 2 servers at 1/s of 1 s sends the queue drains at 1/s, the service rate: the formula's special case."""
    assert erlang_c(1.0, 1.0, 10.0, 10) == 2


@pytest.mark.parametrize(
    ("distribution", "p99"),
    [
        (Distribution.EXPONENTIAL, 2 * math.log(100)),
        (Distribution.NORMAL, 2.0 + 0.5 * 2.3263478740408408),
        (Distribution.UNIFORM, 3.96),
        (Distribution.CONSTANT, 2.0),
    ],
)
def test_send_p99_of_each_distribution(distribution: Distribution, p99: float) -> None:
    """A send's own p99 for a mean of 2 s: 2 ln 100, mean + 2.33 sigma (sigma = mean / 4), 0.99 x 2 x mean, the mean."""
    assert send_p99(SenderProfile(mean=2.0, distribution=distribution)) == pytest.approx(p99, rel=1e-12)
