"""Content rules over the API: a send with a sensitive word is refused with 1002 and nothing is
stored, reserved or charged; a template with one is refused at creation; a neutral signature
name is refused with 1041."""

import pytest

from smsengine.config import ContentConfig
from tests.support.rig import db_rows, fast_profile, start_rig, stop_rig


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")],
                          content=ContentConfig(sensitive_words=["casino", "发票"]))
    yield rig
    await stop_rig(rig)


async def test_a_send_with_a_sensitive_word_is_1002_and_nothing_is_charged(rig):
    available = rig.engine.accounts.get("demo").available
    status, body = await rig.client.send(["+8613800000001", "+8613800000002"], content="Big wins at our CASINO")
    assert (status, body["code"]) == (400, 1002) and "CASINO" in body["message"]
    status, body = await rig.client.send(["+8613800000003"], content="代开发票")
    assert body["code"] == 1002
    await rig.engine.store.flush()
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages") == [(0,)]
    assert rig.engine.accounts.get("demo").available == available
    status, body = await rig.client.send(["+8613800000001"], content="Your parcel is on its way")
    assert body["results"][0]["code"] == 0


async def test_a_template_with_a_sensitive_word_is_refused_at_creation(rig):
    async with rig.http.post("/v1/templates", json={"app_id": "demo", "text": "Try our casino, code {1}"},
                             headers=rig.client.auth) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == 1002
    async with rig.http.post("/v1/templates", json={"app_id": "demo", "text": "Your code is {1}"}, headers=rig.client.auth) as resp:
        assert resp.status == 201


@pytest.mark.parametrize("name", ["test", "Verification Code", "验证码", "aabb"])
async def test_a_neutral_signature_name_is_refused(rig, name):
    async with rig.http.post("/v1/signatures", json={"app_id": "demo", "name": name}, headers=rig.client.auth) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == 1041
    async with rig.http.post("/v1/signatures", json={"app_id": "demo", "name": "Acme Shop"}, headers=rig.client.auth) as resp:
        assert resp.status == 201
