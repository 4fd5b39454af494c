"""Graceful shutdown: intake stops, windows drain, the store is flushed, binds unbind."""

import sqlite3

import aiohttp
import pytest

from carriers.config import Delays
from carriers.group import SimulatorGroup
from smsengine.config import DispatchConfig
from tests.support.rig import Client, engine_config, fast_profile, start_server


@pytest.mark.parametrize("carrier_process", [False, True], ids=["binds_on_the_loop", "carrier_process"])
async def test_stop_drains_queued_segments_and_unbinds(tmp_path, carrier_process):
    # 400 submits/s and receipts a long way off: at stop, most messages are queued or in flight
    profile = fast_profile("slow", throughput_per_s=400.0, throughput_burst=20.0, time_scale=1.0,
                           delays=Delays(regular=(30.0, 30.0)))
    async with SimulatorGroup([profile]) as sims:
        config = engine_config(tmp_path, sims.ports,
                               dispatch=DispatchConfig(recovery_hold_s=2.0, carrier_process=carrier_process))
        server = await start_server(config, tmp_path)
        assert server.engine.pools["slow"].up
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
            status, body = await Client(http).send([f"+86136{i:08d}" for i in range(200)])
            assert status == 200
        assert sims["slow"].counters.accepted < 200  # work was still waiting when stop began
        await server.stop(drain_timeout=10.0)

        counters = sims["slow"].counters
        assert counters.accepted == 200  # everything queued went out before the binds closed
        assert counters.unbinds >= 1  # and the binds said goodbye instead of vanishing
        with sqlite3.connect(tmp_path / "engine.db") as conn:
            # every acknowledged segment is durable, so a restart waits for receipts, not resends
            assert conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == 200
            assert conn.execute("SELECT COUNT(*) FROM messages WHERE status='accepted'").fetchone()[0] == 200


async def test_requests_after_stop_began_are_refused(tmp_path):
    async with SimulatorGroup([fast_profile("ideal")]) as sims:
        server = await start_server(engine_config(tmp_path, sims.ports), tmp_path)
        port = server.http_port
        await server.stop(drain_timeout=1.0)
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(f"http://127.0.0.1:{port}/healthz")
