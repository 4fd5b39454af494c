"""A bounded engine: beyond `dispatch.max_open_messages` accepted-and-not-final messages, sends are
refused with 1052 (503) and nothing of them is stored or charged, until carriers catch up."""

from carriers.config import Delays
from smsengine.config import DispatchConfig
from tests.support.rig import db_rows, fast_profile, start_rig, stop_rig


async def test_sends_beyond_the_open_message_bound_are_refused_with_1052(tmp_path):
    # receipts an hour away: what is accepted stays open for the whole test
    late = fast_profile("late", time_scale=1.0, delays=Delays(regular=(3600.0, 3600.0)))
    rig = await start_rig(tmp_path, [late], dispatch=DispatchConfig(max_open_messages=3, recovery_hold_s=2.0))
    try:
        status, body = await rig.client.send(["+8613800000001", "+8613800000002"])
        assert status == 200 and [r["code"] for r in body["results"]] == [0, 0]
        available = rig.engine.accounts.get("demo").available
        status, body = await rig.client.send(["+8613800000003", "+8613800000004"])
        assert (status, body["code"]) == (503, 1052), body
        assert "retry later" in body["message"]
        status, body = await rig.client.send(["+8613800000005"])  # exactly at the bound: taken
        assert status == 200 and body["results"][0]["code"] == 0
        await rig.engine.store.flush()
        assert db_rows(rig.engine, "SELECT phone FROM messages ORDER BY id") == [
            ("+8613800000001",), ("+8613800000002",), ("+8613800000005",)]
        assert rig.engine.accounts.get("demo").available == available - 1  # the refused two reserved nothing
        assert rig.engine.intake.stats.busy == 1
    finally:
        await stop_rig(rig)
