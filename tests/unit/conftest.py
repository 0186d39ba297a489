"""Fixtures of the unit tier."""

from __future__ import annotations

import pytest


@pytest.fixture(params=[False, True], ids=["stock", "draining"])
def drain(request: pytest.FixtureRequest) -> bool:
    """Run the test on the stock loop and on the draining loop."""
    flag: bool = request.param
    return flag
