"""carriers.examples.outage: dark from start_s after the first submit for duration_s (simulated
seconds, scaled), dropping every connection meanwhile; the profile's own faults otherwise."""

from __future__ import annotations

import asyncio

import pytest

from carriers.config import CarrierConfigError, CarrierProfile
from carriers.examples.outage import OutageBehaviour


async def test_dark_only_inside_the_window_after_the_first_submit():
    behaviour = OutageBehaviour(CarrierProfile(name="p", time_scale=0.01), {"start_s": 10.0, "duration_s": 20.0})
    now = asyncio.get_running_loop().time()
    assert not behaviour.dark() and not behaviour.drops_connection("x", False)  # no traffic yet
    for since, dark in ((0.05, False), (0.15, True), (0.29, True), (0.35, False)):
        behaviour.first_submit = now - since
        assert behaviour.dark() is dark, since
        assert behaviour.drops_connection("x", True) is dark
    assert behaviour.pdu_faults  # the server asks on every PDU, binds included


def test_options_are_checked():
    with pytest.raises(CarrierConfigError, match="start_s and duration_s"):
        OutageBehaviour(CarrierProfile(name="p"), {"start_s": "soon"})
    with pytest.raises(CarrierConfigError, match=">= 0"):
        OutageBehaviour(CarrierProfile(name="p"), {"duration_s": -1})
