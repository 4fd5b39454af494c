"""Rate limits survive a restart: the limiter is rebuilt from the store's sends of the last day
(engine.limit_history), so a number the limits stopped before the restart stays stopped after."""

import msgspec

from smsengine.config import LimitsConfig
from tests.support.rig import Client, demo_account, engine_config, fast_profile, start_server
from carriers.group import SimulatorGroup


def account(app_id: str, base: int, limits: LimitsConfig):
    templates = [msgspec.structs.replace(t, id=base + t.id) for t in demo_account().templates]
    return demo_account(app_id=app_id, key=f"{app_id}-key", templates=templates, limits=limits)


LOOSE = dict(daily_max=100, same_content_max=100, international_daily_max=100)
ACCOUNTS = [
    account("daily", 10, LimitsConfig(**{**LOOSE, "daily_max": 1})),
    account("same", 20, LimitsConfig(**{**LOOSE, "same_content_max": 1})),
    account("hourly", 30, LimitsConfig(**{**LOOSE, "hourly_max": 1})),
    account("intl", 40, LimitsConfig(**{**LOOSE, "international_daily_max": 1})),
    account("alarm", 50, LimitsConfig(**LOOSE, alarm_threshold=1)),
]


async def send(server, app_id: str, number: str, content: str) -> int:
    import aiohttp
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
        status, body = await Client(http, app_id, f"{app_id}-key").send([number], content=content)
        assert status == 200, body
        return body["results"][0]["code"]


async def test_limits_hold_across_a_restart(tmp_path):
    async with SimulatorGroup([fast_profile("ideal")]) as sims:
        config = engine_config(tmp_path, sims.ports, accounts=ACCOUNTS)
        server = await start_server(config, tmp_path)
        try:
            assert await send(server, "daily", "+8613800000001", "first") == 0
            assert await send(server, "same", "+8613800000002", "same text") == 0
            assert await send(server, "hourly", "+8613800000003", "one") == 0
            assert await send(server, "intl", "+14155550001", "hello") == 0
            assert await send(server, "alarm", "+8613800000005", "crosses the threshold") == 0
            assert server.engine.intake.stats.alarms == 1
        finally:
            await server.stop(drain_timeout=2.0)

        server = await start_server(config, tmp_path)
        try:
            assert await send(server, "daily", "+8613800000001", "second") == 1025
            assert await send(server, "same", "+8613800000002", "same text") == 1023
            assert await send(server, "same", "+8613800000002", "other text") == 0
            assert await send(server, "hourly", "+8613800000003", "two") == 1024
            assert await send(server, "intl", "+14155550002", "hello") == 1047
            assert await send(server, "daily", "+8613800000009", "a fresh number") == 0
            # the threshold was crossed before the restart: the alarm is not raised a second time
            assert await send(server, "alarm", "+8613800000006", "after the restart") == 0
            assert server.engine.intake.stats.alarms == 0
        finally:
            await server.stop(drain_timeout=2.0)
