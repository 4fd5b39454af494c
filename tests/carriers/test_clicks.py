"""Simulated recipients open short links: which link a message carries, who clicks (replayable from
seed, number and link), the GET itself (redirect not followed, failures counted), and end to end
the engine counting the click a simulator made on a link it delivered."""

from __future__ import annotations

import socket

import pytest
from aiohttp import web

from carriers.behaviour import SubmitContext
from carriers.clicks import find_link
from carriers.config import CarrierConfigError, LinkClicks, parse_carriers
from carriers.profile import ProfileBehaviour
from smsengine.smpp.pdu import SubmitSm
from tests.carriers.carrier_harness import bound, make_profile, running
from tests.support.polling import eventually
from tests.support.rig import fast_profile, start_rig, stop_rig

LINK = "http://127.0.0.1:8080/s/AbC1234"


@pytest.mark.parametrize(("text", "link"), [
    (f"Sale today {LINK}. Reply TD to stop", LINK),
    (f"{LINK}", LINK),
    ("Shop at https://t.example.cn/go/s/Zz9Yy8X, now", "https://t.example.cn/go/s/Zz9Yy8X"),
    (f"({LINK}) and http://other.example/s/Second1", LINK),  # the first one
    ("no link http://example.com/sale here", None),
    ("not a link: /s/AbC1234 or ftp://h/s/AbC1234", None),
    ("", None),
])
def test_the_short_link_a_text_carries(text, link):
    assert find_link(text) == link


def context(number: str, text: str) -> SubmitContext:
    pdu = SubmitSm(destination_addr=number, short_message=text.encode("ascii"))
    return SubmitContext(pdu, "smsengine", number, pdu.short_message, None, 0.0)


def clickers(behaviour: ProfileBehaviour, numbers: list[str], text: str) -> dict[str, float]:
    out = {}
    for number in numbers:
        ctx = context(number, text)
        click = behaviour.link_click(ctx, behaviour.on_submit(ctx))
        if click is not None:
            out[number] = click.delay
    return out


def test_who_clicks_and_when_replays_from_the_seed_number_and_link():
    numbers = [f"86138{i:08d}" for i in range(1000)]
    profile = make_profile(clicks=LinkClicks(share=0.3, delay=(2.0, 10.0)))
    runs = [clickers(ProfileBehaviour(profile, {}), numbers, f"Sale {LINK}") for _ in range(2)]
    assert runs[0] == runs[1]  # the same numbers, after the same delays
    assert 240 < len(runs[0]) < 360 and all(2.0 <= d <= 10.0 for d in runs[0].values())
    other_seed = clickers(ProfileBehaviour(make_profile(seed=2, clicks=profile.clicks), {}), numbers, f"Sale {LINK}")
    other_link = clickers(ProfileBehaviour(profile, {}), numbers, "Sale http://127.0.0.1:8080/s/Other12")
    assert set(other_seed) != set(runs[0]) and set(other_link) != set(runs[0])


def test_only_delivered_messages_with_a_link_are_clicked():
    behaviour = ProfileBehaviour(make_profile(clicks=LinkClicks(share=1.0), sensitive_words=["casino"]), {})
    assert clickers(behaviour, ["8613800000001"], f"Sale {LINK}")
    assert not clickers(behaviour, ["8613800000001"], "Sale, no link")
    assert not clickers(behaviour, ["8613800000001"], f"casino {LINK}")  # rejected: never on a handset
    assert not clickers(ProfileBehaviour(make_profile(), {}), ["8613800000001"], f"Sale {LINK}")  # share 0
    assert not ProfileBehaviour(make_profile(), {}).link_clicks  # and then the server keeps no client


@pytest.mark.parametrize("clicks", [
    {"share": 1.5}, {"delay": [5.0, 1.0]}, {"concurrency": 0}, {"pending_max": 0}, {"timeout_s": 0},
])
def test_click_settings_out_of_range_are_refused(clicks):
    with pytest.raises(CarrierConfigError, match="clicks"):
        parse_carriers({"carriers": [{"name": "c", "clicks": clicks}]})


async def link_site() -> tuple[web.AppRunner, int, list[str], list[str]]:
    """A site whose /s/{code} answers 302 to /target: user agents of the clicks, and of any follow."""
    clicks: list[str] = []
    follows: list[str] = []

    async def short(request: web.Request) -> web.Response:
        clicks.append(request.headers.get("User-Agent", ""))
        return web.Response(status=302, headers={"Location": "/target"})

    async def target(request: web.Request) -> web.Response:
        follows.append(request.path)
        return web.Response(text="the shop")

    app = web.Application()
    app.router.add_get("/s/{code}", short)
    app.router.add_get("/target", target)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1], clicks, follows  # type: ignore[union-attr]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_a_click_is_one_get_of_the_link_and_a_refused_one_is_counted_as_failed():
    runner, port, clicks, follows = await link_site()
    profile = make_profile(clicks=LinkClicks(share=1.0, delay=(0.0, 1.0), timeout_s=5.0))
    try:
        async with running(profile) as server, bound(server) as esme:
            for number, host in (("8613800000001", f"127.0.0.1:{port}"), ("8613800000002", f"127.0.0.1:{closed_port()}")):
                text = f"Sale http://{host}/s/AbC1234 today".encode("ascii")
                resp = await esme.request(SubmitSm(destination_addr=number, registered_delivery=1, short_message=text))
                assert resp.command_status == 0
            counters = server.counters
            await eventually(lambda: counters.clicks_sent + counters.clicks_failed == 2)
            assert (counters.clicks_sent, counters.clicks_failed, counters.clicks_dropped) == (1, 1, 0)
            assert len(clicks) == 1 and "simulated handset" in clicks[0] and follows == []  # no redirect followed
            assert server.counters.snapshot()["clicks_sent"] == 1
    finally:
        await runner.cleanup()


async def test_the_engine_counts_the_click_a_simulator_made_on_a_delivered_link(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal", clicks=LinkClicks(share=1.0, delay=(0.0, 1.0)))])
    try:
        auth = rig.client.auth
        async with rig.http.post("/v1/links", json={"url": "https://shop.example.cn/sale"}, headers=auth) as resp:
            assert resp.status == 201
            code = (await resp.json())["code"]
        link = f"http://127.0.0.1:{rig.server.http_port}/s/{code}"  # the engine's real address, not the config's
        status, body = await rig.client.send(["+8613800000001", "+8613800000002"], content=f"Sale today {link} TD stop")
        assert status == 200 and [r["code"] for r in body["results"]] == [0, 0]
        views = await rig.client.wait_final([r["message_id"] for r in body["results"]])
        assert {v["status"] for v in views.values()} == {"delivered"}

        counters = rig.simulators["ideal"].counters

        async def both_counted() -> bool:
            async with rig.http.get(f"/v1/links/{code}/stats", headers=auth) as resp:
                engine_count = (await resp.json())["clicks"]
            return engine_count == 2 and counters.clicks_sent == 2  # the simulator counts once answered

        await eventually(both_counted, 10.0)
        assert counters.clicks_failed == 0
    finally:
        await stop_rig(rig)
