"""The console's records, one message, replies and unsubscribe pages over a real engine: search by
phone, status and time, keyset pages that stay put while messages arrive, the CSV export (numbers
whole), masking, cancelling a scheduled message, lifting an unsubscription in a browser."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from carriers.config import MoReplies
from smsengine.config import RecordsConfig
from smsengine.engine.records import MessageRow
from tests.console.conftest import OPERATOR_TOKEN, ConsoleClient
from tests.support.polling import eventually
from tests.support.rig import demo_account, fast_profile, start_rig, stop_rig

NUMBERS = ["+8613800138001", "+8613800138002", "+8613800138003"]
ROW_ID = re.compile(r'<tr data-id="(\d+)">')


@pytest.fixture
async def rig(tmp_path, request):
    """The console's rig, or one with the changes a test asks for (indirect parametrize): masked
    numbers, replies from handsets, a second account."""
    changes = dict(getattr(request, "param", {}))
    profile = fast_profile("ideal", mo=changes.pop("mo")) if "mo" in changes else fast_profile("ideal")
    rig = await start_rig(tmp_path, [profile], **changes)
    yield rig
    await stop_rig(rig)


MASKED = pytest.mark.parametrize("rig", [{"records": RecordsConfig(mask_numbers=True)}], indirect=True)
TWO_ACCOUNTS = pytest.mark.parametrize(
    "rig", [{"accounts": [demo_account(), demo_account(app_id="other", key="other-secret", templates=[], signatures=[])]}], indirect=True)
REPLY_TD = pytest.mark.parametrize(
    "rig", [{"mo": MoReplies(share=1.0, delay=(0.0, 0.5), mix={"TD": 1.0})}], indirect=True)


def listed(body: str) -> list[str]:
    return ROW_ID.findall(body)


def next_link(body: str, element: str = "next-page") -> str | None:
    found = re.search(rf'<a href="([^"]+)" id="{element}">', body)
    return found.group(1).replace("&amp;", "&") if found else None


async def download(console: ConsoleClient, path: str) -> tuple[str, list[list[str]]]:
    async with console.http.get(path) as resp:
        assert resp.status == 200, await resp.text()
        return resp.headers["Content-Type"], list(csv.reader(io.StringIO(await resp.text())))


# -- search, export, paging -------------------------------------------------------------------------
async def test_search_by_phone_status_and_time_then_export_the_same_rows(rig, console):
    ids = await rig.client.accepted(NUMBERS)
    await rig.client.wait_final(ids)
    await console.sign_in()

    status, body = await console.get(f"/console/records?phone={NUMBERS[1]}")
    assert status == 200 and listed(body) == [ids[1]]
    assert NUMBERS[1] in body and NUMBERS[0] not in body  # masking is off in this rig
    assert 'class="status status-delivered">delivered<' in body

    _, body = await console.get("/console/records?status=delivered")
    assert listed(body) == ids[::-1]  # newest first
    _, body = await console.get("/console/records?status=failed")
    assert listed(body) == [] and 'id="no-records"' in body

    # a datetime-local input is the account's wall clock (demo: UTC+08:00)
    zone = timezone(timedelta(hours=8))
    hour_ago = (datetime.now(zone) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    in_an_hour = (datetime.now(zone) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    _, body = await console.get(f"/console/records?since={hour_ago}&until={in_an_hour}")
    assert listed(body) == ids[::-1] and "UTC+08:00" in body
    _, body = await console.get(f"/console/records?since={in_an_hour}")
    assert listed(body) == []
    # read as UTC it would be eight hours off, and nothing would be found the other way round
    utc_wall_clock = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    _, body = await console.get(f"/console/records?until={utc_wall_clock}")
    assert listed(body) == []
    status, body = await console.get("/console/records?since=yesterday")
    assert status == 400 and "1004" in body

    # the export link carries the same filters; numbers whole, the columns of a record
    _, body = await console.get(f"/console/records?status=delivered&phone={NUMBERS[2]}")
    export = re.search(r'href="([^"]+)" id="export"', body).group(1).replace("&amp;", "&")
    assert export.startswith("/console/records.csv?")
    content_type, rows = await download(console, export)
    assert content_type.startswith("text/csv")
    assert rows[0] == list(MessageRow.__struct_fields__)
    assert [(r[0], r[1], r[rows[0].index("status")]) for r in rows[1:]] == [(ids[2], NUMBERS[2], "delivered")]
    _, rows = await download(console, "/console/records.csv?status=delivered")
    assert [r[0] for r in rows[1:]] == ids and [r[1] for r in rows[1:]] == NUMBERS


async def test_pages_by_cursor_stay_put_while_messages_arrive(rig, console):
    first = await rig.client.accepted([f"+86138001390{i:02d}" for i in range(5)])
    await console.sign_in()
    _, body = await console.get("/console/records?limit=2")
    assert listed(body) == [first[4], first[3]]
    older = next_link(body)
    assert older is not None and "limit=2" in older and f"before={first[3]}" in older

    later = await rig.client.accepted(["+8613800139100", "+8613800139101", "+8613800139102"])
    seen = listed(body)
    while older:
        _, body = await console.get(older)
        seen += listed(body)
        older = next_link(body)
    assert seen == first[::-1]  # nothing twice, nothing skipped, none of the later ones
    # the first page again starts at the newest
    _, body = await console.get("/console/records?limit=2")
    assert listed(body) == [later[2], later[1]]
    # the filters ride along on the next page
    _, body = await console.get("/console/records?limit=1&phone=%2B8613800139001")
    assert listed(body) == [first[1]] and next_link(body) is not None
    assert "phone=%2B8613800139001" in next_link(body)
    _, body = await console.get(next_link(body))
    assert listed(body) == []


@MASKED
async def test_masked_numbers_in_the_page_whole_in_the_export_and_in_searches(rig, console):
    ids = await rig.client.accepted(NUMBERS[:2])
    await rig.client.wait_final(ids)
    await console.sign_in()
    _, body = await console.get(f"/console/records?phone={NUMBERS[0]}")
    assert listed(body) == [ids[0]]
    assert "+86138****8001" in body and NUMBERS[0] not in body.replace(f'value="{NUMBERS[0]}"', "")
    _, body = await console.get(f"/console/records/{ids[0]}")
    assert 'id="m-phone">+86138****8001<' in body
    _, rows = await download(console, "/console/records.csv")
    assert [r[1] for r in rows[1:]] == NUMBERS[:2]


# -- one message ------------------------------------------------------------------------------------
@TWO_ACCOUNTS
async def test_one_message_is_its_accounts_only_and_a_scheduled_one_can_be_cancelled(rig, console):
    (scheduled,) = await rig.client.accepted([NUMBERS[0]], schedule_at=time.time() + 3600)
    (sent,) = await rig.client.accepted([NUMBERS[1]])
    await rig.client.wait_final([sent])
    await console.sign_in()

    _, body = await console.get(f"/console/records/{sent}")
    assert 'id="m-status">delivered<' in body and 'id="cancel"' not in body
    _, body = await console.get(f"/console/records/{scheduled}")
    assert 'id="m-status">accepted<' in body and 'id="cancel"' in body

    status, body = await console.post(f"/console/records/{scheduled}/cancel", {}, csrf=False)
    assert status == 403 and "security token" in body
    assert (await rig.client.message(scheduled))["status"] == "accepted"

    status, body = await console.post(f"/console/records/{scheduled}/cancel", {})
    assert status == 200 and f"message {scheduled} cancelled" in body
    assert 'id="m-status">cancelled<' in body and 'id="cancel"' not in body
    assert (await rig.client.message(scheduled))["status"] == "cancelled"
    # again: not waiting any more (1056), the same rule as DELETE /v1/messages/{id}
    _, body = await console.post(f"/console/records/{scheduled}/cancel", {})
    assert "1056" in body

    other = ConsoleClient(str(console.http._base_url))
    try:
        await other.sign_in("other", "other-secret")
        status, body = await other.get(f"/console/records/{sent}")
        assert status == 404 and "1011" in body
        _, body = await other.get("/console/records")
        assert listed(body) == []
    finally:
        await other.close()
    # the operator sees any account's, and every account's list when it picked none
    operator = ConsoleClient(str(console.http._base_url))
    try:
        await operator.sign_in(operator_token=OPERATOR_TOKEN)
        status, body = await operator.get(f"/console/records/{sent}")
        assert status == 200 and 'id="m-status">delivered<' in body
        _, body = await operator.get("/console/records?app_id=other")
        assert listed(body) == []
        _, body = await operator.get("/console/records?app_id=")
        assert listed(body) == [sent, scheduled]
    finally:
        await operator.close()


# -- replies and unsubscribes -----------------------------------------------------------------------
@REPLY_TD
async def test_a_reply_unsubscribes_and_the_account_lifts_it_in_a_browser(rig, pages):
    (mid,) = await rig.client.accepted([NUMBERS[0]])
    await eventually(lambda: NUMBERS[0] in rig.engine.accounts.get("demo").unsubscribed, 10.0)
    _, body = await rig.client.send([NUMBERS[0]])
    assert body["results"][0]["code"] == 1015

    page = await pages.sign_in()
    await page.goto(f"{pages.base}/console/replies")
    reply = page.locator("#replies tbody tr").first
    assert await reply.locator("td").nth(1).inner_text() == NUMBERS[0]
    assert await reply.locator("td").nth(2).inner_text() == "TD"
    assert (await reply.locator("td").nth(5).inner_text()).startswith(mid)  # the message it answers
    assert await page.locator("#unsubscribed tr[data-phone] td.phone").all_inner_texts() == [NUMBERS[0]]
    await pages.shot("replies")

    await page.click("#unsubscribed tr[data-phone] button.lift")
    await page.wait_for_load_state()
    assert "may be sent to again" in await page.locator(".flash.ok").inner_text()
    assert await page.locator("#no-unsubscribed").count() == 1
    assert NUMBERS[0] not in rig.engine.accounts.get("demo").unsubscribed
    assert await rig.client.accepted([NUMBERS[0]])

    # and put back on the list by hand
    await page.fill("#unsubscribe-phone", NUMBERS[2])
    await page.click("#unsubscribe-add-button")
    await page.wait_for_load_state()
    # (the number lifted above may be back: this simulator's handsets answer every message TD)
    assert NUMBERS[2] in await page.locator("#unsubscribed tr[data-phone] td.phone").all_inner_texts()
    _, body = await rig.client.send([NUMBERS[2]])
    assert body["results"][0]["code"] == 1015


@pytest.mark.parametrize("rig", [{"records": RecordsConfig(mask_numbers=True),
                                  "mo": MoReplies(share=1.0, delay=(0.0, 0.5), mix={"TD": 1.0})}], indirect=True)
async def test_masked_unsubscribe_list_lifts_the_right_number_without_showing_it(rig, console):
    """Two listed numbers that mask alike: the page never has either whole, and lifting one
    lifts that one (its reference, not its digits, names it)."""
    twins = ["+8613800118000", "+8613800228000"]
    await console.sign_in()
    for phone in twins:
        status, body = await console.post("/console/unsubscribes", {"phone": phone})
        assert status == 200 and "+86138****8000 is unsubscribed" in body
    status, body = await console.post("/console/unsubscribes", {"phone": "12"})
    assert "1016" in body

    _, body = await console.get("/console/replies")
    assert all(phone not in body for phone in twins)
    refs = re.findall(r'name="shown" value="([^"]+)">\s*<input type="hidden" name="ref" value="([0-9a-f]+)"', body)
    assert [shown for shown, _ in refs] == ["+86138****8000", "+86138****8000"]
    # the list is sorted by the whole number: the first button is the first twin's
    status, body = await console.post("/console/unsubscribes/lift", {"shown": refs[0][0], "ref": refs[0][1]})
    assert "may be sent to again" in body
    assert rig.engine.accounts.get("demo").unsubscribed == {twins[1]}
    # a reference from another session, or a forged one, lifts nothing
    status, body = await console.post("/console/unsubscribes/lift", {"shown": refs[0][0], "ref": "0" * 32})
    assert "1011" in body and rig.engine.accounts.get("demo").unsubscribed == {twins[1]}
    status, body = await console.post("/console/unsubscribes/lift", {"shown": refs[1][0], "ref": refs[1][1]},
                                      csrf=False)
    assert status == 403 and rig.engine.accounts.get("demo").unsubscribed == {twins[1]}

    # a reply's number is masked in the list and whole in the export
    (mid,) = await rig.client.accepted([NUMBERS[0]])
    await eventually(lambda: NUMBERS[0] in rig.engine.accounts.get("demo").unsubscribed, 10.0)
    _, body = await console.get("/console/replies")
    assert "+86138****8001" in body and NUMBERS[0] not in body and f'href="/console/records/{mid}"' in body
    _, rows = await download(console, "/console/replies.csv")
    assert rows[0][:3] == ["cursor", "phone", "text"] and [(r[1], r[2]) for r in rows[1:]] == [(NUMBERS[0], "TD")]


async def test_the_operator_without_an_account_sees_unattributed_replies(rig, console):
    await console.sign_in(operator_token=OPERATOR_TOKEN)
    rig.engine.store.add_reply("", "+8613800199999", "who is this?", "ideal", time.time())
    await rig.engine.store.flush()
    status, body = await console.get("/console/replies?app_id=")
    assert status == 200 and "not attributed to any account" in body
    assert "who is this?" in body and 'id="unsubscribe-add"' not in body
    _, body = await console.get("/console/replies?app_id=demo")
    assert "who is this?" not in body and 'id="unsubscribe-add"' in body


@pytest.mark.timeout(90)
async def test_search_in_a_browser_and_see_them_delivered(rig, pages):
    ids = await rig.client.accepted(NUMBERS)
    await rig.client.wait_final(ids)
    page = await pages.sign_in()
    await page.click("nav >> text=Records")
    await page.wait_for_url("**/console/records")
    assert await page.locator("#records tbody tr[data-id]").count() == 3

    await page.fill("#f-phone", NUMBERS[0])
    await page.click("#search")
    await page.wait_for_url("**/console/records?*")
    rows = page.locator("#records tbody tr[data-id]")
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-id") == ids[0]
    assert await rows.first.locator("td.status").inner_text() == "delivered"

    await page.fill("#f-phone", "")
    await page.select_option("#f-status", "delivered")
    await page.click("#search")
    await page.wait_for_load_state()
    assert [await r.get_attribute("data-id") for r in await rows.all()] == ids[::-1]
    assert {t for t in await page.locator("#records td.status").all_inner_texts()} == {"delivered"}
    await pages.shot("records")

    await rows.first.locator("a").click()
    await page.wait_for_url(f"**/console/records/{ids[2]}")
    assert await page.locator("#m-status").inner_text() == "delivered"
    view = await rig.client.message(ids[2])
    assert await page.locator("#m-size").inner_text() == f"{view['chars']} | {view['segments']}"


async def test_a_long_unsubscribe_list_is_paged_in_number_order(rig, console):
    numbers = [f"+86138002{i:05d}" for i in range(101)]
    for phone in reversed(numbers):
        rig.engine.accounts.unsubscribe("demo", phone)
    await console.sign_in()
    _, body = await console.get("/console/replies")
    assert "Unsubscribe list (101)" in body
    assert re.findall(r'<tr data-phone="([^"]+)">', body) == numbers[:100]
    more = next_link(body, "unsubscribed-next")
    assert more is not None
    _, body = await console.get(more)
    assert re.findall(r'<tr data-phone="([^"]+)">', body) == numbers[100:] and next_link(body, "unsubscribed-next") is None
