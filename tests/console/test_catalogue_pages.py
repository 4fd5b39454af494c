"""The console's signatures and templates page over a real engine: an account creates and edits
(pending or rejected only), the operator approves or rejects with a reason, the same rules as the
API (quotas, neutral names 1041, sensitive words 1002, a NUL 1027 or 1041, approved items immutable 1040)."""

from __future__ import annotations

import re

import pytest

from smsengine.config import ContentConfig
from tests.console.conftest import OPERATOR_TOKEN, ConsoleClient
from tests.console.test_records_pages import rig  # noqa: F401  (the rig a test may configure)
from tests.support.rig import ADMIN


async def templates_of(rig) -> dict[int, dict]:
    async with rig.http.get("/v1/templates", headers=rig.client.auth) as resp:
        assert resp.status == 200
        return {t["id"]: t for t in await resp.json()}


def flash(body: str) -> str:
    found = re.search(r'<p class="flash (?:ok|error)" role="status">([^<]*)</p>', body)
    return found.group(1) if found else ""


def created_id(body: str, what: str) -> int:
    found = re.search(rf"{what} (\d+) ", flash(body))
    assert found, flash(body) or body[:2000]
    return int(found.group(1))


async def operator_of(console: ConsoleClient) -> ConsoleClient:
    operator = ConsoleClient(str(console.http._base_url))
    await operator.sign_in(operator_token=OPERATOR_TOKEN)
    return operator


async def test_an_account_creates_the_operator_decides_and_the_account_sees_the_outcome(rig, console):
    await console.sign_in()
    status, body = await console.post("/console/catalogue/templates", {
        "name": "Shipping", "text": "Parcel {1} is on its way.", "type": "regular", "region": "mainland",
        "note": "order updates"})
    assert status == 200 and "submitted for review" in body
    shipping = created_id(body, "template")
    _, body = await console.post("/console/catalogue/templates", {
        "name": "Promo", "text": "Sale today only. Reply TD to unsubscribe.", "type": "marketing",
        "region": "mainland"})
    promo = created_id(body, "template")
    _, body = await console.post("/console/catalogue/signatures", {"name": "Acme Shop"})
    signature = created_id(body, "signature")
    assert f'id="template-{shipping}-status">pending<' in body and f'id="signature-{signature}-status">pending<' in body
    # the account has no review buttons
    assert f'id="template-{shipping}-approve"' not in body
    # the API sees the same template
    assert (await templates_of(rig))[shipping]["note"] == "order updates"

    operator = await operator_of(console)
    try:
        # all accounts: the items waiting for review, with their account
        status, body = await operator.get("/console/catalogue?app_id=")
        assert status == 200 and f'id="template-{shipping}-approve"' in body and f'id="template-{promo}-reject"' in body
        assert 'id="template-1"' not in body  # approved seeds are not waiting
        status, body = await operator.post(f"/console/catalogue/templates/{promo}/reject", {"remark": "  "})
        assert "1004" in flash(body) and "reason" in flash(body)
        _, body = await operator.post(f"/console/catalogue/templates/{shipping}/approve", {})
        assert flash(body) == f"template {shipping} approved"
        _, body = await operator.post(f"/console/catalogue/templates/{promo}/reject",
                                      {"remark": "say which sale"})
        _, body = await operator.post(f"/console/catalogue/signatures/{signature}/approve", {})
        assert f'id="template-{shipping}-approve"' not in body
        # deciding twice: approved is 1040, rejected has no review pending (1011), as in the API
        _, body = await operator.post(f"/console/catalogue/templates/{shipping}/reject", {"remark": "late"})
        assert flash(body).startswith("1040")
        _, body = await operator.post(f"/console/catalogue/templates/{promo}/approve", {})
        assert flash(body).startswith("1011")
    finally:
        await operator.close()

    _, body = await console.get("/console/catalogue")
    assert f'id="template-{shipping}-status">approved<' in body
    assert f'id="template-{promo}-status">rejected<' in body and f'id="template-{promo}-remark">say which sale<' in body
    assert f'id="signature-{signature}-status">approved<' in body
    # approved: no edit form; rejected: one
    assert f'id="template-{shipping}-edit"' not in body and f'id="template-{promo}-edit"' in body
    api = await templates_of(rig)
    assert (api[shipping]["status"], api[promo]["status"], api[promo]["remark"]) == \
        ("approved", "rejected", "say which sale")

    # a forged edit of the approved one is refused with 1040 and changes nothing
    _, body = await console.post(f"/console/catalogue/templates/{shipping}/edit", {"text": "Changed {1}."})
    assert flash(body).startswith("1040")
    assert (await templates_of(rig))[shipping]["text"] == "Parcel {1} is on its way."
    _, body = await console.post(f"/console/catalogue/signatures/{signature}/edit", {"name": "Acme"})
    assert flash(body).startswith("1040")
    # the rejected one edited: pending again, remark cleared
    _, body = await console.post(f"/console/catalogue/templates/{promo}/edit", {
        "text": "Spring sale today only. Reply TD to unsubscribe.", "name": "Promo", "note": "spring"})
    assert flash(body) == f"template {promo} changed, under review again"
    assert f'id="template-{promo}-status">pending<' in body and f'id="template-{promo}-remark"><' in body
    # an account may not review
    _, body = await console.post(f"/console/catalogue/templates/{promo}/approve", {})
    assert flash(body).startswith("1006")
    assert (await templates_of(rig))[promo]["status"] == "pending"


@pytest.mark.parametrize("rig", [{"content": ContentConfig(sensitive_words=["casino"])}], indirect=True)
async def test_the_apis_rules_apply_to_the_forms(rig, console):
    await console.sign_in()
    _, body = await console.post("/console/catalogue/signatures", {"name": "test"})
    assert flash(body).startswith("1041")
    _, body = await console.post("/console/catalogue/templates", {
        "text": "Your Casino bonus {1} is ready.", "type": "regular", "region": "mainland"})
    assert flash(body).startswith("1002")
    _, body = await console.post("/console/catalogue/templates", {
        "text": "Sale {1}.", "type": "marketing", "region": "mainland"})
    assert flash(body).startswith("1027")  # marketing without an unsubscribe instruction
    _, body = await console.post("/console/catalogue/templates", {"text": "Hi {1}", "type": "bulk"})
    assert flash(body).startswith("1004")
    # quotas: as the API counts them
    async with rig.http.patch("/v1/accounts/demo/limits", json={"max_templates": 4},
                              headers={"X-Admin-Token": ADMIN}) as resp:
        assert resp.status == 200, await resp.text()
    count = len(await templates_of(rig))
    for n in range(count, 5):
        _, body = await console.post("/console/catalogue/templates", {"text": f"Notice number {n}: {{1}}."})
    assert flash(body).startswith("1038")
    assert len(await templates_of(rig)) == 4
    # another account's item is not found
    _, body = await console.post("/console/catalogue/templates/999999/edit", {"text": "x {1}"})
    assert flash(body).startswith("1011")
    # a change without the form's token: refused, nothing made
    status, body = await console.post("/console/catalogue/signatures", {"name": "Other Brand"}, csrf=False)
    assert status == 403 and "security token" in body
    _, body = await console.get("/console/catalogue")
    assert "Other Brand" not in body


async def test_a_nul_in_a_forms_template_or_signature_is_refused_where_it_is_and_nothing_changes(rig, console):
    await console.sign_in()
    _, body = await console.post("/console/catalogue/templates", {"name": "Code", "text": "Code {1} is yours."})
    code = created_id(body, "template")
    before = await templates_of(rig)
    _, body = await console.post("/console/catalogue/templates", {"text": "Code {1}\x00 is yours."})
    assert flash(body).startswith("1027:") and "NUL character (U+0000) at character 9," in flash(body)
    _, body = await console.post(f"/console/catalogue/templates/{code}/edit", {"text": "\x00Code {1} is yours."})
    assert flash(body).startswith("1027:") and "NUL character (U+0000) at character 1," in flash(body)
    assert await templates_of(rig) == before
    _, body = await console.post("/console/catalogue/signatures", {"name": "Acme\x00"})
    assert flash(body).startswith("1041:") and "NUL character (U+0000) at character 5," in flash(body)
    assert "Acme" not in body


@pytest.mark.timeout(90)
async def test_the_operator_approves_with_one_click_and_rejects_with_a_reason_in_a_browser(rig, console, pages):
    await console.sign_in()
    _, body = await console.post("/console/catalogue/templates", {"name": "Welcome", "text": "Welcome, {1}!"})
    welcome = created_id(body, "template")
    _, body = await console.post("/console/catalogue/templates", {"name": "Bye", "text": "Goodbye, {1}."})
    bye = created_id(body, "template")

    page = await pages.sign_in(operator_token=OPERATOR_TOKEN)
    await page.goto(f"{pages.base}/console/catalogue?app_id=")
    await page.click(f"#template-{welcome}-approve")
    await page.wait_for_load_state()
    assert await page.locator(".flash.ok").inner_text() == f"template {welcome} approved"
    assert await page.locator(f"#template-{welcome}").count() == 0  # no longer waiting

    # the reason is required: an empty one is not even sent
    await page.click(f"#template-{bye}-reject")
    assert await page.locator(f"#template-{bye}-status").inner_text() == "pending"
    await page.fill(f"#template-{bye}-reason", "too curt")
    await page.click(f"#template-{bye}-reject")
    await page.wait_for_load_state()
    assert await page.locator(".flash.ok").inner_text() == f"template {bye} rejected"

    await page.select_option("#acting", "demo")
    await page.wait_for_url("**/console/catalogue?app_id=demo")
    assert await page.locator(f"#template-{welcome}-status").inner_text() == "approved"
    assert await page.locator(f"#template-{bye}-status").inner_text() == "rejected"
    assert await page.locator(f"#template-{bye}-remark").inner_text() == "too curt"
    assert await page.locator(f"#template-{welcome}-edit").count() == 0
    assert await page.locator(f"#template-{bye}-edit").count() == 1
    await pages.shot("catalogue")

    api = await templates_of(rig)
    assert (api[welcome]["status"], api[bye]["status"], api[bye]["remark"]) == ("approved", "rejected", "too curt")
