"""Short links over HTTP: POST /v1/links makes a code, GET /s/{code} redirects (302) and counts the
click, GET /v1/links/{code}/stats gives the owner (or the operator) the clicks in all and per UTC
hour, kept across a restart; unknown codes are 404 (1011), bad URLs 1004, the bound 1053."""

import time

import aiohttp
import pytest

from carriers.group import SimulatorGroup
from smsengine.api.openapi import openapi_document
from smsengine.config import LinksConfig
from smsengine.domain.shortlinks import hour_of
from tests.api.test_openapi import answer_errors
from tests.support.rig import ADMIN, Client, db_rows, engine_config, fast_profile, start_rig, start_server, stop_rig

OPERATOR = {"X-Admin-Token": ADMIN}
URL = "https://shop.example.cn/sale?utm_source=sms&id=42"
BASE = "https://t.example.cn"
HANDSET = "Mozilla/5.0 (Linux; Android 14; Pixel 8) " + "x" * 300


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")], links=LinksConfig(public_base_url=BASE, max_per_account=3))
    yield rig
    await stop_rig(rig)


async def create(http, url: str = URL, headers: dict | None = None, **body) -> tuple[int, dict]:
    async with http.post("/v1/links", json={"url": url, **body},
                         headers=headers or {"X-App-Id": "demo", "X-App-Key": "demo-secret"}) as resp:
        return resp.status, await resp.json()


async def follow(http, code: str) -> aiohttp.ClientResponse:
    async with http.get(f"/s/{code}", allow_redirects=False, headers={"User-Agent": HANDSET}) as resp:
        await resp.read()
        return resp


async def stats(http, code: str, headers: dict) -> tuple[int, dict]:
    async with http.get(f"/v1/links/{code}/stats", headers=headers) as resp:
        return resp.status, await resp.json()


def documented(path: str, method: str, status: int, body) -> list[str]:
    return answer_errors(openapi_document(), path, method, status, body)


async def test_a_link_redirects_counts_its_clicks_and_keeps_them_across_a_restart(tmp_path):
    demo = {"X-App-Id": "demo", "X-App-Key": "demo-secret"}
    async with SimulatorGroup([fast_profile("ideal")]) as sims:
        config = engine_config(tmp_path, sims.ports, links=LinksConfig(public_base_url=BASE))
        server = await start_server(config, tmp_path)
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
                status, link = await create(http)
                assert status == 201 and documented("/v1/links", "POST", 201, link) == []
                code = link["code"]
                assert link["url"] == URL and link["app_id"] == "demo" and link["short_url"] == f"{BASE}/s/{code}"
                first = hour_of(time.time())
                resp = await follow(http, code)
                last = hour_of(time.time())
                assert resp.status == 302 and resp.headers["Location"] == URL
                status, body = await stats(http, code, demo)
                assert status == 200 and documented("/v1/links/{code}/stats", "GET", 200, body) == []
                assert body["clicks"] == 1 and body["link"] == link
                (bucket,) = body["hours"]
                assert bucket["clicks"] == 1 and bucket["hour"] in (first, last)
                assert db_rows(server.engine, "SELECT code, user_agent FROM link_clicks") == [(code, HANDSET[:256])]
        finally:
            await server.stop(drain_timeout=1.0)

        server = await start_server(config, tmp_path)
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
                status, body = await stats(http, code, demo)
                assert (status, body["clicks"], body["link"]) == (200, 1, link)
                resp = await follow(http, code)
                assert resp.status == 302 and resp.headers["Location"] == URL
                status, body = await stats(http, code, OPERATOR)  # the operator reads any link
                assert (status, body["clicks"], sum(h["clicks"] for h in body["hours"])) == (200, 2, 2)
        finally:
            await server.stop(drain_timeout=1.0)


@pytest.mark.parametrize("code", ["Nobody1", "short", "toolong12", "abc-EF1", "%2e%2e"])
async def test_an_unknown_code_is_404_with_the_catalogue_json(rig, code):
    resp = await follow(rig.http, code)
    if code == "%2e%2e":
        # the client resolves /s/.. to /: the console's front door, never a link (and no click)
        assert resp.status == 302 and resp.headers["Location"] == "/console/"
        await rig.engine.store.flush()
        assert db_rows(rig.engine, "SELECT COUNT(*) FROM link_clicks") == [(0,)]
        return
    assert resp.status == 404 and resp.content_type == "application/json"
    async with rig.http.get(f"/s/{code}", allow_redirects=False) as resp:
        body = await resp.json()
    assert body["code"] == 1011 and documented("/s/{code}", "GET", 404, body) == []
    status, body = await stats(rig.http, code, OPERATOR)
    assert (status, body["code"]) == (404, 1011)
    await rig.engine.store.flush()
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM link_clicks") == [(0,)]


async def test_another_account_cannot_read_a_links_stats(rig):
    shop = {"app_id": "shop", "key": "shop-key", "balance": 10}
    async with rig.http.post("/v1/accounts", json=shop, headers=OPERATOR) as resp:
        assert resp.status == 201
    _, link = await create(rig.http)
    status, body = await stats(rig.http, link["code"], {"X-App-Id": "shop", "X-App-Key": "shop-key"})
    assert (status, body["code"]) == (404, 1011)  # as if it did not exist: codes reveal nothing
    status, body = await stats(rig.http, link["code"], {"X-App-Id": "shop", "X-App-Key": "wrong"})
    assert (status, body["code"]) == (401, 1001)
    async with rig.http.get("/v1/links", headers={"X-App-Id": "shop", "X-App-Key": "shop-key"}) as resp:
        assert (await resp.json())["links"] == []


@pytest.mark.parametrize(("url", "field"), [
    ("ftp://example.com/file", "http(s)"),
    ("example.com/sale", "http(s)"),
    ("http://example.com/a b", "ASCII"),
    ("http://example.com/" + "a" * 2048, "$.url"),
])
async def test_a_bad_url_is_refused_with_1004(rig, url, field):
    status, body = await create(rig.http, url)
    assert (status, body["code"]) == (400, 1004) and field in body["message"]
    assert documented("/v1/links", "POST", 400, body) == []
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM short_links") == [(0,)]


async def test_an_accounts_links_are_bounded(rig):
    for i in range(3):  # max_per_account = 3 in this rig
        status, _ = await create(rig.http, f"{URL}&n={i}")
        assert status == 201
    status, body = await create(rig.http)
    assert (status, body["code"]) == (400, 1053)


async def test_links_are_listed_by_cursor_and_the_operator_creates_for_an_account(rig):
    status, made = await create(rig.http, "http://one.example/", headers=OPERATOR, app_id="demo")
    assert status == 201 and made["app_id"] == "demo"
    _, second = await create(rig.http, "http://two.example/")
    async with rig.http.get("/v1/links", params={"limit": "1"}, headers=rig.client.auth) as resp:
        page = await resp.json()
    assert [x["code"] for x in page["links"]] == [made["code"]]
    assert documented("/v1/links", "GET", 200, page) == []
    async with rig.http.get("/v1/links", params={"since": str(page["next_cursor"]), "app_id": "demo"},
                            headers=OPERATOR) as resp:
        rest = await resp.json()
    assert [x["code"] for x in rest["links"]] == [second["code"]] and rest["links"][0]["short_url"].startswith(BASE)
    other = Client(rig.http, "demo", "wrong")
    status, body = await create(rig.http, headers=other.auth)
    assert (status, body["code"]) == (401, 1001)
