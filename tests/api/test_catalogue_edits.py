"""Editing templates and signatures as the seeds describe: a pending or rejected one may be
edited (and is under review again), an approved one never changes (1040); another account's is
not found; a rename to a name the account has is refused (1041)."""

import pytest

from tests.support.rig import ADMIN, fast_profile, start_rig, stop_rig

OPERATOR = {"X-Admin-Token": ADMIN}


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def call(rig, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    async with rig.http.request(method, path, json=body, headers=headers or rig.client.auth) as resp:
        return resp.status, await resp.json()


async def test_a_rejected_template_is_edited_back_to_pending_and_an_approved_one_is_immutable(rig):
    status, tpl = await call(rig, "POST", "/v1/templates", {"app_id": "demo", "text": "Your order {1} shipped"})
    assert status == 201 and tpl["status"] == "pending"
    status, _ = await call(rig, "POST", f"/v1/templates/{tpl['id']}/reject", {"remark": "name the shop"}, OPERATOR)
    assert status == 200
    status, edited = await call(rig, "PATCH", f"/v1/templates/{tpl['id']}", {"text": "Acme: your order {1} shipped"})
    assert status == 200 and (edited["text"], edited["status"], edited["remark"]) == (
        "Acme: your order {1} shipped", "pending", "")
    await call(rig, "POST", f"/v1/templates/{tpl['id']}/approve", None, OPERATOR)
    status, body = await call(rig, "PATCH", f"/v1/templates/{tpl['id']}", {"text": "changed after approval {1}"})
    assert (status, body["code"]) == (409, 1040)
    await rig.engine.store.flush()
    # the edit is durable and the send uses the approved text
    _, body = await rig.client.send(["+8613800000001"], template_id=tpl["id"], params=["A1"])
    assert body["results"][0]["code"] == 0


async def test_a_signature_is_renamed_while_pending_and_names_stay_unique(rig):
    _, first = await call(rig, "POST", "/v1/signatures", {"app_id": "demo", "name": "Acme Shop"})
    status, renamed = await call(rig, "PATCH", f"/v1/signatures/{first['id']}", {"name": "Acme Store"})
    assert status == 200 and (renamed["name"], renamed["status"]) == ("Acme Store", "pending")
    status, body = await call(rig, "PATCH", f"/v1/signatures/{first['id']}", {"name": "smsengine"})  # the demo's
    assert (status, body["code"]) == (400, 1041)
    _, listed = await call(rig, "GET", "/v1/signatures?app_id=demo")
    assert sorted(s["name"] for s in listed) == ["Acme Store", "smsengine"]


async def test_another_accounts_template_is_not_found(rig):
    _, tpl = await call(rig, "POST", "/v1/templates", {"app_id": "demo", "text": "Hello {1}"})
    await call(rig, "POST", "/v1/accounts", {"app_id": "other", "key": "other-key"}, OPERATOR)
    status, body = await call(rig, "PATCH", f"/v1/templates/{tpl['id']}", {"text": "Mine now {1}"},
                              {"X-App-Id": "other", "X-App-Key": "other-key"})
    assert (status, body["code"]) == (404, 1011)


async def test_a_template_has_a_name_and_the_applicants_note_kept_through_edits(rig):
    status, tpl = await call(rig, "POST", "/v1/templates", {"app_id": "demo", "text": "Your parcel {1} is here",
                                                             "name": "parcel arrival", "note": "sent when a parcel arrives"})
    assert status == 201 and (tpl["name"], tpl["note"], tpl["remark"]) == (
        "parcel arrival", "sent when a parcel arrives", "")
    await call(rig, "POST", f"/v1/templates/{tpl['id']}/reject", {"remark": "name the shop"}, OPERATOR)
    status, edited = await call(rig, "PATCH", f"/v1/templates/{tpl['id']}", {"text": "Acme: parcel {1} is here"})
    assert (edited["name"], edited["note"]) == ("parcel arrival", "sent when a parcel arrives")
    status, edited = await call(rig, "PATCH", f"/v1/templates/{tpl['id']}",
                                {"text": "Acme: parcel {1} is here", "note": "now names the shop"})
    assert edited["note"] == "now names the shop"
    await rig.engine.store.flush()
    [row] = [r for r in await rig.engine.store.template_rows("demo") if r.id == tpl["id"]]
    assert (row.name, row.note) == ("parcel arrival", "now names the shop")  # durable
    status, body = await call(rig, "POST", "/v1/templates", {"app_id": "demo", "text": "x {1}", "name": "n" * 65})
    assert (status, body["code"]) == (400, 1004)
