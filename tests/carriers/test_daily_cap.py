"""The example plugin, loaded by dotted path from a profile, over a real socket."""

from __future__ import annotations

import pytest

from carriers.config import CarrierConfigError
from carriers.examples.daily_cap import DailyCapBehaviour
from carriers.plugins import load_behaviour
from smsengine.smpp.constants import CommandStatus
from smsengine.smpp.pdu import SubmitSm
from smsengine.smpp.receipt import parse_receipt
from tests.carriers.carrier_harness import bound, make_profile, running

PLUGIN = "carriers.examples.daily_cap:DailyCapBehaviour"


async def test_numbers_are_blocked_after_the_daily_cap() -> None:
    profile = make_profile(behaviour=PLUGIN, options={"per_day": 3}, time_scale=1.0)
    async with running(profile) as server, bound(server) as client:
        assert isinstance(server.behaviour, DailyCapBehaviour)
        ids = []
        for number in ["8613800138000"] * 5 + ["8613800138001"]:
            resp = await client.request(SubmitSm(source_addr="x", destination_addr=number, registered_delivery=1))
            ids.append(resp.message_id)
        # regular delay is 1 simulated second at time_scale 1.0
        stats = {}
        for _ in ids:
            receipt = parse_receipt((await client.next_delivery()).short_message.decode())
            stats[receipt.id] = (receipt.stat, receipt.err)
    assert [stats[i] for i in ids] == [("DELIVRD", "000")] * 3 + [("UNDELIV", "011")] * 2 + [("DELIVRD", "000")]
    assert server.counters.fates == {"delivered": 4, "blocked": 2}


async def test_reject_mode_refuses_at_submit() -> None:
    profile = make_profile(behaviour=PLUGIN, options={"per_day": 1, "mode": "reject"})
    async with running(profile) as server, bound(server) as client:
        statuses = [
            (await client.request(SubmitSm(source_addr="x", destination_addr="8613800138000"))).command_status
            for _ in range(3)
        ]
    assert statuses == [0, CommandStatus.ESME_RSUBMITFAIL, CommandStatus.ESME_RSUBMITFAIL]


def test_a_bad_plugin_path_is_a_config_error() -> None:
    with pytest.raises(CarrierConfigError, match="cannot load"):
        load_behaviour(make_profile(behaviour="carriers.examples.daily_cap:Nope"))
    with pytest.raises(CarrierConfigError, match="not a Behaviour"):
        load_behaviour(make_profile(behaviour="carriers.config:CarrierProfile"))
