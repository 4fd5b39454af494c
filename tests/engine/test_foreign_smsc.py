"""The engine against an SMSC that is not ours: the npm `smpp` package's server (tests/interop)."""

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest

from smsengine.smpp.message_id import CarrierIdFormats, IdForm, MessageIdFormat
from tests.support.rig import Client, db_rows, engine_config, start_server, wait_engine_final

INTEROP = Path(__file__).resolve().parents[1] / "interop"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


@pytest.fixture
async def foreign_smsc():
    assert (INTEROP / "node_modules" / "smpp").exists(), "npm dependencies missing: run `make test`"
    proc = await asyncio.create_subprocess_exec(
        "node", str(INTEROP / "smsc.js"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    line = await asyncio.wait_for(proc.stdout.readline(), 10)
    yield json.loads(line)["port"]
    proc.terminate()
    await proc.wait()


async def test_engine_delivers_through_a_foreign_smsc(tmp_path, foreign_smsc):
    # that SMSC answers with hex ids and reports them in decimal: the normaliser must join them
    ids = CarrierIdFormats(submit_resp=MessageIdFormat(IdForm.HEX_TO_DECIMAL), receipt=MessageIdFormat(IdForm.DECIMAL))
    config = engine_config(tmp_path, {"node": foreign_smsc}, carrier_changes={"node": {"message_ids": ids}})
    server = await start_server(config, tmp_path)
    engine = server.engine
    try:
        assert engine.pools["node"].up
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
            client = Client(http)
            phones = [f"+86137{i:08d}" for i in range(20)]
            status, body = await client.send(phones)
            assert status == 200 and all(r["code"] == 0 for r in body["results"])
            status, body = await client.send(["+8613800000001"], content="长" * 100)  # 2 UDH parts
            assert body["results"][0]["segments"] == 2
            await wait_engine_final(engine, 21)
        rows = db_rows(engine, "SELECT status, COUNT(*) FROM messages GROUP BY status")
        assert rows == [("delivered", 21)]
        assert engine.dispatcher.correlator.parked() == 0
    finally:
        await server.stop(drain_timeout=1.0)
