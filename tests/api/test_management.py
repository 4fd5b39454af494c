"""Management API over real sockets: accounts, signature and template review, unsubscribe list,
and the operational endpoints (/openapi.json, /healthz, /metrics)."""

import asyncio
import re

import pytest

from tests.support.polling import eventually
from tests.support.rig import ADMIN, Client, db_rows, fast_profile, start_rig, stop_rig

OPERATOR = {"X-Admin-Token": ADMIN}
NUMBER = "+8613800000001"


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def call(rig, method: str, path: str, *, headers: dict | None = None, json=None) -> tuple[int, dict]:
    async with rig.http.request(method, path, headers=headers or {}, json=json) as resp:
        return resp.status, await resp.json()


async def create_account(rig, app_id: str = "acme", **fields) -> tuple[int, dict]:
    body = {"app_id": app_id, "key": f"{app_id}-key"} | fields
    return await call(rig, "POST", "/v1/accounts", headers=OPERATOR, json=body)


# -- accounts ----------------------------------------------------------------------------------------------------
async def test_operator_creates_an_account(rig):
    status, view = await create_account(rig, balance=50, raw_content=True, type="individual")
    assert status == 201
    assert view == {"app_id": "acme", "type": "individual", "raw_content": True, "balance": 50,
                    "state": "active", "utc_offset_minutes": 480, "receipt_url": "", "auth_scheme": "sig",
                    "reply_url": "", "receipt_cursor": 0, "reply_cursor": 0}
    status, view = await call(rig, "GET", "/v1/accounts/acme", headers={"X-App-Id": "acme", "X-App-Key": "acme-key"})
    assert status == 200 and view["balance"] == 50


async def test_operator_creates_an_account_with_limits_and_reviewed_templates(rig):
    """The create body is the config's account table: limits, signatures, templates included."""
    status, _ = await create_account(
        rig, balance=10, limits={"daily_max": 1, "same_content_max": 5},
        signatures=[{"name": "Acme"}], templates=[{"id": 901, "text": "Code {1}"}],
    )
    assert status == 201
    client = Client(rig.http, app_id="acme", key="acme-key")
    status, body = await client.send([NUMBER], template_id=901, params=["42"], sign="Acme")
    assert status == 200 and body["results"][0]["code"] == 0
    status, body = await client.send([NUMBER], template_id=901, params=["43"], sign="Acme")
    assert body["results"][0]["code"] == 1025  # the account's own daily limit of 1


@pytest.mark.parametrize("headers", [{}, {"X-Admin-Token": "guess"}, {"X-App-Id": "demo", "X-App-Key": "demo-secret"}])
async def test_creating_an_account_needs_the_operator_token(rig, headers):
    status, body = await call(rig, "POST", "/v1/accounts", headers=headers, json={"app_id": "acme", "key": "k"})
    assert status == 403 and body["code"] == 1006
    status, body = await call(rig, "GET", "/v1/accounts/acme", headers=OPERATOR)
    assert status == 401 and body["code"] == 1019


async def test_existing_account_cannot_be_created_again(rig):
    assert (await create_account(rig))[0] == 201
    status, body = await create_account(rig)
    assert status == 400 and body["code"] == 1004
    status, body = await create_account(rig, "demo")
    assert status == 400 and body["code"] == 1004


@pytest.mark.parametrize("fields", [{"colour": "red"}, {"balance": "lots"}, {"type": "company"}])
async def test_malformed_account_body_is_1004(rig, fields):
    status, body = await create_account(rig, **fields)
    assert status == 400 and body["code"] == 1004


@pytest.mark.parametrize("fields", [
    {"balance": 2**63}, {"balance": 10**15 + 1}, {"balance": -1}, {"utc_offset_minutes": 100_000},
    {"templates": [{"id": 2**63, "text": "Code {1}"}]}, {"templates": [{"id": 0, "text": "Code {1}"}]},
    {"receipt_url": "not a url"},
], ids=["over-int64", "over-max", "negative", "offset", "template-id-over-int64", "template-id-zero", "receipt-url"])
async def test_out_of_range_account_values_are_1004_and_create_nothing(rig, fields):
    status, body = await create_account(rig, **fields)
    assert status == 400 and body["code"] == 1004
    status, _ = await call(rig, "GET", "/v1/accounts/acme", headers=OPERATOR)
    assert status == 401


@pytest.mark.parametrize("change", [2**63, -(2**63) - 1, 10**15 + 1, 10**15])
async def test_out_of_range_top_up_is_1004_and_the_store_goes_on(rig, change):
    """10**15 itself is a valid change, but would take the balance past the maximum."""
    await create_account(rig, balance=3)
    status, body = await call(rig, "PATCH", "/v1/accounts/acme", headers=OPERATOR, json={"add_balance": change})
    assert status == 400 and body["code"] == 1004
    status, body = await call(rig, "PATCH", "/v1/accounts/acme", headers=OPERATOR, json={"add_balance": 7})
    assert status == 200 and body["balance"] == 10
    assert rig.engine.store.failure is None


async def test_account_views_are_private(rig):
    await create_account(rig)
    status, body = await call(rig, "GET", "/v1/accounts/acme", headers={"X-App-Id": "acme", "X-App-Key": "nope"})
    assert status == 401 and body["code"] == 1001
    status, body = await call(rig, "GET", "/v1/accounts/acme", headers=rig.client.auth)
    assert status == 403 and body["code"] == 1006
    status, body = await call(rig, "GET", "/v1/accounts/acme", headers=OPERATOR)
    assert status == 200 and body["app_id"] == "acme"


async def test_balance_is_topped_up_by_the_operator_only(rig):
    await create_account(rig, balance=3)
    acme = {"X-App-Id": "acme", "X-App-Key": "acme-key"}
    status, body = await call(rig, "PATCH", "/v1/accounts/acme", headers=acme, json={"add_balance": 100})
    assert status == 403 and body["code"] == 1006
    status, body = await call(rig, "PATCH", "/v1/accounts/acme", headers=OPERATOR, json={"add_balance": 100})
    assert status == 200 and body["balance"] == 103
    status, body = await call(rig, "GET", "/v1/accounts/acme", headers=acme)
    assert body["balance"] == 103


async def test_account_sets_its_receipt_url(rig):
    status, body = await call(rig, "PATCH", "/v1/accounts/demo", headers=rig.client.auth,
                              json={"receipt_url": "http://127.0.0.1:9/receipts"})
    assert status == 200 and body["receipt_url"] == "http://127.0.0.1:9/receipts"
    status, body = await call(rig, "GET", "/v1/accounts/demo", headers=rig.client.auth)
    assert body["receipt_url"] == "http://127.0.0.1:9/receipts"


@pytest.mark.parametrize("url", ["not a url", "ftp://host/x", "/relative/path", "http://"])
async def test_receipt_url_must_be_http(rig, url):
    status, body = await call(rig, "PATCH", "/v1/accounts/demo", headers=rig.client.auth, json={"receipt_url": url})
    assert status == 400 and body["code"] == 1004
    status, body = await call(rig, "GET", "/v1/accounts/demo", headers=rig.client.auth)
    assert body["receipt_url"] == ""  # unchanged


async def test_new_account_sends_after_its_signature_is_approved(rig):
    await create_account(rig, balance=10, raw_content=True)
    acme = Client(rig.http, "acme", "acme-key")
    status, body = await acme.send([NUMBER], content="hello from acme", sign="Acme")
    assert status == 400 and body["code"] == 1012  # no such signature yet
    status, sig = await call(rig, "POST", "/v1/signatures", headers=acme.auth, json={"app_id": "acme", "name": "Acme"})
    assert status == 201 and sig["status"] == "pending" and sig["name"] == "Acme" and sig["app_id"] == "acme"
    status, body = await acme.send([NUMBER], content="hello from acme", sign="Acme")
    assert status == 400 and body["code"] == 1012  # pending is not usable
    status, approved = await call(rig, "POST", f"/v1/signatures/{sig['id']}/approve", headers=OPERATOR)
    assert status == 200 and approved["status"] == "approved"
    status, body = await acme.send([NUMBER], content="hello from acme", sign="Acme")
    assert status == 200 and body["results"][0]["code"] == 0
    view = (await acme.wait_final([body["results"][0]["message_id"]]))[body["results"][0]["message_id"]]
    assert view["content"] == "【Acme】hello from acme"
    status, listed = await call(rig, "GET", "/v1/signatures", headers=acme.auth)
    assert [(s["name"], s["status"]) for s in listed] == [("Acme", "approved")]


# -- signatures -------------------------------------------------------------------------------------------------
async def test_signature_review_lifecycle(rig):
    status, sig = await call(rig, "POST", "/v1/signatures", headers=rig.client.auth,
                             json={"app_id": "demo", "name": "Second"})
    assert status == 201 and sig["status"] == "pending"
    status, body = await call(rig, "POST", f"/v1/signatures/{sig['id']}/approve", headers=rig.client.auth)
    assert status == 403 and body["code"] == 1006  # accounts do not review themselves
    status, rejected = await call(rig, "POST", f"/v1/signatures/{sig['id']}/reject", headers=OPERATOR,
                                  json={"remark": "not your brand"})
    assert status == 200 and rejected["status"] == "rejected" and rejected["remark"] == "not your brand"
    status, body = await rig.client.send([NUMBER], sign="Second")
    assert status == 400 and body["code"] == 1012
    status, body = await call(rig, "POST", f"/v1/signatures/{sig['id']}/approve", headers=OPERATOR)
    assert status == 404 and body["code"] == 1011  # a rejected item has no pending review


async def test_approved_signature_cannot_be_decided_again(rig):
    status, sig = await call(rig, "POST", "/v1/signatures", headers=rig.client.auth,
                             json={"app_id": "demo", "name": "Third"})
    await call(rig, "POST", f"/v1/signatures/{sig['id']}/approve", headers=OPERATOR)
    for decision in ("approve", "reject"):
        status, body = await call(rig, "POST", f"/v1/signatures/{sig['id']}/{decision}", headers=OPERATOR)
        assert status == 409 and body["code"] == 1040
    status, body = await rig.client.send([NUMBER], sign="Third")
    assert status == 200 and body["results"][0]["code"] == 0


@pytest.mark.parametrize("name", ["x", "【Fake】", "  padded", "12345", "smsengine"],
                         ids=["too-short", "brackets", "whitespace", "no-letter", "exists"])
async def test_bad_signature_names_are_1041(rig, name):
    status, body = await call(rig, "POST", "/v1/signatures", headers=rig.client.auth, json={"app_id": "demo", "name": name})
    assert status == 400 and body["code"] == 1041


async def test_signature_for_another_account_is_refused(rig):
    await create_account(rig)
    status, body = await call(rig, "POST", "/v1/signatures", headers=rig.client.auth, json={"app_id": "acme", "name": "Acme"})
    assert status == 403 and body["code"] == 1006


async def test_unknown_signature_review_is_404(rig):
    status, body = await call(rig, "POST", "/v1/signatures/9999/approve", headers=OPERATOR)
    assert status == 404 and body["code"] == 1011


# -- templates --------------------------------------------------------------------------------------------------
async def create_template(rig, text: str, **fields) -> tuple[int, dict]:
    return await call(rig, "POST", "/v1/templates", headers=rig.client.auth, json={"app_id": "demo", "text": text, **fields})


async def test_template_is_usable_only_once_approved(rig):
    status, tpl = await create_template(rig, "Hello {1}, your table for {2} is ready.")
    assert status == 201 and tpl["status"] == "pending"
    assert tpl["type"] == "regular" and tpl["region"] == "mainland" and tpl["app_id"] == "demo"
    fields = {"template_id": tpl["id"], "params": ["Ann", "4"]}
    status, body = await rig.client.send([NUMBER], **fields)
    assert status == 400 and body["code"] == 1014
    status, approved = await call(rig, "POST", f"/v1/templates/{tpl['id']}/approve", headers=OPERATOR)
    assert status == 200 and approved["status"] == "approved"
    status, body = await rig.client.send([NUMBER], **fields)
    assert status == 200 and body["results"][0]["code"] == 0
    mid = body["results"][0]["message_id"]
    view = (await rig.client.wait_final([mid]))[mid]
    assert view["content"] == "【smsengine】Hello Ann, your table for 4 is ready."
    status, listed = await call(rig, "GET", "/v1/templates", headers=rig.client.auth)
    assert {t["id"]: t["status"] for t in listed}[tpl["id"]] == "approved"


async def test_approved_template_cannot_be_decided_again(rig):
    _, tpl = await create_template(rig, "Your code is {1}.")
    await call(rig, "POST", f"/v1/templates/{tpl['id']}/approve", headers=OPERATOR)
    for decision in ("approve", "reject"):
        status, body = await call(rig, "POST", f"/v1/templates/{tpl['id']}/{decision}", headers=OPERATOR,
                                  json={"remark": "again"})
        assert status == 409 and body["code"] == 1040
    # the seeded approved template is just as immutable
    status, body = await call(rig, "POST", "/v1/templates/1/reject", headers=OPERATOR)
    assert status == 409 and body["code"] == 1040


async def test_rejected_template_stays_unusable(rig):
    _, tpl = await create_template(rig, "Your code is {1}.")
    status, rejected = await call(rig, "POST", f"/v1/templates/{tpl['id']}/reject", headers=OPERATOR,
                                  json={"remark": "too vague"})
    assert status == 200 and rejected["status"] == "rejected" and rejected["remark"] == "too vague"
    status, body = await rig.client.send([NUMBER], template_id=tpl["id"], params=["1"])
    assert status == 400 and body["code"] == 1014
    status, body = await call(rig, "POST", f"/v1/templates/{tpl['id']}/approve", headers=OPERATOR)
    assert status == 404 and body["code"] == 1011


async def test_template_review_needs_the_operator(rig):
    _, tpl = await create_template(rig, "Your code is {1}.")
    status, body = await call(rig, "POST", f"/v1/templates/{tpl['id']}/approve", headers=rig.client.auth)
    assert status == 403 and body["code"] == 1006
    status, body = await call(rig, "POST", "/v1/templates/9999/approve", headers=OPERATOR)
    assert status == 404 and body["code"] == 1011


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ("{1}{2}", {}),
        ("Code {1} and {3}", {}),
        ("Code {0}", {}),
        ("Unbalanced {1", {}),
        ("Big sale on {1} today", {"type": "marketing"}),
        ("【Other】 code {1}", {}),
        ("", {}),
    ],
    ids=["only-placeholders", "not-consecutive", "zero", "unbalanced", "marketing-without-opt-out",
         "brackets-in-mainland", "empty"],
)
async def test_invalid_template_is_1027(rig, text, fields):
    status, body = await create_template(rig, text, **fields)
    assert status == 400 and body["code"] == 1027


async def test_marketing_template_with_opt_out_is_accepted_for_review(rig):
    status, tpl = await create_template(rig, "Big sale on {1} today. Reply TD to unsubscribe.", type="marketing",
                                        region="international")
    assert status == 201 and tpl["type"] == "marketing" and tpl["region"] == "international"


# -- NUL: no message can hold one (1059), so a template or signature holding one is refused when it is made -----
async def catalogue_rows(rig) -> tuple[list[tuple], list[tuple], list[tuple]]:
    await rig.engine.store.flush()
    return (db_rows(rig.engine, "SELECT id, app_id, text, status FROM templates ORDER BY id"),
            db_rows(rig.engine, "SELECT id, app_id, name, status FROM signatures ORDER BY id"),
            db_rows(rig.engine, "SELECT app_id FROM accounts ORDER BY app_id"))


def refused_for_nul(status: int, body: dict, code: int, at: int) -> bool:
    return (status, body["code"]) == (400, code) and f"NUL character (U+0000) at character {at}," in body["message"]


async def test_a_template_with_a_nul_is_1027_at_creation_and_edit_and_nothing_is_stored(rig):
    status, tpl = await create_template(rig, "Code {1}, valid for 5 minutes")
    await call(rig, "POST", f"/v1/templates/{tpl['id']}/reject", headers=OPERATOR, json={"remark": "name the shop"})
    before = await catalogue_rows(rig)
    assert (tpl["id"], "demo", "Code {1}, valid for 5 minutes", "rejected") in before[0]
    for text, at in (("Code {1}\x00, valid for 5 minutes", 9), ("\x00", 1)):
        status, body = await create_template(rig, text)
        assert refused_for_nul(status, body, 1027, at), body
        status, body = await call(rig, "PATCH", f"/v1/templates/{tpl['id']}", headers=rig.client.auth,
                                  json={"text": text, "note": "now with a NUL"})
        assert refused_for_nul(status, body, 1027, at), body
    assert await catalogue_rows(rig) == before
    _, listed = await call(rig, "GET", "/v1/templates", headers=rig.client.auth)
    assert [(t["text"], t["status"], t["note"]) for t in listed if t["id"] == tpl["id"]] == [
        ("Code {1}, valid for 5 minutes", "rejected", "")]


async def test_a_signature_name_with_a_nul_is_1041_at_creation_and_rename_and_nothing_is_stored(rig):
    _, sig = await call(rig, "POST", "/v1/signatures", headers=rig.client.auth, json={"app_id": "demo", "name": "Acme"})
    before = await catalogue_rows(rig)
    status, body = await call(rig, "POST", "/v1/signatures", headers=rig.client.auth,
                              json={"app_id": "demo", "name": "Ac\x00me"})
    assert refused_for_nul(status, body, 1041, 3), body
    status, body = await call(rig, "PATCH", f"/v1/signatures/{sig['id']}", headers=rig.client.auth,
                              json={"name": "Ac\x00me"})
    assert refused_for_nul(status, body, 1041, 3), body
    assert await catalogue_rows(rig) == before


@pytest.mark.parametrize("fields, code, detail", [
    ({"signatures": [{"name": "Acme"}, {"name": "Acme\x00"}], "templates": [{"id": 901, "text": "Code {1}"}]},
     1041, "NUL character (U+0000) at character 5,"),
    ({"signatures": [{"name": "Acme"}], "templates": [{"id": 901, "text": "Code {1}"}, {"id": 902, "text": "Code {1}\x00"}]},
     1027, "NUL character (U+0000) at character 9,"),
    ({"signatures": [{"name": "Acme"}], "templates": [{"id": 902, "text": "Code {2}"}]}, 1027, "missing [1]"),
], ids=["nul-signature", "nul-template", "unparsable-template"])
async def test_an_account_created_with_a_template_or_signature_no_send_could_use_is_refused_whole(
        rig, fields, code, detail):
    """Seeds are checked before anything is written: no account row is left without its catalogue."""
    before = await catalogue_rows(rig)
    status, body = await create_account(rig, **fields)
    assert (status, body["code"]) == (400, code) and detail in body["message"], body
    assert await catalogue_rows(rig) == before
    status, _ = await create_account(rig, signatures=[{"name": "Acme"}], templates=[{"id": 901, "text": "Code {1}"}])
    assert status == 201


# -- unsubscribe list -------------------------------------------------------------------------------------------
async def unsubscribes(rig) -> list[str]:
    status, body = await call(rig, "GET", "/v1/unsubscribes", headers=rig.client.auth)
    assert status == 200
    return body["phones"]


async def test_unsubscribe_and_lift_change_the_send_outcome(rig):
    change = {"app_id": "demo", "phone": NUMBER}
    status, _ = await call(rig, "POST", "/v1/unsubscribes", headers=rig.client.auth, json=change)
    assert status == 201
    assert await unsubscribes(rig) == [NUMBER]
    _, body = await rig.client.send([NUMBER])
    assert body["results"][0]["code"] == 1015
    status, _ = await call(rig, "DELETE", "/v1/unsubscribes", headers=rig.client.auth, json=change)
    assert status == 200
    assert await unsubscribes(rig) == []
    _, body = await rig.client.send([NUMBER])
    assert body["results"][0]["code"] == 0
    status, body = await call(rig, "DELETE", "/v1/unsubscribes", headers=rig.client.auth, json=change)
    assert status == 404 and body["code"] == 1011


async def test_unsubscribe_given_in_local_form_blocks_the_number(rig):
    status, _ = await call(rig, "POST", "/v1/unsubscribes", headers=rig.client.auth,
                           json={"app_id": "demo", "phone": "13800000001"})
    assert status == 201
    assert await unsubscribes(rig) == [NUMBER]
    _, body = await rig.client.send([NUMBER])
    assert body["results"][0]["code"] == 1015
    status, _ = await call(rig, "DELETE", "/v1/unsubscribes", headers=rig.client.auth,
                           json={"app_id": "demo", "phone": "8613800000001"})
    assert status == 200
    _, body = await rig.client.send([NUMBER])
    assert body["results"][0]["code"] == 0


async def test_unsubscribing_a_malformed_number_is_1016(rig):
    status, body = await call(rig, "POST", "/v1/unsubscribes", headers=rig.client.auth,
                              json={"app_id": "demo", "phone": "not a number"})
    assert status == 400 and body["code"] == 1016
    assert await unsubscribes(rig) == []


async def test_unsubscribe_list_is_per_account(rig):
    await create_account(rig)
    await call(rig, "POST", "/v1/unsubscribes", headers=rig.client.auth, json={"app_id": "demo", "phone": NUMBER})
    status, body = await call(rig, "GET", "/v1/unsubscribes", headers={"X-App-Id": "acme", "X-App-Key": "acme-key"})
    assert status == 200 and body["phones"] == []
    status, body = await call(rig, "POST", "/v1/unsubscribes", headers={"X-App-Id": "acme", "X-App-Key": "acme-key"},
                              json={"app_id": "demo", "phone": NUMBER})
    assert status == 403 and body["code"] == 1006


# -- operations ------------------------------------------------------------------------------------------------
async def test_openapi_document_describes_the_api(rig):
    async with rig.http.get("/openapi.json") as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    assert "post" in doc["paths"]["/v1/sms/send"]
    for path in ("/v1/messages/{message_id}", "/v1/receipts", "/v1/accounts", "/v1/templates", "/v1/unsubscribes"):
        assert path in doc["paths"]
    schemas = doc["components"]["schemas"]
    send = schemas["SendRequest"]
    assert {"app_id", "random", "time", "sig", "phone_numbers"} <= set(send["properties"])
    assert "SendResponse" in schemas and "ErrorResponse" in schemas
    # every reference resolves to a component
    refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', str(doc).replace("'", '"')))
    assert refs and refs <= set(schemas)
    assert "1046" in doc["info"]["description"]  # the error catalogue is documented


async def test_healthz_is_200_with_carriers_up(rig):
    async with rig.http.get("/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["healthy"] is True and body["store_writable"] is True and body["carriers"] == {"ideal": True}


async def test_healthz_probes_cost_no_write(rig):
    await rig.engine.store.flush()
    commits = rig.engine.store.commits
    for _ in range(5):
        async with rig.http.get("/healthz") as resp:
            assert resp.status == 200 and (await resp.json())["store_writable"] is True
    assert rig.engine.store.commits == commits


async def test_non_ascii_admin_token_is_refused_not_an_error(rig):
    headers = {"X-Admin-Token": "t\u00f6ken".encode().decode("latin-1")}
    status, body = await call(rig, "POST", "/v1/accounts", headers=headers, json={"app_id": "acme", "key": "k"})
    assert status == 403 and body["code"] == 1006


async def test_healthz_is_503_with_every_carrier_down(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    try:
        await rig.simulators.close()

        async def unhealthy() -> tuple[int, dict] | None:
            async with rig.http.get("/healthz") as resp:
                return (resp.status, await resp.json()) if resp.status == 503 else None

        status, body = await eventually(unhealthy, 5)
        assert body["healthy"] is False and body["carriers"] == {"ideal": False}
    finally:
        await rig.http.close()
        await rig.server.stop(drain_timeout=0.5)


def metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name}{labels} not in /metrics"
    return float(match.group(1))


async def test_metrics_count_requests_and_final_messages(rig):
    _, body = await rig.client.send([NUMBER, "+8613800000002"])
    status, _ = await rig.client.send([NUMBER], sig="")  # a refused request is still a request
    assert status == 401
    await rig.client.wait_final([r["message_id"] for r in body["results"]])
    async with rig.http.get("/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    assert "smsengine_requests" in text and "smsengine_messages_final" in text
    assert metric(text, "smsengine_requests_total") == 2
    assert metric(text, "smsengine_messages_final_total", '{status="delivered"}') == 2
    assert metric(text, "smsengine_account_messages_final_total", '{app="demo",status="delivered"}') == 2


async def test_metrics_show_receipts_that_came_before_their_submit_answer(rig):
    """A receipt for an id the engine has not recorded yet is parked (a gauge), then matched when
    the submit_sm_resp naming that id is recorded (a counter)."""
    dispatcher = rig.engine.dispatcher
    assert not dispatcher.receipt("ideal", "early-1", "", "DELIVRD", "000")  # parked: id unknown
    text = await metrics_text(rig)
    assert metric(text, "smsengine_receipts_parked") == 1
    assert metric(text, "smsengine_receipts_matched_early_total") == 0
    assert dispatcher.correlator.register("ideal", "early-1", "a segment", 0.0) is not None  # its answer came
    text = await metrics_text(rig)
    assert metric(text, "smsengine_receipts_parked") == 0
    assert metric(text, "smsengine_receipts_matched_early_total") == 1


async def test_metrics_show_the_writers_commits_and_the_loops_lag(rig):
    """How busy the store's writer is (its commits, their seconds on its thread) and how late the
    event loop runs a timer: what says which of the two bounds the engine under load."""
    before = await metrics_text(rig)
    _, body = await rig.client.send([NUMBER, "+8613800000002"])
    await rig.client.wait_final([r["message_id"] for r in body["results"]])

    async def sampled() -> str | None:  # the loop's timer ticks every LAG_TICK_S
        text = await metrics_text(rig)
        return text if metric(text, "smsengine_event_loop_lag_seconds_count") > 0 else None

    text = await eventually(sampled, 5)
    commits = metric(text, "smsengine_store_commits_total")
    assert commits > metric(before, "smsengine_store_commits_total")
    # every round is timed, including the commits before the first scrape (a drain takes them all)
    assert metric(text, "smsengine_store_commit_seconds_count") == commits
    busy = metric(text, "smsengine_store_writer_busy_seconds_total")
    assert busy > 0 and metric(text, "smsengine_store_commit_seconds_sum") == pytest.approx(busy)
    assert metric(text, "smsengine_event_loop_lag_seconds_bucket", '{le="+Inf"}') == \
        metric(text, "smsengine_event_loop_lag_seconds_count")


async def metrics_text(rig) -> str:
    async with rig.http.get("/metrics") as resp:
        assert resp.status == 200
        return await resp.text()


async def test_templates_created_together_get_their_own_ids(rig):
    texts = [f"Notice {i}: your code is {{1}}." for i in range(5)]
    created = await asyncio.gather(*(create_template(rig, text) for text in texts))
    assert all(status == 201 for status, _ in created)
    ids = [tpl["id"] for _, tpl in created]
    assert len(set(ids)) == 5
    status, listed = await call(rig, "GET", "/v1/templates", headers=rig.client.auth)
    by_id = {t["id"]: t["text"] for t in listed}
    assert [by_id[i] for i in ids] == texts


async def test_same_signature_submitted_twice_at_once_is_created_once(rig):
    change = {"app_id": "demo", "name": "Twice"}
    answers = await asyncio.gather(*(call(rig, "POST", "/v1/signatures", headers=rig.client.auth, json=change)
                                     for _ in range(2)))
    assert sorted(status for status, _ in answers) == [201, 400]
    assert [body["code"] for status, body in answers if status == 400] == [1041]
    # the refused duplicate left the store working
    status, body = await rig.client.send([NUMBER])
    assert status == 200 and body["results"][0]["code"] == 0


async def test_same_account_created_twice_at_once_is_created_once(rig):
    answers = await asyncio.gather(create_account(rig, key="first-key"), create_account(rig, key="second-key"))
    assert sorted(status for status, _ in answers) == [201, 400]
    winner = "first-key" if answers[0][0] == 201 else "second-key"
    status, _ = await call(rig, "GET", "/v1/accounts/acme", headers={"X-App-Id": "acme", "X-App-Key": winner})
    assert status == 200


@pytest.mark.parametrize("fields", [{"app_id": ""}, {"key": ""}, {"app_id": "a" * 65},
                                    {"receipt_url": "http://x/" + "p" * 2048}])
async def test_account_identity_and_urls_are_bounded(rig, fields):
    body = {"app_id": "acme", "key": "acme-key"} | fields
    status, answer = await call(rig, "POST", "/v1/accounts", headers=OPERATOR, json=body)
    assert status == 400 and answer["code"] == 1004
    status, _ = await call(rig, "GET", "/v1/accounts/acme", headers=OPERATOR)
    assert status in (401, 404)  # nothing was created


@pytest.mark.parametrize("method, path, status, code", [
    ("GET", "/v1/no-such-thing", 404, 1011),
    ("PUT", "/v1/sms/send", 405, 1004),
])
async def test_the_servers_own_errors_are_catalogue_json(rig, method, path, status, code):
    async with rig.http.request(method, path) as resp:
        assert resp.status == status
        assert resp.content_type == "application/json"
        body = await resp.json()
    assert body["code"] == code and body["message"]


async def test_a_body_over_the_size_limit_is_413_json(rig):
    async with rig.http.post("/v1/sms/send", data=b"{" + b" " * (4 * 1024 * 1024 + 10) + b"}",
                             headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413 and resp.content_type == "application/json"
        assert (await resp.json())["code"] == 1004


@pytest.mark.parametrize("raw", ["%201", "+1", "1_0", "%D9%A3", "01x", "99999999999999999999"])
async def test_path_ids_are_ascii_decimal_only(rig, raw):
    status, body = await rig.client.send([f"+86138{i:08d}" for i in range(10)])  # ids 1..10 exist
    assert status == 200 and {r["message_id"] for r in body["results"]} >= {"1", "3", "10"}
    async with rig.http.get(f"/v1/messages/{raw}", headers=OPERATOR) as resp:
        assert resp.status == 404, raw
        assert (await resp.json())["code"] == 1011


async def test_private_callback_urls_are_refused_unless_the_config_allows(tmp_path):
    from smsengine.config import HttpConfig
    from tests.support.rig import ADMIN

    rig = await start_rig(tmp_path, [fast_profile("ideal")], http=HttpConfig(port=0, admin_token=ADMIN))
    try:
        for url in ("http://127.0.0.1:9/r", "http://10.0.0.7/r", "http://localhost/r", "http://[::1]/r"):
            status, body = await call(rig, "PATCH", "/v1/accounts/demo", headers=rig.client.auth,
                                      json={"receipt_url": url})
            assert status == 400 and body["code"] == 1004 and "public" in body["message"], (url, body)
        status, body = await create_account(rig, limits={"alarm_url": "http://192.168.0.1/alarm"})
        assert status == 400 and "limits.alarm_url" in body["message"]
        status, body = await call(rig, "PATCH", "/v1/accounts/demo", headers=rig.client.auth,
                                  json={"receipt_url": "https://hooks.example.com/r"})
        assert status == 200 and body["receipt_url"] == "https://hooks.example.com/r"
    finally:
        await stop_rig(rig)
