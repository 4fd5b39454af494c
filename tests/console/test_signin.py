"""Signing in and out of the console: an account's key or the operator's token, a session cookie
(HttpOnly, SameSite=Strict), refusals for a wrong key, a missing CSRF token, throttled guessing."""

from __future__ import annotations

import pytest
from yarl import URL

from tests.console.conftest import OPERATOR_TOKEN, ConsoleClient


async def test_pages_need_a_session_and_send_you_to_sign_in(console):
    async with console.http.get("/console/live.json?x=1", allow_redirects=False) as resp:
        assert resp.status == 302
        target = URL(resp.headers["Location"])
        assert (target.path, target.query["next"]) == ("/console/login", "/console/live.json?x=1")


async def test_an_account_signs_in_with_its_key_and_the_cookie_is_httponly_and_strict(console):
    resp = await console.sign_in()
    cookie = resp.headers["Set-Cookie"]
    assert "smsengine_console=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/console" in cookie
    status, body = await console.get("/console/")
    assert status == 200 and "Dashboard · demo" in body and 'id="balance">10000000<' in body


async def test_a_wrong_key_is_refused_with_its_code_and_no_session(console):
    async with console.http.post("/console/login", data={"app_id": "demo", "key": "wrong"},
                                 allow_redirects=False) as resp:
        body = await resp.text()
        assert resp.status == 401 and "1001" in body
        assert "Set-Cookie" not in resp.headers
    async with console.http.get("/console/", allow_redirects=False) as resp:
        assert resp.status == 302


async def test_a_wrong_operator_token_is_refused_and_the_right_one_sees_every_account(console):
    async with console.http.post("/console/login", data={"operator_token": "nope"}) as resp:
        assert resp.status == 401
    await console.sign_in(operator_token=OPERATOR_TOKEN)
    status, body = await console.get("/console/?app_id=demo")
    assert status == 200 and 'option value="demo" selected' in body and "Dashboard · demo" in body


async def test_a_form_without_the_csrf_token_is_refused(console):
    await console.sign_in()
    status, body = await console.post("/console/logout", {}, csrf=False)
    # logout without the token keeps the session
    status, body = await console.get("/console/")
    assert status == 200 and "Dashboard" in body
    async with console.http.post("/console/live.json", data={"x": "1"}) as resp:
        assert resp.status == 403 and "1006" in (text := await resp.text()) and "security token" in text


async def test_signing_out_ends_the_session(console):
    await console.sign_in()
    await console.post("/console/logout", {})
    async with console.http.get("/console/", allow_redirects=False) as resp:
        assert resp.status == 302


async def test_guessing_keys_is_throttled_per_source(console, rig):
    for _ in range(rig.engine.config.console.signin_burst):
        async with console.http.post("/console/login", data={"app_id": "demo", "key": "guess"}) as resp:
            assert resp.status == 401
    # now even the right key is refused for a while: a guess cannot tell it was right
    async with console.http.post("/console/login", data={"app_id": "demo", "key": "demo-secret"},
                                 allow_redirects=False) as resp:
        assert resp.status == 429 and "1013" in await resp.text()


async def test_a_session_cookie_from_elsewhere_does_not_reach_the_json_api(console, rig):
    await console.sign_in()
    async with console.http.get("/v1/stats") as resp:
        assert resp.status == 401  # the API takes credentials, never the console's cookie


@pytest.mark.timeout(90)
async def test_sign_in_in_a_browser_then_out(pages, rig):
    # some traffic of today first, so the dashboard has something to show
    ids = await rig.client.accepted([f"+86138000{i:05d}" for i in range(40)])
    ids += await rig.client.accepted(["+8613900000001", "+8613900000002"], content="Order shipped, reply TD to stop",
                                     type="marketing", sign="smsengine")
    await rig.client.wait_final(ids)
    page = await pages.sign_in()
    assert await page.locator("h1").inner_text() == "Dashboard · demo"
    assert await page.locator("#binds tr[data-carrier='ideal'] td.state").inner_text() == "up"
    assert await page.locator("#today-delivered").inner_text() == "42"
    assert await page.locator("#delivery-rate").inner_text() == "100.0 %"
    assert await page.locator("#peak").inner_text() != "0"  # the chart has this minute's finals
    await pages.shot("dashboard")
    await page.click("#logout")
    await page.wait_for_url("**/console/login")
    await page.fill("#app_id", "demo")
    await page.fill("#key", "not-the-key")
    await page.click("#signin")
    assert "1001" in await page.locator("#signin-error").inner_text()
