"""The callback pusher over real sockets and a real store: one account's slow endpoint does not hold
up another's or dispatch, a failing one is retried with backoff and still gets every report in
order, and a restart or a spill to the store resumes from the durable cursor without losing or
repeating what was acknowledged."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
from structlog.testing import capture_logs

from carriers.group import SimulatorGroup
from smsengine.config import AccountConfig, CallbacksConfig
from smsengine.engine.accounts import AccountRegistry
from smsengine.engine.callbacks import CallbackPusher
from smsengine.engine.records import MessageFinal, MessageRecord, MessageStatus
from smsengine.engine.services import Engine
from smsengine.engine.store import Store
from tests.support.polling import eventually
from tests.support.rig import ADMIN, Client, db_rows, engine_config, fast_profile, start_rig, start_server, stop_rig
from tests.support.sink import ReceiptReceiver


def numbers(prefix: int, count: int) -> list[str]:
    return [f"+86{prefix}{i:08d}" for i in range(count)]


async def refusing() -> ReceiptReceiver:
    """An endpoint whose port is closed (connections refused) until `start(port=receiver.port)`."""
    receiver = await ReceiptReceiver().start()
    await receiver.stop()
    return receiver


def pushed_cursor(engine, app_id: str = "demo") -> int:
    """The durable push position, as another connection reads it."""
    [(cursor,)] = db_rows(engine, "SELECT pushed_cursor FROM accounts WHERE app_id=?", (app_id,))
    return cursor


async def test_a_slow_endpoint_holds_up_neither_another_account_nor_dispatch(tmp_path):
    # a held POST is slow, not failed: the POST timeout is longer than the test holds it
    rig = await start_rig(tmp_path, [fast_profile("ideal")], callbacks=CallbacksConfig(timeout_s=30))
    slow = await ReceiptReceiver().start()
    fast = await ReceiptReceiver().start()
    try:
        async with rig.http.post("/v1/accounts", headers={"X-Admin-Token": ADMIN}, json={
                "app_id": "acme", "key": "acme-key", "raw_content": True, "balance": 1000,
                "signatures": [{"name": "smsengine"}], "limits": {"daily_max": 1000, "same_content_max": 1000}}) as r:
            assert r.status == 201, await r.json()
        acme = Client(rig.http, app_id="acme", key="acme-key")
        await rig.client.patch_account(receipt_url=slow.url)
        await acme.patch_account(receipt_url=fast.url)
        slow.hold = asyncio.Event()
        held = await rig.client.accepted(numbers(138, 10))
        await eventually(lambda: slow.holding >= 1, 10)
        # dispatch goes on: the slow account's next messages become final while its POSTs wait
        held += await rig.client.accepted(numbers(139, 10))
        await rig.client.wait_final(held)
        theirs = await acme.accepted(numbers(137, 5), content="Your parcel is on its way")
        await fast.wait_for(theirs)
        assert slow.holding >= 1 and not slow.acknowledged  # the slow endpoint has not answered once
        assert sorted(fast.acknowledged_ids()) == sorted(theirs)
        slow.hold.set()
        await slow.wait_for(held)
        assert sorted(slow.acknowledged_ids()) == sorted(held)
        assert not slow.failed and rig.engine.callbacks.failed_posts == 0
    finally:
        await stop_rig(rig)
        await slow.stop()
        await fast.stop()


async def test_a_failing_endpoint_is_retried_with_backoff_and_gets_every_report_in_cursor_order(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")],
                          callbacks=CallbacksConfig(concurrency=1, max_backoff_s=1.0))
    receiver = await ReceiptReceiver(fail_first=3).start()
    try:
        await rig.client.patch_account(receipt_url=receiver.url)
        ids: list[str] = []
        for block in range(4):
            ids += await rig.client.accepted(numbers(130 + block, 5))
        await receiver.wait_for(ids)
        assert rig.engine.callbacks.failed_posts == 3
        first, *retries = receiver.posts[:4]
        assert [p.status for p in receiver.posts[:4]] == [500, 500, 500, 200]
        assert {p.body for p in retries} == {first.body}  # the refused batch again, as it was
        # 0.5 s after the first failure, then doubling up to max_backoff_s: not one POST per millisecond
        gaps = [b.at - a.at for a, b in zip(receiver.posts, receiver.posts[1:4])]
        assert gaps[0] >= 0.45 and gaps[1] >= 0.9 and gaps[2] >= 0.9, gaps
        items = receiver.acknowledged_items()
        assert sorted(i["message_id"] for i in items) == sorted(ids)  # every report, none twice
        cursors = [i["cursor"] for i in items]
        assert cursors == sorted(cursors)  # one POST at a time: in cursor order
    finally:
        await stop_rig(rig)
        await receiver.stop()


async def test_an_endpoint_failing_for_a_while_gets_a_few_attempts_then_everything(tmp_path):
    """Several POSTs in flight (concurrency 4) share the URL's backoff."""
    rig = await start_rig(tmp_path, [fast_profile("ideal")], callbacks=CallbacksConfig(max_backoff_s=2.0))
    receiver = await ReceiptReceiver().start()
    try:
        await rig.client.patch_account(receipt_url=receiver.url)
        receiver.failing = True
        ids: list[str] = []
        for block in range(6):
            ids += await rig.client.accepted(numbers(130 + block, 3))
            await asyncio.sleep(0.05)
        await rig.client.wait_final(ids)
        await asyncio.sleep(1.5)  # the outage goes on
        receiver.failing = False
        attempts = len(receiver.failed)
        assert 0 < attempts <= 20, attempts  # a few per POST in flight, not hundreds
        await receiver.wait_for(ids)
        assert sorted(receiver.acknowledged_ids()) == sorted(ids)
        assert rig.engine.callbacks.failed_posts == len(receiver.failed)  # each retried until acknowledged
    finally:
        await stop_rig(rig)
        await receiver.stop()


@contextlib.asynccontextmanager
async def running(config, tmp_path) -> AsyncIterator[tuple[Engine, Client]]:
    """One run of the engine on the test's store file, and a customer's client; a clean stop
    (which saves the push position) at the end."""
    server = await start_server(config, tmp_path)
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
            yield server.engine, Client(http)
    finally:
        await server.stop(drain_timeout=1.0)


async def test_a_restart_resumes_the_backlog_from_the_durable_cursor(tmp_path):
    """The endpoint is down (refusing) the whole time before the restart: nothing was acknowledged,
    so everything arrives after it, read back from the store, and nothing twice."""
    receiver = await refusing()
    async with SimulatorGroup([fast_profile("ideal")]) as sims:
        config = engine_config(tmp_path, sims.ports, callbacks=CallbacksConfig(max_backoff_s=0.5))
        async with running(config, tmp_path) as (engine, client):
            before = (await client.patch_account(receipt_url=receiver.url))["receipt_cursor"]
            ids: list[str] = []
            for block in range(3):
                ids += await client.accepted(numbers(130 + block, 10))
            await client.wait_final(ids)
            await eventually(lambda: engine.callbacks.failed_posts > 0, 5)
        assert pushed_cursor(engine) == before  # nothing acknowledged: the position did not move
        try:
            async with running(config, tmp_path) as (engine, _):
                assert engine.callbacks.position("demo", "receipts") == before
                await receiver.start(port=receiver.port)
                await receiver.wait_for(ids)
                assert sorted(receiver.acknowledged_ids()) == sorted(ids)
                newest = max(i["cursor"] for i in receiver.acknowledged_items())
                await eventually(lambda: pushed_cursor(engine) == newest, 5)  # within cursor_every_s
        finally:
            await receiver.stop()


async def test_a_restart_part_way_through_pushes_only_what_was_not_acknowledged(tmp_path):
    """The endpoint acknowledges one POST, then refuses: after a stop and a start the rest comes,
    read back from the store after the saved position, and what was acknowledged does not."""
    receiver = await ReceiptReceiver(fail_after=1).start()
    try:
        async with SimulatorGroup([fast_profile("ideal")]) as sims:
            config = engine_config(tmp_path, sims.ports,
                                   callbacks=CallbacksConfig(concurrency=1, batch=4, max_backoff_s=0.5))
            async with running(config, tmp_path) as (engine, client):
                await client.patch_account(receipt_url=receiver.url)
                ids = await client.accepted(numbers(130, 20))
                await client.wait_final(ids)
                await eventually(lambda: receiver.failed, 5)
            first = receiver.acknowledged_items()
            assert 0 < len(first) <= 4 and pushed_cursor(engine) == max(i["cursor"] for i in first)
            receiver.fail_after = None
            async with running(config, tmp_path):
                await receiver.wait_for(ids)
            assert sorted(receiver.acknowledged_ids()) == sorted(ids)  # the first POST's reports once
            cursors = [i["cursor"] for i in receiver.acknowledged_items()]
            assert cursors == sorted(cursors)
    finally:
        await receiver.stop()


async def test_a_restart_after_everything_was_pushed_pushes_nothing_again(tmp_path):
    receiver = await ReceiptReceiver().start()
    try:
        async with SimulatorGroup([fast_profile("ideal")]) as sims:
            # one POST at a time: anything pushed again after the restart would come before what is new
            config = engine_config(tmp_path, sims.ports, callbacks=CallbacksConfig(concurrency=1))
            async with running(config, tmp_path) as (engine, client):
                await client.patch_account(receipt_url=receiver.url)
                ids = await client.accepted(numbers(130, 10))
                await receiver.wait_for(ids)
                first_run = receiver.acknowledged_ids()
                newest = max(i["cursor"] for i in receiver.acknowledged_items())
                await eventually(lambda: pushed_cursor(engine) == newest, 5)
            async with running(config, tmp_path) as (engine, client):
                later = await client.accepted(numbers(131, 3))
                await receiver.wait_for(later)
            assert receiver.acknowledged_ids()[:len(ids)] == first_run
            assert sorted(receiver.acknowledged_ids()) == sorted(ids + later)
    finally:
        await receiver.stop()


async def test_a_backlog_beyond_memory_rows_spills_to_the_store_and_arrives_once(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")],
                          callbacks=CallbacksConfig(memory_rows=5, max_backoff_s=0.5))
    receiver = await refusing()
    try:
        await rig.client.patch_account(receipt_url=receiver.url)
        with capture_logs() as logs:
            ids: list[str] = []
            for block in range(8):  # more than the 4 POSTs in flight take and memory_rows can hold
                ids += await rig.client.accepted(numbers(130 + block, 5))
            await rig.client.wait_final(ids)
            await eventually(lambda: any(e["event"] == "callbacks.spilled" for e in logs), 5,
                             lambda: f"logged {[e['event'] for e in logs]}")
            assert rig.engine.callbacks.backlog() <= 5
            await receiver.start(port=receiver.port)
            await receiver.wait_for(ids)
        # what was taken before the spill stays in flight; the rest is read back after it: each once
        assert sorted(receiver.acknowledged_ids()) == sorted(ids)
        spills = [e for e in logs if e["event"] == "callbacks.spilled"]
        assert len(spills) <= 3  # reading the backlog back does not spill it again (and again)
    finally:
        await stop_rig(rig)
        await receiver.stop()


async def test_a_final_while_the_pusher_starts_is_pushed(tmp_path):
    """A restart with receipts coming in: finals reach the pusher while its start() is still making
    the feeds of other accounts, after the first account's feed read the store and caught up."""
    receiver = await ReceiptReceiver().start()
    store = Store(tmp_path / "s.db")
    await store.open()
    registry = AccountRegistry(store, "CN")
    pusher = CallbackPusher(store, registry, CallbacksConfig(), allow_private=True)
    try:
        await registry.seed([AccountConfig(app_id="demo", key="k", receipt_url=receiver.url)]
                            + [AccountConfig(app_id=f"other{i:04}", key="k") for i in range(300)])
        await registry.load()
        await store.accept([MessageRecord(id=1, app_id="demo", phone="+8613800000001", content="hi", type="regular",
                                          chars=2, segments=1, data_coding=8, created_at=time.time())])
        starting = asyncio.create_task(pusher.start())
        feed = await eventually(lambda: pusher.feeds.get(("receipts", "demo")), 5, interval=0.001)
        await eventually(lambda: not feed.from_store, 5, interval=0.001)  # caught up: memory from now
        assert not starting.done()
        final = MessageFinal(1, "demo", "+8613800000001", MessageStatus.DELIVERED, 0, "DELIVRD", time.time() - 1,
                             time.time())
        pusher.on_final(final, store.message_final(final))
        await starting
        await receiver.wait_for(["1"], timeout=3)
    finally:
        await pusher.stop()
        await store.close()
        await receiver.stop()
