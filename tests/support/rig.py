"""A test rig: real simulators on ephemeral ports, a real engine on a temp SQLite file, and a
client that signs requests like a caller would."""

from __future__ import annotations

import itertools
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from carriers.config import CarrierProfile, Delays
from carriers.group import SimulatorGroup
from smsengine.config import (
    AccountConfig,
    CarrierConfig,
    DispatchConfig,
    EngineConfig,
    HttpConfig,
    LimitsConfig,
    RouteConfig,
    RouteTarget,
    SignatureSeed,
    SimulatorConfig,
    StoreConfig,
    TemplateSeed,
)
from smsengine.domain.auth import request_sig
from smsengine.engine.services import Engine
from smsengine.server import Server
from tests.support.polling import eventually

ADMIN = "test-operator"
FINAL = ("delivered", "failed", "expired")


def fast_profile(name: str = "ideal", **changes: Any) -> CarrierProfile:
    """A simulator whose receipts come within milliseconds."""
    base = CarrierProfile(name=name, port=0, admin_port=None, time_scale=0.001,
                          delays=Delays(regular=(0.0, 0.5), marketing=(0.0, 1.0)))
    return msgspec.structs.replace(base, **changes)


def demo_account(**changes: Any) -> AccountConfig:
    base = AccountConfig(
        app_id="demo", key="demo-secret", type="organisation", raw_content=True, balance=10_000_000,
        signatures=[SignatureSeed("smsengine")],
        templates=[
            TemplateSeed(1, "Your verification code is {1}, valid for {2} minutes."),
            TemplateSeed(2, "Your verification code is {1}, valid for {2} minutes.", region="international"),
            TemplateSeed(3, "Your order {1} has shipped. Reply TD to unsubscribe.", type="marketing"),
        ],
        limits=LimitsConfig(daily_max=100_000, same_content_max=100_000, international_daily_max=1_000_000),
    )
    return msgspec.structs.replace(base, **changes)


def engine_config(tmp: Path, ports: dict[str, int], *, accounts: list[AccountConfig] | None = None,
                  carrier_changes: dict[str, dict] | None = None, routes: list[RouteConfig] | None = None,
                  **changes: Any) -> EngineConfig:
    defaults = dict(binds=1, window=64, response_timeout_s=2.0, retry_backoff_s=0.05, throttle_pause_s=0.05,
                    reconnect_min_s=0.05, reconnect_max_s=0.5)
    carriers = [
        CarrierConfig(name=name, port=port, **{**defaults, **(carrier_changes or {}).get(name, {})})
        for name, port in ports.items()
    ]
    if routes is None:
        routes = [RouteConfig(prefix="+", targets=[RouteTarget(c.name) for c in carriers])]
    cfg = EngineConfig(
        http=HttpConfig(port=0, admin_token=ADMIN, allow_private_callbacks=True),  # sinks on loopback
        store=StoreConfig(path=str(tmp / "engine.db")),
        simulators=SimulatorConfig(embedded=False),
        # restarts in tests wait recovery_hold_s, not 15 s; the binds run on the engine's loop, where
        # tests can reach them (tests/engine/test_carrier_process.py runs them in their process)
        dispatch=DispatchConfig(recovery_hold_s=2.0, carrier_process=False),
        carriers=carriers,
        routes=routes,
        accounts=accounts or [demo_account()],
    )
    return msgspec.structs.replace(cfg, **changes)


class Client:
    """Signs and posts like a customer's service would."""

    _random = itertools.count(1000)

    def __init__(self, http: aiohttp.ClientSession, app_id: str = "demo", key: str = "demo-secret") -> None:
        self.http = http
        self.app_id = app_id
        self.key = key

    def body(self, numbers: list[str], **fields: Any) -> dict:
        now = int(fields.pop("time", time.time()))
        rnd = fields.pop("random", next(self._random))
        key = fields.pop("key", self.key)
        body = {"app_id": self.app_id, "random": rnd, "time": now,
                "sig": request_sig(key, rnd, now, numbers), "phone_numbers": numbers}
        if "content" not in fields and "template_id" not in fields:
            fields.update(template_id=1, params=["1234", "5"])
        fields.setdefault("sign", "smsengine")
        body.update(fields)
        return body

    async def send(self, numbers: list[str], **fields: Any) -> tuple[int, dict]:
        async with self.http.post("/v1/sms/send", json=self.body(numbers, **fields)) as resp:
            return resp.status, await resp.json()

    async def accepted(self, numbers: list[str], **fields: Any) -> list[str]:
        """Send; every number must be accepted. Returns the message ids."""
        status, body = await self.send(numbers, **fields)
        assert status == 200 and [r["code"] for r in body["results"]] == [0] * len(numbers), body
        return [r["message_id"] for r in body["results"]]

    @property
    def auth(self) -> dict:
        return {"X-App-Id": self.app_id, "X-App-Key": self.key}

    async def account(self) -> dict:
        return await self._account("GET")

    async def patch_account(self, **fields: Any) -> dict:
        """Change the account's own settings (receipt_url, receipt_since, ...); returns its view."""
        return await self._account("PATCH", fields)

    async def _account(self, method: str, body: dict | None = None) -> dict:
        async with self.http.request(method, f"/v1/accounts/{self.app_id}", json=body, headers=self.auth) as resp:
            view = await resp.json()
            assert resp.status == 200, view
            return view

    async def message(self, message_id: str) -> dict:
        async with self.http.get(f"/v1/messages/{message_id}", headers=self.auth) as resp:
            return await resp.json()

    async def wait_final(self, ids: list[str], timeout: float = 20.0) -> dict[str, dict]:
        """Poll the API until every message is final; returns the views."""
        views: dict[str, dict] = {}

        async def all_final() -> bool:
            for mid in [m for m in ids if m not in views]:
                view = await self.message(mid)
                if view.get("status") in FINAL:
                    views[mid] = view
            return len(views) == len(ids)

        await eventually(all_final, timeout, lambda: f"{len(ids) - len(views)} messages not final")
        return views


async def wait_engine_final(engine: Engine, count: int, timeout: float = 30.0) -> None:
    """Wait until the dispatcher has no message open and `count` reached a final state."""
    stats = engine.dispatcher.stats
    await eventually(lambda: stats.finals_total >= count and not stats.open, timeout,
                     lambda: f"finals {stats.finals}, open {stats.open}")
    await engine.store.flush()


def db_rows(engine: Engine, sql: str, params: tuple = ()) -> list[tuple]:
    """What is durable: rows read from the engine's SQLite file by a connection of the test's own
    (call after `engine.store.flush()`)."""
    with sqlite3.connect(engine.store.path) as conn:
        return conn.execute(sql, params).fetchall()


class Rig:
    def __init__(self, simulators: SimulatorGroup, server: Server, http: aiohttp.ClientSession) -> None:
        self.simulators = simulators
        self.server = server
        self.engine = server.engine
        self.http = http
        self.client = Client(http)


async def start_server(config: EngineConfig, base_dir: Path) -> Server:
    server = Server(config, base_dir=base_dir)
    await server.start()
    await server.engine.carriers.wait_up(5.0)
    return server


async def start_rig(tmp: Path, profiles: list[CarrierProfile], **config: Any):
    simulators = await SimulatorGroup(profiles).start()
    try:
        server = await start_server(engine_config(tmp, simulators.ports, **config), tmp)
    except BaseException:  # an engine that would not start must not leave the simulators running
        await simulators.close()
        raise
    http = aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}")
    return Rig(simulators, server, http)


async def stop_rig(rig: Rig) -> None:
    await rig.http.close()
    await rig.server.stop(drain_timeout=2.0)
    await rig.simulators.close()
