"""Receipt callbacks over real sockets: the engine POSTs JSON arrays of status reports to the
account's receipt_url, retries a failed POST (at least once) and never repeats an acknowledged one."""

import asyncio

import pytest
from aiohttp import web

from tests.support.polling import eventually
from tests.support.rig import fast_profile, start_rig, stop_rig

RECEIPT_FIELDS = {"cursor", "message_id", "phone", "status", "code", "remark", "submitted_at", "final_at", "context"}


class ReceiptReceiver:
    """The customer's webhook: records every POST and answers `fail_first` of them with 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.failed: list[list[dict]] = []
        self.acknowledged: list[list[dict]] = []
        self.posted = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _receive(self, request: web.Request) -> web.Response:
        batch = await request.json()
        assert request.content_type == "application/json"
        self.posted.set()
        if len(self.failed) < self.fail_first:
            self.failed.append(batch)
            return web.Response(status=500)
        self.acknowledged.append(batch)
        return web.Response(status=200)

    async def start(self) -> "ReceiptReceiver":
        app = web.Application()
        app.router.add_post("/receipts", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/receipts"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def acknowledged_ids(self) -> list[str]:
        return [item["message_id"] for batch in self.acknowledged for item in batch]

    async def wait_for(self, ids: list[str], timeout: float = 15.0) -> None:
        await eventually(lambda: set(ids) <= set(self.acknowledged_ids()), timeout,
                         lambda: f"pushed {self.acknowledged_ids()}, waiting for {ids}")


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def set_receipt_url(rig, url: str) -> None:
    async with rig.http.patch("/v1/accounts/demo", json={"receipt_url": url}, headers=rig.client.auth) as resp:
        assert resp.status == 200
        assert (await resp.json())["receipt_url"] == url


async def send(rig, numbers: list[str], **fields) -> list[str]:
    status, body = await rig.client.send(numbers, **fields)
    assert status == 200
    return [r["message_id"] for r in body["results"]]


async def test_every_receipt_is_pushed_with_its_fields(rig):
    receiver = await ReceiptReceiver().start()
    try:
        await set_receipt_url(rig, receiver.url)
        ids = await send(rig, ["+8613800000001", "+8613800000002", "+8613800000003"], context="cb-ctx")
        await receiver.wait_for(ids)
        items = [item for batch in receiver.acknowledged for item in batch]
        assert sorted(receiver.acknowledged_ids()) == sorted(ids)  # each exactly once
        for item in items:
            assert set(item) == RECEIPT_FIELDS
            assert item["status"] == "delivered" and item["code"] == 0 and item["remark"].startswith("DELIVRD")
            assert item["context"] == "cb-ctx"
            assert item["submitted_at"] <= item["final_at"]
        views = await rig.client.wait_final(ids)
        for item in items:
            view = views[item["message_id"]]
            assert (item["phone"], item["status"], item["final_at"]) == (view["phone"], view["status"], view["final_at"])
    finally:
        await receiver.stop()


async def test_failed_push_is_retried_and_acknowledged_ones_are_not_repeated(rig):
    receiver = await ReceiptReceiver(fail_first=1).start()
    try:
        await set_receipt_url(rig, receiver.url)
        ids = await send(rig, ["+8613800000011", "+8613800000012", "+8613800000013"])
        await receiver.wait_for(ids)
        assert len(receiver.failed) == 1 and receiver.failed[0]
        refused = {item["message_id"] for item in receiver.failed[0]}
        assert refused <= set(receiver.acknowledged_ids())  # the refused batch came again
        assert sorted(receiver.acknowledged_ids()) == sorted(ids)
        # a later receipt arrives alone: nothing acknowledged is pushed a second time
        (later,) = await send(rig, ["+8613800000014"])
        await receiver.wait_for([later])
        assert receiver.acknowledged[-1] == [item for item in receiver.acknowledged[-1] if item["message_id"] == later]
        assert sorted(receiver.acknowledged_ids()) == sorted(ids + [later])
        assert rig.engine.callbacks.failed_posts == 1
    finally:
        await receiver.stop()


async def test_a_first_url_pushes_from_now_on_and_since_replays_the_backlog(rig):
    """Setting a receipt URL says what it will push (issue 10): from now on by default; with
    receipt_since, everything after that cursor."""
    before = await send(rig, ["+8613800000021", "+8613800000022"])
    await rig.client.wait_final(before)
    receiver = await ReceiptReceiver().start()
    try:
        async with rig.http.patch("/v1/accounts/demo", json={"receipt_url": receiver.url},
                                  headers=rig.client.auth) as resp:
            view = await resp.json()
        assert view["receipt_cursor"] >= 2  # the two finals before are behind the push position
        after = await send(rig, ["+8613800000023"])
        await receiver.wait_for(after)
        assert receiver.acknowledged_ids() == after
        async with rig.http.patch("/v1/accounts/demo", json={"receipt_since": 0}, headers=rig.client.auth) as resp:
            assert resp.status == 200 and (await resp.json())["receipt_cursor"] == 0
        await receiver.wait_for(before + after)
        assert sorted(receiver.acknowledged_ids()) == sorted(after + before + after)  # the replay, in full
        replay = receiver.acknowledged_ids()[1:]
        assert [int(i) for i in replay] == sorted(int(i) for i in replay)  # in cursor order
    finally:
        await receiver.stop()


async def test_unreachable_endpoint_gets_the_receipts_once_it_answers(rig):
    receiver = await ReceiptReceiver().start()
    url = receiver.url
    await receiver.stop()  # the port is closed: POSTs fail to connect
    await set_receipt_url(rig, url)
    ids = await send(rig, ["+8613800000031"])
    await rig.client.wait_final(ids)
    await eventually(lambda: rig.engine.callbacks.failed_posts > 0, 10)
    # a new endpoint (same account) takes over; the failed receipts reach it
    receiver = await ReceiptReceiver().start()
    try:
        await set_receipt_url(rig, receiver.url)
        await receiver.wait_for(ids)
        assert receiver.acknowledged_ids() == ids
    finally:
        await receiver.stop()


async def test_alarm_threshold_posts_to_the_alarm_url(tmp_path):
    """SPEC §4: crossing the account's daily alarm threshold logs, counts and calls back."""
    from smsengine.config import LimitsConfig
    from tests.support.rig import demo_account

    alarms: list[dict] = []

    async def receive(request: web.Request) -> web.Response:
        alarms.append(await request.json())
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/alarm", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    limits = LimitsConfig(daily_max=100, same_content_max=100, alarm_threshold=5,
                          alarm_url=f"http://{host}:{port}/alarm")
    rig = await start_rig(tmp_path, [fast_profile("ideal")], accounts=[demo_account(limits=limits)])
    try:
        status, _ = await rig.client.send([f"+86138{i:08d}" for i in range(4)])
        assert status == 200
        # the alarm is raised inside the request that crosses the threshold, before it answers
        assert rig.engine.intake.stats.alarms == 0  # 4 of 5: no alarm yet
        await rig.client.send([f"+86139{i:08d}" for i in range(3)])
        assert rig.engine.intake.stats.alarms == 1
        await eventually(lambda: alarms, 5)
        assert len(alarms) == 1
        assert alarms[0]["app_id"] == "demo" and alarms[0]["event"] == "daily_threshold"
        assert alarms[0]["accepted_today"] >= 5
        await rig.client.send([f"+86137{i:08d}" for i in range(3)])
        assert rig.engine.intake.stats.alarms == 1  # once per account per day: nothing more to post
        assert rig.engine.callbacks.alarms_sent == 1 and len(alarms) == 1
    finally:
        await stop_rig(rig)
        await runner.cleanup()
