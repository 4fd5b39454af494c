"""The carrier process (dispatch.carrier_process): the binds in a child process of the engine's,
driven over a socketpair; what the engine guarantees stays the same."""

import msgspec

from smsengine.config import DispatchConfig
from tests.support.polling import eventually as wait_for
from tests.support.rig import db_rows, fast_profile, start_rig, stop_rig, wait_engine_final

IN_PROCESS = DispatchConfig(recovery_hold_s=2.0, carrier_process=True)


async def test_messages_go_out_and_receipts_come_back_through_the_carrier_process(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")], dispatch=IN_PROCESS)
    try:
        assert rig.engine.carrier_process is not None
        numbers = [f"+86138{i:08d}" for i in range(200)]
        status, body = await rig.client.send(numbers)
        assert status == 200 and all(r["code"] == 0 for r in body["results"]), body
        await wait_engine_final(rig.engine, 200)
        counters = rig.simulators["ideal"].counters
        assert counters.accepted == 200
        rows = db_rows(rig.engine, "SELECT status, COUNT(*) FROM messages GROUP BY status")
        assert rows == [("delivered", 200)]
        assert rig.engine.carrier_process.jobs == {}
        await wait_for(lambda: rig.engine.pools["ideal"].stats.receipts == 200)
    finally:
        await stop_rig(rig)
