"""kill -9 in the middle of a run: everything accepted is dispatched after restart, and segments
the carrier already acknowledged are reconciled, not sent again."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from carriers.config import Delays
from carriers.group import SimulatorGroup
from smsengine.config import DispatchConfig
from tests.support.polling import eventually
from tests.support.rig import Client, engine_config, fast_profile, start_server

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(path: Path, carrier_port: int, db: Path) -> None:
    path.write_text(f"""
[http]
host = "127.0.0.1"
port = 8080
admin_token = "t"
[store]
path = "{db}"
[simulators]
embedded = false
[dispatch]
recovery_hold_s = 3.0
[[carriers]]
name = "slow"
port = {carrier_port}
window = 16
response_timeout_s = 2.0
reconnect_min_s = 0.05
[[routes]]
prefix = "+"
targets = [{{ carrier = "slow" }}]
[[accounts]]
app_id = "demo"
key = "demo-secret"
raw_content = true
balance = 1000000
signatures = [{{ name = "smsengine" }}]
[accounts.limits]
daily_max = 100000
same_content_max = 100000
[[accounts.templates]]
id = 1
text = "Your verification code is {{1}}, valid for {{2}} minutes."
""")


def start_engine(config: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "SMSENGINE_HTTP__PORT": str(port), "PYTHONPATH": str(ROOT)}
    log = open(config.with_suffix(".log"), "ab")
    return subprocess.Popen([sys.executable, "-m", "smsengine", "serve", "--config", str(config)],
                            cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)


def stop_engine(engine: subprocess.Popen) -> None:
    """SIGTERM (a graceful stop), SIGKILL after 10 s."""
    engine.terminate()
    try:
        engine.wait(10)
    except subprocess.TimeoutExpired:
        engine.kill()


async def wait_http(port: int, timeout: float = 15.0, log: Path | None = None) -> None:
    async def healthy() -> bool:
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    return resp.status == 200
        except aiohttp.ClientError:
            return False

    def tail() -> str:
        return "engine did not come up:\n" + (log.read_text()[-3000:] if log and log.exists() else "")

    await eventually(healthy, timeout, tail, interval=0.1)


def statuses(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT status, COUNT(*) FROM messages GROUP BY status").fetchall())


async def test_sigkill_then_restart_dispatches_everything_once(tmp_path):
    # 150 submits/s: a 400-message run is still mostly queued when the engine dies
    profile = fast_profile("slow", throughput_per_s=150.0, throughput_burst=10.0)
    db = tmp_path / "engine.db"
    config = tmp_path / "engine.toml"
    async with SimulatorGroup([profile]) as sims:
        write_config(config, sims.ports["slow"], db)
        port = free_port()
        engine = start_engine(config, port)
        try:
            await wait_http(port, log=config.with_suffix('.log'))
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
                client = Client(http)
                ids = []
                for i in range(2):
                    phones = [f"+86139{i:02d}{j:06d}" for j in range(200)]
                    status, body = await client.send(phones)
                    assert status == 200
                    ids += [r["message_id"] for r in body["results"] if r["code"] == 0]
            assert len(ids) == 400
            # the kill must catch work in flight: some segments submitted, most still queued
            await eventually(lambda: sims["slow"].counters.accepted >= 50, 10)
            engine.send_signal(signal.SIGKILL)
            engine.wait(10)
            before = statuses(db)
            assert sum(before.values()) == 400  # every accepted message was durable
            assert before.get("accepted", 0) > 0  # and the kill really caught work in flight
            sent_before = sims["slow"].counters.accepted

            engine = start_engine(config, port)
            await wait_http(port, log=config.with_suffix('.log'))
            await eventually(lambda: statuses(db).get("delivered", 0) >= 400, 30, lambda: str(statuses(db)))
            assert statuses(db) == {"delivered": 400}
            accepted = sims["slow"].counters.accepted
            # at most the PDUs in the window at the moment of the kill may have gone twice
            assert 400 <= accepted <= 400 + 16, (sent_before, accepted)
            with sqlite3.connect(db) as conn:
                assert conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == 400
        finally:
            stop_engine(engine)


@pytest.mark.parametrize("carrier_process", [False, True], ids=["binds_on_the_loop", "carrier_process"])
async def test_restart_with_acknowledged_segments_waits_for_receipts_instead_of_resending(tmp_path, carrier_process):
    """Everything was acknowledged by the carrier before the engine died, nothing was final:
    after the restart not one segment goes out again, and every message still ends final
    (query_sm reconciliation or receipts the carrier kept for the rebind)."""
    profile = fast_profile("held", time_scale=1.0, delays=Delays(regular=(1.5, 1.5)))
    db = tmp_path / "engine.db"
    async with SimulatorGroup([profile]) as sims:
        config = engine_config(tmp_path, sims.ports,
                               dispatch=DispatchConfig(recovery_hold_s=2.0, carrier_process=carrier_process))
        server = await start_server(config, tmp_path)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
            status, body = await Client(http).send([f"+86135{i:08d}" for i in range(100)])
            assert status == 200
        await eventually(lambda: sims["held"].counters.accepted >= 100, 5)
        engine = server.engine
        await engine.store.flush()
        # die without a goodbye: binds vanish, nothing is drained or unbound
        await engine.carriers.abort()
        await engine.dispatcher.stop()
        await engine.store.close()
        await server.stop(drain_timeout=0.0)
        assert statuses(db) == {"accepted": 100}

        server = await start_server(config, tmp_path)
        try:
            await eventually(lambda: statuses(db).get("delivered", 0) >= 100, 15, lambda: str(statuses(db)))
            assert statuses(db) == {"delivered": 100}
            assert sims["held"].counters.accepted == 100  # nothing was sent twice
            assert sims["held"].counters.queries == 100  # each open segment was asked about
        finally:
            await server.stop(drain_timeout=1.0)
