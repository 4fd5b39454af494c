"""Replies (MO) through the API: a handset's reply is listed by /v1/replies, an unsubscribe keyword
puts the number on the account's list (1015 on the next send) until the account lifts it."""


import asyncio

import pytest

from carriers.config import MoReplies
from tests.support.polling import eventually
from tests.support.rig import fast_profile, start_rig, stop_rig

NUMBER = "+8613800000001"


async def replies(rig, since: int = 0) -> dict:
    async with rig.http.get("/v1/replies", params={"since": str(since)}, headers=rig.client.auth) as resp:
        assert resp.status == 200
        return await resp.json()


async def wait_for_replies(rig, count: int, timeout: float = 10.0) -> dict:
    async def enough() -> dict | None:
        page = await replies(rig)
        return page if len(page["replies"]) >= count else None

    return await eventually(enough, timeout)


@pytest.mark.parametrize("keyword", ["TD", " unsubscribe "])
async def test_unsubscribe_reply_blocks_later_sends_until_lifted(tmp_path, keyword):
    profile = fast_profile("ideal", mo=MoReplies(share=1.0, delay=(0.0, 1.0), mix={keyword: 1.0}))
    rig = await start_rig(tmp_path, [profile])
    try:
        _, body = await rig.client.send([NUMBER])
        assert body["results"][0]["code"] == 0
        page = await wait_for_replies(rig, 1)
        (reply,) = page["replies"]
        assert reply["phone"] == NUMBER and reply["text"].strip().lower() == keyword.strip().lower()
        assert reply["carrier"] == "ideal" and page["next_cursor"] == reply["cursor"]
        assert (await replies(rig, page["next_cursor"]))["replies"] == []

        async with rig.http.get("/v1/unsubscribes", headers=rig.client.auth) as resp:
            assert (await resp.json())["phones"] == [NUMBER]
        _, body = await rig.client.send([NUMBER, "+8613800000002"])
        assert [r["code"] for r in body["results"]] == [1015, 0]

        async with rig.http.delete("/v1/unsubscribes", json={"app_id": "demo", "phone": NUMBER},
                                   headers=rig.client.auth) as resp:
            assert resp.status == 200
        _, body = await rig.client.send([NUMBER])
        assert body["results"][0]["code"] == 0
    finally:
        await stop_rig(rig)


async def test_ordinary_reply_is_stored_and_does_not_unsubscribe(tmp_path):
    profile = fast_profile("ideal", mo=MoReplies(share=1.0, delay=(0.0, 1.0), mix={"OK thanks": 1.0}))
    rig = await start_rig(tmp_path, [profile])
    try:
        await rig.client.send([NUMBER])
        page = await wait_for_replies(rig, 1)
        assert page["replies"][0]["text"] == "OK thanks"
        _, body = await rig.client.send([NUMBER])
        assert body["results"][0]["code"] == 0
    finally:
        await stop_rig(rig)


@pytest.mark.parametrize("since", ["x", "9" * 30])
async def test_non_integer_or_huge_cursor_is_1004(tmp_path, since):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    try:
        async with rig.http.get("/v1/replies", params={"since": since}, headers=rig.client.auth) as resp:
            assert resp.status == 400
            assert (await resp.json())["code"] == 1004
        page = await replies(rig)
        assert page == {"code": 0, "message": "OK", "replies": [], "next_cursor": 0}
    finally:
        await stop_rig(rig)


async def test_a_reply_after_a_restart_is_attributed_and_unsubscribes(tmp_path):
    """The engine that receives the reply never sent to the number: the store says who did."""
    from carriers.config import Delays
    from carriers.group import SimulatorGroup
    from tests.support.rig import Client, engine_config, start_server

    # the reply comes 2 s after the receipt: by then the engine that sent has been replaced
    profile = fast_profile("ideal", time_scale=1.0, delays=Delays(regular=(0.0, 0.05)),
                           mo=MoReplies(share=1.0, delay=(2.0, 2.0), mix={"TD": 1.0}))
    async with SimulatorGroup([profile]) as sims:
        config = engine_config(tmp_path, sims.ports)
        server = await start_server(config, tmp_path)
        import aiohttp
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
            _, body = await Client(http).send([NUMBER])
            await Client(http).wait_final([body["results"][0]["message_id"]])
        await server.stop(drain_timeout=1.0)
        assert sims["ideal"].counters.mo_sent == 0  # the reply had not come yet

        server = await start_server(config, tmp_path)
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
                client = Client(http)

                async def listed():
                    async with http.get("/v1/replies", params={"since": "0"}, headers=client.auth) as resp:
                        page = await resp.json()
                    return page["replies"] or None

                [reply] = await eventually(listed, 10.0)
                assert (reply["phone"], reply["text"]) == (NUMBER, "TD")
                _, body = await client.send([NUMBER])
                assert body["results"][0]["code"] == 1015  # unsubscribed by the reply
        finally:
            await server.stop(drain_timeout=1.0)


async def test_a_reply_outside_the_attribution_window_is_unattributed_and_shown_to_the_operator(tmp_path):
    """With a window shorter than the reply's delay, nobody sent to the number 'recently'."""
    from smsengine.config import RepliesConfig
    from tests.support.rig import ADMIN

    profile = fast_profile("ideal", mo=MoReplies(share=1.0, delay=(0.0, 1.0), mix={"TD": 1.0}))
    rig = await start_rig(tmp_path, [profile], replies=RepliesConfig(attribution_window_s=1e-6))
    try:
        await rig.client.send([NUMBER])

        async def unattributed():
            async with rig.http.get("/v1/replies/unattributed", params={"since": "0"},
                                    headers={"X-Admin-Token": ADMIN}) as resp:
                assert resp.status == 200
                return (await resp.json())["replies"] or None

        [reply] = await eventually(unattributed, 10.0)
        assert (reply["phone"], reply["text"]) == (NUMBER, "TD")
        assert (await replies(rig))["replies"] == []  # not the account's
        _, body = await rig.client.send([NUMBER])
        assert body["results"][0]["code"] == 0  # and it unsubscribed nobody
        async with rig.http.get("/v1/replies/unattributed", headers=rig.client.auth) as resp:
            assert resp.status in (401, 403)  # the operator's view only
    finally:
        await stop_rig(rig)


async def test_replies_are_pushed_to_the_reply_url_once_each(tmp_path):
    from tests.support.sink import json_sink

    profile = fast_profile("ideal", mo=MoReplies(share=1.0, delay=(0.0, 1.0), mix={"see you": 1.0}))
    rig = await start_rig(tmp_path, [profile])
    try:
        async with json_sink("/replies") as sink:
            async with rig.http.patch("/v1/accounts/demo", json={"reply_url": sink.url},
                                      headers=rig.client.auth) as resp:
                assert resp.status == 200 and (await resp.json())["reply_url"] == sink.url
            await rig.client.send([NUMBER, "+8613800000002"])
            await eventually(lambda: len(sink.items) >= 2, 10.0)
            assert sorted((r["phone"], r["text"]) for r in sink.items) == [
                (NUMBER, "see you"), ("+8613800000002", "see you")]
            # the acknowledged position is written within callbacks.cursor_every_s
            await eventually(lambda: rig.engine.callbacks.feeds[("replies", "demo")].saved == max(
                r["cursor"] for r in sink.items), 5.0)
            assert await rig.engine.store.reply_cursor("demo") == max(r["cursor"] for r in sink.items)
            await asyncio.sleep(1.5)  # the pusher looks every second: nothing is pushed twice
            assert len(sink.items) == 2
    finally:
        await stop_rig(rig)
