"""Bind upkeep: idle binds are refreshed, a dead peer is noticed, lost binds come back."""

from tests.support.polling import eventually as wait_for
from tests.support.rig import fast_profile, start_rig, stop_rig, wait_engine_final


async def test_idle_bind_is_refreshed_and_traffic_keeps_it(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")],
                          carrier_changes={"ideal": {"idle_refresh_s": 0.3, "enquire_link_s": 0.1}})
    try:
        counters = rig.simulators["ideal"].counters
        await wait_for(lambda: counters.binds >= 3)  # quiet: rebound every 0.3 s
        assert rig.engine.pools["ideal"].stats.reconnects >= 2
        await wait_for(lambda: rig.engine.pools["ideal"].up)
        status, body = await rig.client.send(["+8613800138000"])
        assert status == 200
        await wait_engine_final(rig.engine, 1)
    finally:
        await stop_rig(rig)


async def test_bind_lost_mid_run_comes_back_and_work_resumes(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    try:
        link = rig.engine.pools["ideal"]
        for bind in list(link.binds):
            bind.abort()  # the network drops the connection
        await wait_for(lambda: not link.up or link.stats.reconnects > 0)
        status, body = await rig.client.send([f"+86138{i:08d}" for i in range(50)])
        assert status == 200 and all(r["code"] == 0 for r in body["results"])
        await wait_engine_final(rig.engine, 50)
        assert link.stats.reconnects >= 1 and link.up
        assert rig.simulators["ideal"].counters.accepted == 50
    finally:
        await stop_rig(rig)
