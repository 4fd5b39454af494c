"""POST /v1/sms/send over real sockets: every request- and recipient-level error code, dedupe,
the message view and scheduled sends."""

import asyncio
import json
import time

import msgspec
import pytest

from smsengine.config import HttpConfig, LimitsConfig, SignatureSeed, TemplateSeed
from smsengine.domain.auth import request_sig
from tests.support.rig import ADMIN, Client, db_rows, demo_account, fast_profile, start_rig, stop_rig

INTERNATIONAL = "+14155552671"
TEMPLATE_1_TEXT = "【smsengine】Your verification code is 1234, valid for 5 minutes."


STRICT, CAPPED, PERSON, PLAIN, POOR = 10, 20, 30, 40, 50


def mainland(i: int) -> str:
    return f"+86138{i:08d}"


def account(app_id: str, base: int, **changes):
    """A demo-like account; template ids are global, so its templates 1-3 are base+1..base+3."""
    templates = [msgspec.structs.replace(t, id=base + t.id) for t in demo_account().templates]
    return demo_account(app_id=app_id, key=f"{app_id}-key", templates=templates, **changes)


def accounts():
    seeded = demo_account().templates + [
        TemplateSeed(4, "Your parcel {1} is waiting.", status="pending"),
        TemplateSeed(5, "Your parcel {1} was returned.", status="rejected"),
    ]
    signatures = demo_account().signatures + [SignatureSeed("waiting", "pending"), SignatureSeed("refused", "rejected")]
    return [
        demo_account(templates=seeded, signatures=signatures),
        account("strict", STRICT, limits=LimitsConfig()),
        account("capped", CAPPED, limits=LimitsConfig(same_content_max=100, daily_max=100, hourly_max=2,
                                                      international_daily_max=2, allow_list=[mainland(999)])),
        account("person", PERSON, type="individual"),
        account("plain", PLAIN, raw_content=False),
        account("poor", POOR, balance=5),
    ]


class AccountClient(Client):
    """The rig's client for an account whose templates 1-3 have ids base+1..base+3; unlike the
    rig's, it keeps given params and defaults only what is missing."""

    def __init__(self, http, app_id: str, key: str, base: int) -> None:
        super().__init__(http, app_id, key)
        self.base = base

    def body(self, numbers: list[str], **fields) -> dict:
        if "content" not in fields:
            fields["template_id"] = fields.get("template_id", 1) + self.base
            fields.setdefault("params", ["1234", "5"])
        return super().body(numbers, **fields)


BASES = {"demo": 0, "strict": STRICT, "capped": CAPPED, "person": PERSON, "plain": PLAIN, "poor": POOR}


def client(rig, app_id: str) -> AccountClient:
    key = "demo-secret" if app_id == "demo" else f"{app_id}-key"
    return AccountClient(rig.http, app_id, key, BASES[app_id])


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")], accounts=accounts())
    rig.client = client(rig, "demo")
    yield rig
    await stop_rig(rig)


async def post_raw(rig, data: bytes) -> tuple[int, dict]:
    async with rig.http.post("/v1/sms/send", data=data, headers={"Content-Type": "application/json"}) as resp:
        return resp.status, await resp.json()


async def post_body(rig, body: dict) -> tuple[int, dict]:
    return await post_raw(rig, json.dumps(body).encode())


def assert_request_error(status: int, body: dict, code: int) -> None:
    """A request-level failure: 4xx, the catalogue code, a message, and no per-recipient results."""
    assert 400 <= status < 500, (status, body)
    assert body["code"] == code, body
    assert body["message"]
    assert "results" not in body


def codes(body: dict) -> dict[str, int]:
    return {r["phone"]: r["code"] for r in body["results"]}


# -- accepted sends ----------------------------------------------------------------------------------------
async def test_accepted_send_has_one_result_per_number(rig):
    numbers = [mainland(1), mainland(2), mainland(3)]
    status, body = await rig.client.send(numbers)
    assert status == 200 and body["code"] == 0 and body["message"] == "OK"
    assert [r["phone"] for r in body["results"]] == numbers
    for r in body["results"]:
        assert r["code"] == 0 and r["message"] == "OK"
        assert r["chars"] == len(TEMPLATE_1_TEXT) and r["segments"] == 1 and r["fee"] == 1
    ids = [r["message_id"] for r in body["results"]]
    assert len(set(ids)) == 3 and all(i.isdigit() for i in ids)
    assert body["duplicates"] == 0
    views = await rig.client.wait_final(ids)
    assert {v["status"] for v in views.values()} == {"delivered"}


async def test_integer_params_are_rendered(rig):
    status, body = await rig.client.send([mainland(4)], params=[9876, 3])
    (result,) = body["results"]
    assert result["code"] == 0
    view = await rig.client.message(result["message_id"])
    assert view["content"] == "【smsengine】Your verification code is 9876, valid for 3 minutes."


async def test_international_send_needs_no_signature(rig):
    status, body = await rig.client.send([INTERNATIONAL], template_id=2, sign=None)
    assert status == 200
    (result,) = body["results"]
    assert result["code"] == 0
    view = await rig.client.message(result["message_id"])
    assert view["content"] == "Your verification code is 1234, valid for 5 minutes."


async def test_200_numbers_are_accepted(rig):
    numbers = [mainland(1000 + i) for i in range(200)]
    status, body = await rig.client.send(numbers)
    assert status == 200
    assert len(body["results"]) == 200
    assert all(r["code"] == 0 for r in body["results"])
    assert len({r["message_id"] for r in body["results"]}) == 200


# -- request authentication: 1001, 1003, 1021, 1028 --------------------------------------------------------
async def test_sig_made_with_another_key_is_1001(rig):
    status, body = await rig.client.send([mainland(5)], key="not-the-key")
    assert_request_error(status, body, 1001)


async def test_numbers_changed_after_signing_is_1001(rig):
    body = rig.client.body([mainland(5)])
    body["phone_numbers"] = [mainland(6)]
    status, answer = await post_body(rig, body)
    assert_request_error(status, answer, 1001)


async def test_uppercase_hex_sig_is_accepted(rig):
    body = rig.client.body([mainland(7)])
    body["sig"] = body["sig"].upper()
    status, answer = await post_body(rig, body)
    assert status == 200 and answer["results"][0]["code"] == 0


async def test_empty_sig_is_1003(rig):
    status, body = await rig.client.send([mainland(5)], sig="")
    assert_request_error(status, body, 1003)


async def test_missing_sig_is_1003(rig):
    body = rig.client.body([mainland(5)])
    del body["sig"]
    status, answer = await post_body(rig, body)
    assert_request_error(status, answer, 1003)


async def test_unknown_app_is_answered_like_a_wrong_key(rig):
    """1001 for both, same status and message: the answer must not tell which app ids exist."""
    unknown = await Client(rig.http, "ghost", "ghost-key").send([mainland(5)])
    wrong_key = await rig.client.send([mainland(5)], key="ghost-key")
    assert_request_error(*unknown, 1001)
    assert unknown == wrong_key


@pytest.mark.parametrize("skew", [-301, 301])
async def test_time_more_than_5_minutes_off_is_1021(rig, skew):
    status, body = await rig.client.send([mainland(5)], time=time.time() + skew)
    assert_request_error(status, body, 1021)


async def test_time_a_little_off_is_accepted(rig):
    status, body = await rig.client.send([mainland(5)], time=time.time() - 240)
    assert status == 200 and body["results"][0]["code"] == 0


async def test_replayed_random_and_time_is_1028(rig):
    body = rig.client.body([mainland(8)])
    status, first = await post_body(rig, body)
    assert status == 200 and first["results"][0]["code"] == 0
    status, second = await post_body(rig, body)
    assert_request_error(status, second, 1028)
    # a fresh random with the same time is a new request
    status, third = await rig.client.send([mainland(8)], time=body["time"], random=body["random"] + 1)
    assert status == 200 and third["results"][0]["code"] == 0


# -- request shape: 1004 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [b"{not json", b"", b"[]", b"\xff\xfe{}", b'{"app_id": "demo"}'],
                         ids=["garbage", "empty", "array", "not-utf8", "missing-fields"])
async def test_unparseable_body_is_1004(rig, data):
    status, body = await post_raw(rig, data)
    assert_request_error(status, body, 1004)


@pytest.mark.parametrize(
    "change",
    [
        {"random": "12"},
        {"time": "now"},
        {"phone_numbers": "+8613800000009"},
        {"phone_numbers": [8613800000009]},
        {"params": [True, "5"]},
        {"params": [1.5, "5"]},
        {"params": "1234"},
        {"template_id": "1"},
        {"type": "promotion"},
        {"context": 7},
        {"schedule_at": "tomorrow"},
        {"colour": "blue"},
    ],
    ids=lambda c: "-".join(f"{k}={v!r}" for k, v in c.items()),
)
async def test_wrong_types_and_unknown_fields_are_1004(rig, change):
    body = rig.client.body([mainland(9)])
    body.update(change)
    status, answer = await post_body(rig, body)
    assert_request_error(status, answer, 1004)


async def test_empty_number_list_is_1004(rig):
    status, body = await rig.client.send([])
    assert_request_error(status, body, 1004)


async def test_template_and_content_together_is_1004(rig):
    status, body = await rig.client.send([mainland(9)], template_id=1, params=["1", "2"], content="hello there")
    assert_request_error(status, body, 1004)


async def test_neither_template_nor_content_is_1004(rig):
    body = rig.client.body([mainland(9)])
    del body["template_id"], body["params"]
    status, answer = await post_body(rig, body)
    assert_request_error(status, answer, 1004)


# -- messages: 1011 --------------------------------------------------------------------------------------
@pytest.mark.parametrize("message_id", ["987654321", "not-a-number", "-1", "9" * 30])
async def test_unknown_message_is_404_1011(rig, message_id):
    async with rig.http.get(f"/v1/messages/{message_id}", headers=rig.client.auth) as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == 1011


async def test_another_accounts_message_is_not_shown(rig):
    _, body = await rig.client.send([mainland(10)])
    mid = body["results"][0]["message_id"]
    # another account sees what it would see for an id that does not exist
    async with rig.http.get(f"/v1/messages/{mid}", headers=client(rig, "strict").auth) as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == 1011
    async with rig.http.get(f"/v1/messages/{mid}", headers={"X-Admin-Token": ADMIN}) as resp:
        assert resp.status == 200  # the operator sees every account's messages
    async with rig.http.get(f"/v1/messages/{mid}", headers={"X-App-Id": "demo", "X-App-Key": "wrong"}) as resp:
        assert resp.status == 401
        assert (await resp.json())["code"] == 1001
    async with rig.http.get(f"/v1/messages/{mid}", headers={"X-Admin-Token": ADMIN}) as resp:
        assert resp.status == 200
        assert (await resp.json())["message_id"] == mid


# -- signatures: 1012 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("sign", [None, "", "nobody", "waiting", "refused"])
async def test_mainland_without_an_approved_signature_is_1012(rig, sign):
    status, body = await rig.client.send([mainland(11)], sign=sign)
    assert_request_error(status, body, 1012)


async def test_international_with_an_unapproved_signature_is_1012(rig):
    status, body = await rig.client.send([INTERNATIONAL], template_id=2, sign="waiting")
    assert_request_error(status, body, 1012)


# -- templates: 1014 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "fields"),
    [
        (mainland(12), {"params": ["1234"]}),
        (mainland(12), {"params": ["1234", "5", "6"]}),
        (mainland(12), {"params": []}),
        (mainland(12), {"template_id": 99, "params": ["1"]}),
        (mainland(12), {"template_id": 4, "params": ["A1"]}),
        (mainland(12), {"template_id": 5, "params": ["A1"]}),
        (mainland(12), {"type": "marketing"}),
        (mainland(12), {"template_id": 3, "params": ["A1"], "type": "regular"}),
        (INTERNATIONAL, {"template_id": 1}),
        (mainland(12), {"template_id": 2}),
    ],
    ids=["too-few-params", "too-many-params", "no-params", "unknown-template", "pending-template",
         "rejected-template", "regular-template-as-marketing", "marketing-template-as-regular",
         "mainland-template-abroad", "international-template-at-home"],
)
async def test_template_mismatch_is_1014(rig, number, fields):
    fields.setdefault("params", ["1234", "5"])
    status, body = await rig.client.send([number], **fields)
    assert_request_error(status, body, 1014)


async def test_marketing_template_as_marketing_is_accepted(rig):
    status, body = await rig.client.send([mainland(13)], template_id=3, params=["A1"], type="marketing")
    assert status == 200 and body["results"][0]["code"] == 0


# -- recipients: 1015, 1016 -----------------------------------------------------------------------------------
async def test_unsubscribed_number_is_1015_and_the_rest_is_sent(rig):
    async with rig.http.post("/v1/unsubscribes", json={"app_id": "demo", "phone": mainland(14)},
                             headers=rig.client.auth) as resp:
        assert resp.status == 201
    status, body = await rig.client.send([mainland(14), mainland(15)])
    assert status == 200 and body["code"] == 0
    assert codes(body) == {mainland(14): 1015, mainland(15): 0}
    refused = body["results"][0]
    assert refused["message_id"] == "" and refused["fee"] == 0
    await rig.client.wait_final([body["results"][1]["message_id"]])
    rows = db_rows(rig.engine, "SELECT phone FROM messages WHERE phone IN (?, ?)", (mainland(14), mainland(15)))
    assert rows == [(mainland(15),)]


async def test_invalid_numbers_are_1016_and_the_rest_is_sent(rig):
    given = ["abc", mainland(16), "+86 13800000017", "+8613800", "", mainland(18), "+999123456789"]
    status, body = await rig.client.send(given)
    assert status == 200 and body["code"] == 0
    assert [r["phone"] for r in body["results"]] == given
    assert [r["code"] for r in body["results"]] == [1016, 0, 1016, 1016, 1016, 0, 1016]
    ids = [r["message_id"] for r in body["results"] if r["code"] == 0]
    views = await rig.client.wait_final(ids)
    assert sorted(v["phone"] for v in views.values()) == [mainland(16), mainland(18)]


async def test_only_invalid_numbers_is_still_a_valid_request(rig):
    status, body = await rig.client.send(["12", "abc"])
    assert status == 200 and body["code"] == 0
    assert [r["code"] for r in body["results"]] == [1016, 1016]


# -- content: 1017, 1048, 1006 ------------------------------------------------------------------------------
async def test_500_characters_with_the_signature_are_accepted(rig):
    content = "x" * (500 - len("【smsengine】"))
    status, body = await rig.client.send([mainland(19)], content=content)
    (result,) = body["results"]
    assert result["code"] == 0 and result["chars"] == 500 and result["segments"] == 8  # ceil(500 / 67)


async def test_501_characters_with_the_signature_is_1017(rig):
    content = "x" * (501 - len("【smsengine】"))
    status, body = await rig.client.send([mainland(19)], content=content)
    assert_request_error(status, body, 1017)


async def test_long_international_content_is_1017(rig):
    status, body = await rig.client.send([INTERNATIONAL], content="a" * 501, sign=None)
    assert_request_error(status, body, 1017)


async def test_empty_content_is_1048(rig):
    status, body = await rig.client.send([INTERNATIONAL], content="", sign=None)
    assert_request_error(status, body, 1048)


async def test_raw_content_without_permission_is_1006(rig):
    plain = client(rig, "plain")
    status, body = await plain.send([mainland(20)], content="hello from a raw send")
    assert_request_error(status, body, 1006)
    status, body = await plain.send([mainland(20)])
    assert status == 200 and body["results"][0]["code"] == 0


# -- limits: 1023, 1024, 1025, 1047, allow list --------------------------------------------------------------
async def test_same_content_to_the_same_number_within_30_s_is_1023(rig):
    strict = client(rig, "strict")
    _, first = await strict.send([mainland(21)])
    assert codes(first) == {mainland(21): 0}
    _, second = await strict.send([mainland(21), mainland(22)])
    assert codes(second) == {mainland(21): 1023, mainland(22): 0}
    _, third = await strict.send([mainland(21)], params=["4321", "5"])
    assert codes(third) == {mainland(21): 0}


async def test_eleventh_message_of_the_day_is_1025(rig):
    strict = client(rig, "strict")
    for i in range(10):
        _, body = await strict.send([mainland(23)], params=[f"{1000 + i}", "5"])
        assert codes(body) == {mainland(23): 0}
    _, body = await strict.send([mainland(23), mainland(24)], params=["2000", "5"])
    assert codes(body) == {mainland(23): 1025, mainland(24): 0}


async def test_hourly_limit_is_1024(rig):
    capped = client(rig, "capped")
    for i in range(2):
        _, body = await capped.send([mainland(25)], params=[f"{1000 + i}", "5"])
        assert codes(body) == {mainland(25): 0}
    _, body = await capped.send([mainland(25)], params=["2000", "5"])
    assert codes(body) == {mainland(25): 1024}


async def test_international_daily_limit_is_1047(rig):
    capped = client(rig, "capped")
    numbers = ["+14155552671", "+447911123456", "+6591234567"]
    _, body = await capped.send(numbers, template_id=2)
    assert [r["code"] for r in body["results"]] == [0, 0, 1047]


async def test_allow_listed_number_bypasses_the_limits(rig):
    capped = client(rig, "capped")
    for _ in range(4):  # same content, and over the hourly cap of 2
        _, body = await capped.send([mainland(999)])
        assert codes(body) == {mainland(999): 0}


# -- balance: 1031 ------------------------------------------------------------------------------------------
async def account_balance(rig, app_id: str) -> int:
    async with rig.http.get(f"/v1/accounts/{app_id}", headers=client(rig, app_id).auth) as resp:
        assert resp.status == 200
        return (await resp.json())["balance"]


async def test_no_balance_is_1031_and_refused_recipients_are_not_charged(rig):
    poor = client(rig, "poor")
    two_segments = "y" * 100  # 111 characters with the signature
    _, body = await poor.send([mainland(26), mainland(27), mainland(28)], content=two_segments)
    assert [r["code"] for r in body["results"]] == [0, 0, 1031]
    assert [r["fee"] for r in body["results"]] == [2, 2, 0]
    await poor.wait_final([r["message_id"] for r in body["results"][:2]])
    assert await account_balance(rig, "poor") == 1
    # one segment is left: a two-segment message still does not fit, a one-segment one does
    _, body = await poor.send([mainland(29)], content=two_segments)
    assert codes(body) == {mainland(29): 1031}
    _, body = await poor.send([mainland(29)], content="short")
    assert codes(body) == {mainland(29): 0}
    await poor.wait_final([body["results"][0]["message_id"]])
    assert await account_balance(rig, "poor") == 0
    _, body = await poor.send([mainland(30)], content="short")
    assert codes(body) == {mainland(30): 1031}
    assert await account_balance(rig, "poor") == 0


# -- account kind and state: 1032, 1033, 1036, 1037 -----------------------------------------------------------
async def test_individual_account_may_not_send_marketing_1032(rig):
    person = client(rig, "person")
    status, body = await person.send([mainland(31)], template_id=3, params=["A1"], type="marketing")
    assert_request_error(status, body, 1032)
    status, body = await person.send([mainland(31)], content="big sale today", type="marketing")
    assert_request_error(status, body, 1032)


async def test_suspended_account_is_1033_until_reactivated(rig):
    async def set_state(state: str) -> int:
        async with rig.http.patch("/v1/accounts/demo", json={"state": state},
                                  headers={"X-Admin-Token": ADMIN}) as resp:
            assert (await resp.json())["state"] == state
            return resp.status

    assert await set_state("suspended") == 200
    status, body = await rig.client.send([mainland(32)])
    assert_request_error(status, body, 1033)
    assert await set_state("active") == 200
    status, body = await rig.client.send([mainland(32)])
    assert status == 200 and codes(body) == {mainland(32): 0}


async def test_account_cannot_change_its_own_state(rig):
    async with rig.http.patch("/v1/accounts/demo", json={"state": "active"}, headers=rig.client.auth) as resp:
        assert resp.status == 403
        assert (await resp.json())["code"] == 1006


async def test_individual_parameter_over_12_characters_is_1036(rig):
    person = client(rig, "person")
    status, body = await person.send([mainland(33)], params=["1234567890123", "5"])
    assert_request_error(status, body, 1036)
    status, body = await person.send([mainland(33)], params=["123456789012", "5"])
    assert codes(body) == {mainland(33): 0}
    # organisations have no such limit
    status, body = await rig.client.send([mainland(34)], params=["1234567890123", "5"])
    assert codes(body) == {mainland(34): 0}


@pytest.mark.parametrize("param", ["www.example.com", "http://x.io", "evil.cn/a", "1.2.3.4:8080", "ｗｗｗ．bad．com"])
async def test_url_in_a_parameter_is_1037(rig, param):
    status, body = await rig.client.send([mainland(35)], params=[param, "5"])
    assert_request_error(status, body, 1037)


# -- number list shape: 1034, 1046 ------------------------------------------------------------------------------
async def test_mixed_regions_is_1034(rig):
    status, body = await rig.client.send([mainland(36), INTERNATIONAL])
    assert_request_error(status, body, 1034)


async def test_more_than_200_numbers_is_1046(rig):
    status, body = await rig.client.send([mainland(2000 + i) for i in range(201)])
    assert_request_error(status, body, 1046)
    status, body = await rig.client.send([mainland(37)] * 201)  # counted as given, before dedupe
    assert_request_error(status, body, 1046)
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages") == [(0,)]


async def test_source_over_its_rate_is_1013(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")],
                          http=HttpConfig(port=0, admin_token=ADMIN, source_numbers_per_s=0.001, source_burst=3))
    try:
        status, body = await rig.client.send([mainland(38), mainland(39), mainland(40)])
        assert status == 200 and all(r["code"] == 0 for r in body["results"])
        status, body = await rig.client.send([mainland(41)])
        assert status == 429 and body["code"] == 1013
    finally:
        await stop_rig(rig)


# -- dedupe -------------------------------------------------------------------------------------------------
async def test_duplicates_get_one_message(rig):
    given = [mainland(42), "13800000042", "8613800000042", mainland(42), mainland(43)]
    status, body = await rig.client.send(given)
    assert status == 200
    assert [r["phone"] for r in body["results"]] == [mainland(42), mainland(43)]
    assert body["duplicates"] == 3
    assert body["duplicate_numbers"] == ["13800000042", "8613800000042", mainland(42)]
    await rig.client.wait_final([r["message_id"] for r in body["results"]])
    rows = db_rows(rig.engine, "SELECT phone, COUNT(*) FROM messages GROUP BY phone ORDER BY phone")
    assert rows == [(mainland(42), 1), (mainland(43), 1)]
    assert rig.simulators["ideal"].counters.accepted == 2


async def test_raw_duplicate_is_signed_as_given(rig):
    given = ["13800000044", "+8613800000044"]
    body = rig.client.body(given)
    assert body["sig"] == request_sig("demo-secret", body["random"], body["time"], given)
    status, answer = await post_body(rig, body)
    assert status == 200 and answer["duplicates"] == 1
    assert [r["phone"] for r in answer["results"]] == ["13800000044"]


# -- message view ----------------------------------------------------------------------------------------------
async def test_message_view_fields(rig):
    _, body = await rig.client.send(["13800000045"], context="order-17", params=["5555", "10"])
    (result,) = body["results"]
    views = await rig.client.wait_final([result["message_id"]])
    view = views[result["message_id"]]
    assert set(view) == {
        "message_id", "app_id", "phone", "status", "code", "remark", "content", "type", "chars", "segments",
        "carrier", "context", "created_at", "scheduled_at", "submitted_at", "final_at",
    }
    assert view["message_id"] == result["message_id"]
    assert view["app_id"] == "demo" and view["phone"] == mainland(45)
    assert view["status"] == "delivered" and view["code"] == 0 and view["remark"].startswith("DELIVRD")
    assert view["content"] == "【smsengine】Your verification code is 5555, valid for 10 minutes."
    assert view["chars"] == len(view["content"]) == result["chars"] and view["segments"] == 1
    assert view["type"] == "regular" and view["carrier"] == "ideal" and view["context"] == "order-17"
    assert view["scheduled_at"] is None
    assert view["created_at"] <= view["submitted_at"] <= view["final_at"]


# -- scheduled send ---------------------------------------------------------------------------------------------
async def test_schedule_more_than_30_days_ahead_is_refused(rig):
    status, body = await rig.client.send([mainland(77)], schedule_at=time.time() + 31 * 86400)
    assert status == 400 and body["code"] == 1004 and "30 days" in body["message"]
    status, body = await rig.client.send([mainland(77)], schedule_at=time.time() + 29 * 86400)
    assert status == 200 and body["results"][0]["code"] == 0


async def test_scheduled_message_waits_for_its_time(rig):
    schedule_at = time.time() + 1.5
    _, body = await rig.client.send([mainland(46)], schedule_at=schedule_at)
    (result,) = body["results"]
    assert result["code"] == 0
    mid = result["message_id"]
    seen_early = 0
    while True:
        asked_at = time.time()
        view = await rig.client.message(mid)
        if asked_at >= schedule_at:
            break
        # asked before its time: the message must not have left
        assert view["status"] == "accepted" and view["submitted_at"] is None, view
        assert view["scheduled_at"] == pytest.approx(schedule_at)
        seen_early += 1
        await asyncio.sleep(0.2)
    assert seen_early >= 1
    views = await rig.client.wait_final([mid])
    assert views[mid]["status"] == "delivered"
    assert views[mid]["submitted_at"] >= schedule_at
    assert rig.simulators["ideal"].counters.accepted == 1


async def test_schedule_in_the_past_sends_now(rig):
    _, body = await rig.client.send([mainland(47)], schedule_at=time.time() - 60)
    mid = body["results"][0]["message_id"]
    views = await rig.client.wait_final([mid])
    assert views[mid]["status"] == "delivered" and views[mid]["scheduled_at"] is None


# -- bounded free-form input (limits in README) -------------------------------------------------------------
@pytest.mark.parametrize("field, value", [
    ("context", "x" * 513),
    ("content", "x" * 2001),
    ("sign", "s" * 65),
    ("phone_numbers", ["1" * 33]),
    ("params", ["p" * 65, "5"]),
])
async def test_an_oversized_field_is_refused_by_name_and_nothing_is_stored(rig, field, value):
    body = rig.client.body([mainland(1)] if field != "phone_numbers" else value, **(
        {} if field == "phone_numbers" else {field: value}))
    status, answer = await post_body(rig, body)
    assert_request_error(status, answer, 1004)
    assert f"$.{field}" in answer["message"]
    await rig.engine.store.flush()
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages") == [(0,)]


async def test_a_context_at_its_limit_is_accepted_and_echoed(rig):
    status, answer = await rig.client.send([mainland(2)], context="c" * 512)
    assert status == 200 and answer["results"][0]["code"] == 0


# -- NUL: refused up front, never sent whole and stored cut (README "Limits") --------------------------------
@pytest.mark.parametrize("fields", [
    {"params": ["12\x0034", "5"]},  # rendered into the template's text
    {"content": "code 1234\x00 and what a store would have lost"},
    {"content": "\x00"},
])
async def test_a_nul_in_the_text_is_1059_and_nothing_is_stored_or_charged(rig, fields):
    balance = await account_balance(rig, "demo")
    status, answer = await rig.client.send([mainland(48), mainland(49)], **fields)
    assert_request_error(status, answer, 1059)
    assert status == 400 and "U+0000" in answer["message"]
    await rig.engine.store.flush()
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages") == [(0,)]
    assert await account_balance(rig, "demo") == balance
    assert rig.simulators["ideal"].counters.accepted == 0


@pytest.mark.parametrize("field, value", [
    ("context", "order\x0017"),
    ("callback_url", "https://example.com/receipts\x00?shard=2"),
])
async def test_a_nul_in_context_or_callback_url_is_1004_naming_the_field(rig, field, value):
    status, answer = await rig.client.send([mainland(50)], **{field: value})
    assert_request_error(status, answer, 1004)
    assert status == 400 and f"$.{field}" in answer["message"]
    await rig.engine.store.flush()
    assert db_rows(rig.engine, "SELECT COUNT(*) FROM messages") == [(0,)]


async def test_other_control_characters_are_sent_and_stored_as_given(rig):
    content, context = "code 1234\tvalid\r\nfor 5 minutes \x01", "order\t17\n\x1f"
    (mid,) = await rig.client.accepted([mainland(51)], content=content, context=context)
    view = (await rig.client.wait_final([mid]))[mid]
    assert view["status"] == "delivered"
    assert (view["content"], view["context"]) == ("【smsengine】" + content, context)
    assert db_rows(rig.engine, "SELECT content, context FROM messages WHERE id=?", (int(mid),)) == [
        ("【smsengine】" + content, context)]
