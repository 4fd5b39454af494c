"""Receipt callbacks over real sockets: the engine POSTs signed JSON arrays of status reports to
the account's receipt_url (or a send's own callback_url), retries a failed POST (at least once)
and never repeats an acknowledged one."""

import asyncio
import time

import pytest

from smsengine.config import CallbacksConfig, HttpConfig
from smsengine.engine.callbacks import signature
from tests.support.polling import eventually
from tests.support.rig import ADMIN, fast_profile, start_rig, stop_rig
from tests.support.sink import ReceiptReceiver, signed_with

RECEIPT_FIELDS = {"cursor", "message_id", "phone", "status", "code", "remark", "submitted_at", "final_at", "context"}


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def set_receipt_url(rig, url: str) -> None:
    assert (await rig.client.patch_account(receipt_url=url))["receipt_url"] == url


async def pulled(client) -> list[dict]:
    """The account's status reports as GET /v1/receipts reads them from the store."""
    async with client.http.get("/v1/receipts", params={"since": 0, "limit": 1000}, headers=client.auth) as resp:
        return (await resp.json())["receipts"]


async def test_every_receipt_is_pushed_with_its_fields(rig):
    receiver = await ReceiptReceiver().start()
    try:
        await set_receipt_url(rig, receiver.url)
        ids = await rig.client.accepted(["+8613800000001", "+8613800000002", "+8613800000003"], context="cb-ctx")
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
        # pushed from memory, they are what the store gives a pull (and a push after a restart)
        assert sorted(items, key=lambda i: i["cursor"]) == await pulled(rig.client)
    finally:
        await receiver.stop()


async def test_failed_push_is_retried_and_acknowledged_ones_are_not_repeated(rig):
    receiver = await ReceiptReceiver(fail_first=1).start()
    try:
        await set_receipt_url(rig, receiver.url)
        ids = await rig.client.accepted(["+8613800000011", "+8613800000012", "+8613800000013"])
        await receiver.wait_for(ids)
        assert len(receiver.failed) == 1 and receiver.failed[0]
        refused = {item["message_id"] for item in receiver.failed[0]}
        assert refused <= set(receiver.acknowledged_ids())  # the refused batch came again
        assert sorted(receiver.acknowledged_ids()) == sorted(ids)
        # a later receipt arrives alone: nothing acknowledged is pushed a second time
        (later,) = await rig.client.accepted(["+8613800000014"])
        await receiver.wait_for([later])
        assert receiver.acknowledged[-1] == [item for item in receiver.acknowledged[-1] if item["message_id"] == later]
        assert sorted(receiver.acknowledged_ids()) == sorted(ids + [later])
        assert rig.engine.callbacks.failed_posts == 1
    finally:
        await receiver.stop()


async def test_a_first_url_pushes_from_now_on_and_since_replays_the_backlog(rig):
    """Setting a receipt URL says what it will push (issue 10): from now on by default; with
    receipt_since, everything after that cursor."""
    before = await rig.client.accepted(["+8613800000021", "+8613800000022"])
    await rig.client.wait_final(before)
    receiver = await ReceiptReceiver().start()
    try:
        async with rig.http.patch("/v1/accounts/demo", json={"receipt_url": receiver.url},
                                  headers=rig.client.auth) as resp:
            view = await resp.json()
        assert view["receipt_cursor"] >= 2  # the two finals before are behind the push position
        after = await rig.client.accepted(["+8613800000023"])
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
    ids = await rig.client.accepted(["+8613800000031"])
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


async def test_alarm_threshold_posts_a_signed_alarm_to_the_alarm_url(tmp_path):
    """SPEC §4: crossing the account's daily alarm threshold logs, counts and calls back, signed
    like every callback."""
    from smsengine.config import LimitsConfig
    from tests.support.rig import demo_account

    receiver = await ReceiptReceiver().start()
    alarms = receiver.acknowledged
    limits = LimitsConfig(daily_max=100, same_content_max=100, alarm_threshold=5, alarm_url=receiver.url)
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
        [post] = receiver.posts
        assert signed_with("demo-secret", post) and not signed_with("another-key", post)
        await rig.client.send([f"+86137{i:08d}" for i in range(3)])
        assert rig.engine.intake.stats.alarms == 1  # once per account per day: nothing more to post
        assert rig.engine.callbacks.alarms_sent == 1 and len(alarms) == 1
    finally:
        await stop_rig(rig)
        await receiver.stop()


# -- signatures ---------------------------------------------------------------------------------------------
async def test_every_receipt_post_is_signed_with_the_accounts_key(rig):
    """A receiver that checks X-Smsengine-Signature with the account's key accepts what we send,
    and would reject the same POST with its body altered."""
    receiver = await ReceiptReceiver(fail_first=1).start()  # a retried POST is signed too
    try:
        await set_receipt_url(rig, receiver.url)
        before = int(time.time())
        ids = await rig.client.accepted(["+8613800000041", "+8613800000042"])
        await receiver.wait_for(ids)
        after = int(time.time())
        assert len(receiver.posts) >= 2 and receiver.posts[0].status == 500
        for post in receiver.posts:
            assert before <= int(post.timestamp) <= after  # unix seconds, when it was signed
            assert post.signature.startswith("sha256=")
            assert signed_with("demo-secret", post)
            assert signature("demo-secret", post.timestamp, post.body) == post.signature  # the documented helper
            assert not signed_with("demo-secret", post._replace(body=post.body.replace(b"delivered", b"failed")))
            assert not signed_with("demo-secret", post._replace(timestamp=str(int(post.timestamp) + 1)))
            assert not signed_with("another-key", post)
    finally:
        await receiver.stop()


# -- a send's own callback_url -------------------------------------------------------------------------------
async def test_a_sends_callback_url_gets_its_receipts_and_the_rest_go_to_the_account_url(tmp_path):
    """Reports of one push batch go out grouped by URL: one POST per URL, none carrying another's."""
    rig = await start_rig(tmp_path, [fast_profile("ideal")], callbacks=CallbacksConfig(concurrency=1))
    account = await ReceiptReceiver().start()
    own = await ReceiptReceiver().start()
    try:
        await set_receipt_url(rig, account.url)
        account.hold = asyncio.Event()  # the first POST waits: the reports after it make one batch
        first = await rig.client.accepted(["+8613800000051"])
        await eventually(lambda: account.holding == 1, 10)
        mine = await rig.client.accepted(["+8613800000052", "+8613800000053"], callback_url=own.url)
        theirs = await rig.client.accepted(["+8613800000054", "+8613800000055"])
        mine += await rig.client.accepted(["+8613800000056"], callback_url=own.url)
        await rig.client.wait_final(mine + theirs)
        await eventually(lambda: rig.engine.callbacks.backlog() == 5, 5,
                         lambda: f"{rig.engine.callbacks.backlog()} reports waiting")
        account.hold.set()
        await own.wait_for(mine)
        await account.wait_for(first + theirs)
        assert sorted(own.acknowledged_ids()) == sorted(mine)
        assert sorted(account.acknowledged_ids()) == sorted(first + theirs)
        assert len(own.acknowledged) == 1  # the send's three reports in one POST
        assert [sorted(i["message_id"] for i in batch) for batch in account.acknowledged] == [first, sorted(theirs)]
        assert not own.failed and not account.failed
    finally:
        await stop_rig(rig)
        await account.stop()
        await own.stop()


async def test_a_callback_url_needs_no_account_url(rig):
    own = await ReceiptReceiver().start()
    try:
        assert (await rig.client.account())["receipt_url"] == ""
        nowhere = await rig.client.accepted(["+8613800000061"])
        mine = await rig.client.accepted(["+8613800000062"], callback_url=own.url)
        await own.wait_for(mine)
        await rig.client.wait_final(nowhere)
        later = await rig.client.accepted(["+8613800000063"], callback_url=own.url)
        await own.wait_for(later)
        assert own.acknowledged_ids() == mine + later
    finally:
        await own.stop()


async def test_setting_a_first_account_url_keeps_what_is_owed_to_a_sends_own_url(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")], callbacks=CallbacksConfig(max_backoff_s=0.3))
    own = await ReceiptReceiver().start()
    await own.stop()  # refusing for now
    account = await ReceiptReceiver().start()
    try:
        mine = await rig.client.accepted(["+8613800000065", "+8613800000066"], callback_url=own.url)
        await rig.client.wait_final(mine)
        await eventually(lambda: rig.engine.callbacks.failed_posts > 0, 5)
        await set_receipt_url(rig, account.url)  # "from now on" is about the account's own reports
        await own.start(port=own.port)
        await own.wait_for(mine, timeout=3)
        later = await rig.client.accepted(["+8613800000067"])
        await account.wait_for(later)
        assert account.acknowledged_ids() == later  # nothing from before the URL was set
    finally:
        await stop_rig(rig)
        await own.stop()
        await account.stop()


@pytest.mark.parametrize("url", ["ftp://example.com/receipts", "example.com/receipts", "http://", "https:///path",
                                 "mailto:ops@example.com", "javascript:alert(1)"])
async def test_a_callback_url_that_is_not_http_is_refused(rig, url):
    balance = (await rig.client.account())["balance"]
    status, body = await rig.client.send(["+8613800000071"], callback_url=url)
    assert status == 400
    assert body["code"] == 1004 and "callback_url" in body["message"]
    assert (await rig.client.account())["balance"] == balance  # nothing was accepted


async def test_a_private_callback_url_is_refused_unless_private_callbacks_are_allowed(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")], http=HttpConfig(port=0, admin_token=ADMIN))
    try:
        for url in ("http://127.0.0.1:8080/receipts", "http://10.1.2.3/receipts", "http://localhost/receipts"):
            status, body = await rig.client.send(["+8613800000081"], callback_url=url)
            assert (status, body["code"]) == (400, 1004), url
            assert "callback_url: " in body["message"], body
    finally:
        await stop_rig(rig)


async def test_a_dead_callback_url_of_one_send_is_given_up_and_the_account_flows_on(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")],
                          callbacks=CallbacksConfig(concurrency=1, max_backoff_s=0.05, message_url_attempts=3))
    dead = await ReceiptReceiver().start()
    await dead.stop()
    account = await ReceiptReceiver().start()
    try:
        await set_receipt_url(rig, account.url)
        lost = await rig.client.accepted(["+8613800000091"], callback_url=dead.url)
        later = await rig.client.accepted(["+8613800000092"])
        await account.wait_for(later)  # one sender, and it was not held by the dead URL for good
        assert rig.engine.callbacks.abandoned == len(lost)
        assert rig.engine.callbacks.failed_posts == 3
    finally:
        await stop_rig(rig)
        await account.stop()


async def test_a_backlog_cursor_ahead_of_the_newest_is_refused(rig):
    async with rig.http.patch("/v1/accounts/demo", json={"receipt_since": 10**9}, headers=rig.client.auth) as resp:
        body = await resp.json()
    assert (resp.status, body["code"]) == (400, 1004) and "ahead of the newest" in body["message"]
