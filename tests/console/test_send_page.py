"""The console's send page: the preview computed by the engine's own rules (exact text, characters |
segments per number type, the refusals a send would get), a send through intake with its
per-number results, the CSRF guard — over HTTP and in Chromium."""

from __future__ import annotations

import re

import aiohttp
import pytest

from smsengine.config import ContentConfig
from tests.console.conftest import OPERATOR_TOKEN, ConsoleClient
from tests.support.polling import eventually
from tests.support.rig import db_rows, fast_profile, start_rig, stop_rig

SIGN = "【smsengine】"


def form(**fields) -> aiohttp.FormData:
    """A form as the page posts it (`param` once per placeholder)."""
    data = aiohttp.FormData()
    for name, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            data.add_field(name, one)
    return data


def rows_of(view: dict) -> dict[str, dict]:
    return {row["region"]: row for row in view["rows"]}


async def preview(console: ConsoleClient, **body) -> dict:
    status, view = await console.post_json("/console/send/preview", body)
    assert status == 200, view
    return view


async def test_the_preview_counts_a_long_domestic_text_and_gsm7_extension_characters(console):
    await console.sign_in()
    # 11 characters of signature + 70 of text: over 70, so parts of 67 -> 2
    view = rows_of(await preview(console, content="测" * 70, sign="smsengine"))
    domestic = view["mainland"]
    assert domestic["text"] == SIGN + "测" * 70
    assert (domestic["encoding"], domestic["chars"], domestic["segments"], domestic["figures"]) == ("UCS-2", 81, 2, "81 | 2")
    # abroad the signature is [smsengine] and a GSM-7 text: 12 + 70 = 82 septets, one part
    assert view["international"]["text"] == "[smsengine] " + "测" * 70  # not GSM-7: UCS-2, 82 units
    assert (view["international"]["encoding"], view["international"]["segments"]) == ("UCS-2", 2)

    # "€" is an extension character: 160 characters take 161 septets -> 153-septet parts, 2
    view = rows_of(await preview(console, content="€" + "a" * 159, sign=""))
    gsm = view["international"]
    assert (gsm["encoding"], gsm["chars"], gsm["units"], gsm["segments"]) == ("GSM-7", 160, 161, 2)
    assert gsm["text"] == "€" + "a" * 159
    assert rows_of(await preview(console, content="a" * 160, sign=""))["international"]["segments"] == 1
    # mainland traffic must carry a signature: the preview says what the send would say
    assert view["mainland"]["code"] == 1012 and "signature" in view["mainland"]["message"]

    # characters outside the BMP weigh two UTF-16 units: 35 fit one part, 36 do not
    emoji = rows_of(await preview(console, content="😀" * 36, sign=""))["international"]
    assert (emoji["encoding"], emoji["chars"], emoji["units"], emoji["segments"]) == ("UCS-2", 36, 72, 2)
    assert rows_of(await preview(console, content="😀" * 35, sign=""))["international"]["segments"] == 1


async def test_the_preview_renders_a_template_and_shows_the_refusals_of_a_send(console):
    await console.sign_in()
    view = await preview(console, template_id=1, params=["123456", "5"], sign="smsengine",
                         numbers="13800138000\n13800138000, 1380013800x")
    domestic = rows_of(view)["mainland"]
    assert domestic["text"] == SIGN + "Your verification code is 123456, valid for 5 minutes."
    assert (domestic["chars"], domestic["segments"], view["type"]) == (65, 1, "regular")
    # a mainland template abroad is the engine's 1014
    assert rows_of(view)["international"]["code"] == 1014
    assert (view["numbers"]["valid"], view["numbers"]["duplicates"], view["numbers"]["invalid_count"]) == (1, 1, 1)

    wrong_count = rows_of(await preview(console, template_id=1, params=["123456"], sign="smsengine"))["mainland"]
    assert wrong_count["code"] == 1014 and "2 parameters, got 1" in wrong_count["message"]
    link = rows_of(await preview(console, template_id=1, params=["www.example.com", "5"], sign="smsengine"))
    assert link["mainland"]["code"] == 1037
    too_long = rows_of(await preview(console, content="a" * 600, sign=""))["international"]
    assert too_long["code"] == 1017 and too_long["text"] == "a" * 600
    wrong_type = rows_of(await preview(console, template_id=1, params=["1", "2"], sign="smsengine", type="marketing"))
    assert wrong_type["mainland"]["code"] == 1014
    many = await preview(console, content="hi", numbers="\n".join(f"+4479460{i:05d}" for i in range(201)))
    assert many["numbers"]["problems"] and many["numbers"]["problems"][0].startswith("1046")
    # a body the API's decoder would refuse, refused the same way
    status, body = await console.post_json("/console/send/preview", {"params": ["x" * 65]})
    assert status == 400 and body["code"] == 1004


async def test_the_preview_refuses_sensitive_words_as_the_engine_does(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile()], content=ContentConfig(sensitive_words=["casino"]))
    console = ConsoleClient(f"http://127.0.0.1:{rig.server.http_port}")
    try:
        await console.sign_in()
        view = rows_of(await preview(console, content="Big CASINO night", sign="smsengine"))
        assert view["mainland"]["code"] == 1002 and "CASINO" in view["mainland"]["message"]
        assert view["mainland"]["text"] == SIGN + "Big CASINO night"
        status, page = await console.post("/console/send", {"template_id": "", "content": "Big CASINO night",
                                                            "sign": "smsengine", "type": "regular",
                                                            "numbers": "13800138000"})
        assert status == 400 and "1002: content contains sensitive words" in page
        assert 'Big CASINO night</textarea>' in page  # the form keeps what was typed
    finally:
        await console.close()
        await stop_rig(rig)


async def test_a_send_goes_through_intake_with_per_number_results(console, rig):
    await console.sign_in()
    before = await rig.engine.store.balance_of("demo")
    status, page = await console.post("/console/send", form(
        sign="smsengine", template_id="1", param=["123456", "5"], type="regular",
        numbers="13800138000, 13800138001\n13800138000\n12345"))
    assert status == 200, page
    assert re.search(r'id="summary"><strong>2</strong> accepted, <strong>1</strong> refused', page)
    ids = re.findall(r'data-message-id="(\d+)"', page)
    assert len(ids) == 2
    assert page.count('<td class="num chars">65</td>') == 2 and page.count('<td class="num segments">1</td>') == 2
    assert '<td class="num code">1016</td>' in page  # the short number, as the API answers it
    assert 'id="duplicates">1 repeated number' in page
    await rig.client.wait_final(ids)
    views = [await rig.client.message(mid) for mid in ids]
    assert [v["status"] for v in views] == ["delivered", "delivered"]
    assert views[0]["content"] == SIGN + "Your verification code is 123456, valid for 5 minutes."
    assert await rig.engine.store.balance_of("demo") == before - 2
    # the results page's live column reads the same
    async with console.http.get(f"/console/send/status.json?ids={','.join(ids)},999999") as resp:
        live = await resp.json()
    assert {mid: m["status"] for mid, m in live["messages"].items()} == {ids[0]: "delivered", ids[1]: "delivered"}


async def test_the_send_form_keeps_the_engine_rules_and_the_operator_picks_an_account(console, rig):
    await console.sign_in(operator_token=OPERATOR_TOKEN)
    status, page = await console.get("/console/send")
    assert status == 200 and 'id="pick-account"' in page and 'id="send-form"' not in page
    status, page = await console.post("/console/send", {"template_id": "1", "numbers": "13800138000"})
    assert status == 400 and "pick an account first" in page
    status, page = await console.get("/console/send?app_id=demo")
    assert status == 200 and 'id="send-form"' in page and "【smsengine】" in page
    # only approved templates are offered; 201 numbers is intake's 1046
    numbers = "\n".join(f"138001{i:05d}" for i in range(201))
    status, page = await console.post("/console/send", form(sign="smsengine", template_id="1", param=["1", "2"],
                                                         numbers=numbers))
    assert status == 400 and "1046" in page
    status, page = await console.post("/console/send", form(sign="smsengine", template_id="1", param=["1", "2"],
                                                         numbers="13800138000", schedule_at="tomorrow"))
    assert status == 400 and "1004: " in page and "schedule_at: not unix seconds or ISO 8601" in page
    await rig.engine.store.flush()
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages") == [(0,)]


async def test_a_send_without_the_csrf_token_is_refused_and_nothing_is_stored(console, rig):
    await console.sign_in()
    status, page = await console.post("/console/send", form(sign="smsengine", template_id="1", param=["1", "2"],
                                                         numbers="13800138000"), csrf=False)
    assert status == 403 and "security token" in page
    async with console.http.post("/console/send/preview", json={"content": "x"}) as resp:
        assert resp.status == 403
    await rig.engine.store.flush()
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages") == [(0,)]


@pytest.mark.timeout(90)
async def test_send_to_two_numbers_in_a_browser_and_watch_them_delivered(pages, rig):
    page = await pages.sign_in()
    await page.goto(f"{pages.base}/console/send")
    assert await page.locator("#template").input_value() == "1"
    assert await page.locator("#template-text").inner_text() == "Your verification code is {1}, valid for {2} minutes."
    await page.fill("#param-1", "123456")
    await page.fill("#param-2", "5")
    await page.fill("#numbers", "13800138000\n13800138001")
    domestic = page.locator("#preview-mainland")
    await domestic.locator(".text").filter(has_text="valid for 5 minutes").wait_for()
    assert await domestic.locator(".text").inner_text() == SIGN + "Your verification code is 123456, valid for 5 minutes."
    assert (await domestic.locator(".chars").inner_text(), await domestic.locator(".segments").inner_text()) == ("65", "1")
    assert "2 numbers (mainland)" in await page.locator("#preview-numbers").inner_text()
    await pages.shot("send")
    await page.click("#send")
    await page.wait_for_selector("#results")
    rows = page.locator("#results tbody tr")
    assert await rows.count() == 2
    assert await rows.nth(0).locator("td.chars").inner_text() == "65"
    assert await rows.nth(1).locator("td.segments").inner_text() == "1"
    for i in range(2):
        await rows.nth(i).locator("td.status", has_text="delivered").wait_for(timeout=20_000)
    ids = await page.locator("#results").get_attribute("data-ids")
    views = [await rig.client.message(mid) for mid in ids.split(",")]
    assert [v["status"] for v in views] == ["delivered", "delivered"]
    # and the records page shows them delivered: the first by following its id from the results
    await rows.nth(0).locator("a").first.click()
    await page.wait_for_url(f"**/console/records/{ids.split(',')[0]}")
    assert await page.locator("#m-status").inner_text() == "delivered"
    await page.goto(f"{pages.base}/console/records?phone=13800138001")
    listed = page.locator("#records tbody tr")
    assert await listed.count() == 1 and "delivered" in await listed.first.inner_text()
