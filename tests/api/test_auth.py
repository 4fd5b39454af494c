"""Authentication over real sockets: whole-request HMAC signing (signed with the README's own
snippet), the per-account scheme, one answer for unknown apps and wrong keys, and the replay
window that survives a restart of the engine on the same SQLite file."""

import asyncio
import contextlib
import json
import re
import time
from pathlib import Path

import aiohttp
import msgspec
import pytest

from carriers.group import SimulatorGroup
from smsengine.config import HttpConfig
from smsengine.domain.auth import AuthScheme
from smsengine.domain.errors import SmsError
from smsengine.server import Server
from tests.support.polling import eventually
from tests.support.rig import (
    ADMIN,
    Client,
    db_rows,
    demo_account,
    engine_config,
    fast_profile,
    start_rig,
    start_server,
    stop_rig,
)

OPERATOR = {"X-Admin-Token": ADMIN}
NUMBER = "+8613800000001"
INTERNATIONAL = "+14155552671"
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_signer():
    """The `smsengine_authorization` function of README "Authentication", as published."""
    text = README.read_text()
    section = text[text.index("## Authentication"):text.index("## Configuration")]
    namespace: dict = {}
    exec(re.search(r"```python\n(.*?)```", section, re.S).group(1), namespace)  # noqa: S102 - our own README
    return namespace["smsengine_authorization"]


authorization = readme_signer()


def strong_account(**changes):
    """An `hmac` account; template ids are global, so its templates 1-3 are 11-13."""
    templates = [msgspec.structs.replace(t, id=10 + t.id) for t in demo_account().templates]
    return demo_account(app_id="strong", key="strong-key", auth_scheme="hmac", templates=templates, **changes)


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")], accounts=[demo_account(), strong_account()])
    yield rig
    await stop_rig(rig)


@pytest.fixture
async def simulators():
    group = await SimulatorGroup([fast_profile("ideal")]).start()
    yield group
    await group.close()


@contextlib.asynccontextmanager
async def running(config, tmp: Path):
    """An engine on the config's SQLite file, stopped (drained, flushed) on the way out."""
    server = await start_server(config, tmp)
    try:
        yield server
    finally:
        await server.stop(drain_timeout=2.0)


def send_body(template_id: int = 11, **fields) -> bytes:
    body = {"phone_numbers": [NUMBER], "template_id": template_id, "params": ["1234", "5"], "sign": "smsengine"}
    return json.dumps(body | fields).encode()


async def signed(rig, method: str, url: str, body: bytes = b"", *, app_id: str = "strong", key: str = "strong-key",
                 sign_url: str | None = None, sign_body: bytes | None = None, **sign) -> tuple[int, dict]:
    """Sign (`sign_url`, `sign_body`: what was signed, if not what is sent) and send."""
    header = authorization(app_id, key, method, sign_url or url, body if sign_body is None else sign_body, **sign)
    headers = {"Authorization": header, "Content-Type": "application/json"}
    async with rig.http.request(method, url, data=body or None, headers=headers) as resp:
        return resp.status, await resp.json()


async def call(rig, method: str, path: str, *, headers: dict | None = None, json=None) -> tuple[int, dict]:
    async with rig.http.request(method, path, headers=headers or {}, json=json) as resp:
        return resp.status, await resp.json()


def accepted(status: int, body: dict) -> bool:
    return status == 200 and body["code"] == 0 and [r["code"] for r in body["results"]] == [0]


def refused(status: int, body: dict, http: int, code: int) -> bool:
    return status == http and body["code"] == code and "results" not in body


# -- whole-request signing ----------------------------------------------------------------------------------
async def test_an_hmac_signed_send_is_accepted_and_needs_no_body_credentials(rig):
    assert accepted(*await signed(rig, "POST", "/v1/sms/send", send_body()))
    # naming the app in the body is allowed when it is the header's
    assert accepted(*await signed(rig, "POST", "/v1/sms/send", send_body(app_id="strong")))


async def test_a_sig_account_may_already_sign_whole_requests(rig):
    assert accepted(*await signed(rig, "POST", "/v1/sms/send", send_body(1), app_id="demo", key="demo-secret"))


@pytest.mark.parametrize("signed_fields, sent_fields", [
    ({"content": "hello"}, {"content": "HELLO, click evil.example"}),
    ({"params": ["1234", "5"]}, {"params": ["9999", "5"]}),
    ({"template_id": 11}, {"template_id": 13, "type": "marketing"}),
    ({"phone_numbers": [NUMBER]}, {"phone_numbers": ["+8613800000002"]}),
], ids=["content", "params", "template", "numbers"])
async def test_a_request_altered_after_signing_is_refused(rig, signed_fields, sent_fields):
    sign_body = send_body(**signed_fields)
    status, body = await signed(rig, "POST", "/v1/sms/send", send_body(**sent_fields), sign_body=sign_body)
    assert refused(status, body, 401, 1001), body


async def test_the_same_body_reformatted_after_signing_is_refused(rig):
    body = send_body()
    assert refused(*await signed(rig, "POST", "/v1/sms/send", body + b"\n", sign_body=body), 401, 1001)


@pytest.mark.parametrize("sign_url, url", [
    ("/v1/accounts/strong2", "/v1/accounts/strong"),
    ("/v1/receipts?since=0", "/v1/receipts?since=5"),
    ("/v1/receipts?since=0", "/v1/receipts?since=0&limit=1"),
], ids=["path", "query-value", "query-added"])
async def test_another_path_or_query_than_the_one_signed_is_refused(rig, sign_url, url):
    assert refused(*await signed(rig, "GET", url, sign_url=sign_url), 401, 1001)
    assert (await signed(rig, "GET", url))[0] == 200  # the same call, signed as sent


async def test_a_wrong_key_and_an_unknown_app_get_the_same_answer(rig):
    wrong_key = await signed(rig, "POST", "/v1/sms/send", send_body(), key="not-the-key")
    unknown = await signed(rig, "POST", "/v1/sms/send", send_body(), app_id="ghost", key="ghost-key")
    assert refused(*wrong_key, 401, 1001)
    assert unknown == wrong_key


async def test_a_replayed_hmac_request_is_refused(rig):
    header = authorization("strong", "strong-key", "POST", "/v1/sms/send", send_body())
    headers = {"Authorization": header, "Content-Type": "application/json"}
    answers = []
    for _ in range(2):
        async with rig.http.post("/v1/sms/send", data=send_body(), headers=headers) as resp:
            answers.append((resp.status, await resp.json()))
    assert accepted(*answers[0])
    assert refused(*answers[1], 401, 1028)
    # a new nonce at the same second is a new request
    assert accepted(*await signed(rig, "POST", "/v1/sms/send", send_body(), timestamp=int(time.time()) - 1))


@pytest.mark.parametrize("skew", [-301, 301])
async def test_an_hmac_request_out_of_time_is_refused(rig, skew):
    status, body = await signed(rig, "POST", "/v1/sms/send", send_body(), timestamp=int(time.time()) + skew)
    assert refused(status, body, 401, 1021)


async def test_malformed_authorization_is_1004_and_other_schemes_are_ignored(rig):
    headers = {"Authorization": "SMSENGINE-HMAC-SHA256 AppId=strong, Nonce=n, Signature=ab"}
    status, body = await call(rig, "GET", "/v1/accounts/strong", headers=headers)
    assert status == 400 and body["code"] == 1004 and "Timestamp" in body["message"]
    headers = {"Authorization": "Bearer xyz", "X-App-Id": "demo", "X-App-Key": "demo-secret"}
    assert (await call(rig, "GET", "/v1/accounts/demo", headers=headers))[0] == 200


async def test_an_app_id_in_the_body_must_be_the_signing_app(rig):
    status, body = await signed(rig, "POST", "/v1/sms/send", send_body(app_id="demo"))
    assert status == 400 and body["code"] == 1004


# -- the account's scheme -------------------------------------------------------------------------------------
async def test_an_hmac_account_refuses_the_legacy_sig_and_the_key_header(rig):
    legacy = Client(rig.http, "strong", "strong-key")
    status, body = await legacy.send([NUMBER], template_id=11)
    assert refused(status, body, 401, 1049)
    status, body = await call(rig, "GET", "/v1/accounts/strong", headers=legacy.auth)
    assert status == 401 and body["code"] == 1049
    # the scheme is told only to whoever holds the key: a wrong one is the usual 1001
    status, body = await Client(rig.http, "strong", "guess").send([NUMBER], template_id=11)
    assert refused(status, body, 401, 1001)
    status, body = await call(rig, "GET", "/v1/accounts/strong", headers={"X-App-Id": "strong", "X-App-Key": "guess"})
    assert status == 401 and body["code"] == 1001
    # signed, the same account reads its view
    status, view = await signed(rig, "GET", "/v1/accounts/strong")
    assert status == 200 and view["auth_scheme"] == "hmac"


async def test_the_operator_sets_the_scheme_on_creation_and_by_patch(rig):
    status, view = await call(rig, "POST", "/v1/accounts", headers=OPERATOR,
                              json={"app_id": "acme", "key": "acme-key", "auth_scheme": "hmac", "raw_content": True,
                                    "balance": 10})
    assert status == 201 and view["auth_scheme"] == "hmac"
    acme = Client(rig.http, "acme", "acme-key")
    assert refused(*await acme.send([INTERNATIONAL], content="hello", sign=None), 401, 1049)
    status, body = await signed(rig, "POST", "/v1/sms/send", json.dumps({"phone_numbers": [INTERNATIONAL],
                                "content": "hello"}).encode(), app_id="acme", key="acme-key")
    assert accepted(status, body)

    # an account may not change its own scheme, signed or not
    status, body = await call(rig, "PATCH", "/v1/accounts/demo", headers=rig.client.auth, json={"auth_scheme": "sig"})
    assert status == 403 and body["code"] == 1006
    status, body = await call(rig, "PATCH", "/v1/accounts/demo", headers=OPERATOR, json={"auth_scheme": "hmac"})
    assert status == 200 and body["auth_scheme"] == "hmac"
    assert refused(*await rig.client.send([NUMBER]), 401, 1049)
    status, body = await call(rig, "PATCH", "/v1/accounts/demo", headers=OPERATOR, json={"auth_scheme": "md5"})
    assert status == 400 and body["code"] == 1004


@pytest.mark.parametrize("fields", [{"app_id": ""}, {"key": ""}, {"app_id": "acme\x00"}, {"key": "k\x00ey"}])
async def test_empty_credentials_or_ones_holding_a_nul_are_refused_on_creation(rig, fields):
    status, body = await call(rig, "POST", "/v1/accounts", headers=OPERATOR, json={"app_id": "acme", "key": "k"} | fields)
    assert status == 400 and body["code"] == 1004
    status, body = await call(rig, "GET", "/v1/accounts/acme", headers=OPERATOR)
    assert status == 401 and body["code"] == 1019  # nothing was created (the operator may know that)
    # and nothing authenticates with empty credentials
    status, body = await call(rig, "GET", "/v1/accounts/demo", headers={"X-App-Id": "", "X-App-Key": ""})
    assert status == 401 and body["code"] == 1001


@pytest.mark.parametrize("key, refusal", [("", "must not be empty"), ("de\x00mo", "must not hold a NUL")])
async def test_a_configured_account_with_an_empty_key_or_a_nul_fails_the_start(tmp_path, simulators, key, refusal):
    server = Server(engine_config(tmp_path, simulators.ports, accounts=[demo_account(key=key)]), base_dir=tmp_path)
    try:
        with pytest.raises(SmsError, match=refusal):
            await server.start()
    finally:
        await server.stop(drain_timeout=0.0)


async def test_unknown_app_and_wrong_key_headers_get_the_same_answer(rig):
    wrong_key = await call(rig, "GET", "/v1/receipts", headers={"X-App-Id": "demo", "X-App-Key": "nope"})
    unknown = await call(rig, "GET", "/v1/receipts", headers={"X-App-Id": "ghost", "X-App-Key": "nope"})
    assert wrong_key[0] == 401 and wrong_key[1]["code"] == 1001
    assert unknown == wrong_key


# -- the replay window across restarts ---------------------------------------------------------------------------
async def test_a_request_is_refused_as_a_replay_by_a_new_engine_on_the_same_file(tmp_path, simulators):
    config = engine_config(tmp_path, simulators.ports, accounts=[demo_account(), strong_account()])
    legacy_body = json.dumps(Client(None, "demo", "demo-secret").body([NUMBER])).encode()  # type: ignore[arg-type]
    hmac_body = send_body()
    hmac_header = {"Authorization": authorization("strong", "strong-key", "POST", "/v1/sms/send", hmac_body)}

    async def post(server: Server, body: bytes, headers: dict) -> tuple[int, dict]:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
            async with http.post("/v1/sms/send", data=body, headers=headers | {"Content-Type": "application/json"}) as r:
                return r.status, await r.json()

    async with running(config, tmp_path) as first:
        assert accepted(*await post(first, legacy_body, {}))
        assert accepted(*await post(first, hmac_body, hmac_header))

    async with running(config, tmp_path) as second:
        assert refused(*await post(second, legacy_body, {}), 401, 1028)
        assert refused(*await post(second, hmac_body, hmac_header), 401, 1028)
        fresh = json.dumps(Client(None, "demo", "demo-secret").body([NUMBER])).encode()  # type: ignore[arg-type]
        assert accepted(*await post(second, fresh, {}))
        fresh_header = {"Authorization": authorization("strong", "strong-key", "POST", "/v1/sms/send", hmac_body)}
        assert accepted(*await post(second, hmac_body, fresh_header))


async def test_the_scheme_set_by_the_operator_survives_a_restart_with_a_config_that_names_none(tmp_path, simulators):
    config = engine_config(tmp_path, simulators.ports)  # demo: auth_scheme unset
    async with running(config, tmp_path) as first:
        await first.engine.accounts.set_auth_scheme("demo", AuthScheme.HMAC)
    async with running(config, tmp_path) as second:
        assert second.engine.accounts.get("demo").auth_scheme == AuthScheme.HMAC
    # a config that names a scheme does set it
    config = engine_config(tmp_path, simulators.ports, accounts=[demo_account(auth_scheme="sig")])
    async with running(config, tmp_path) as third:
        assert third.engine.accounts.get("demo").auth_scheme == AuthScheme.SIG


async def test_the_stored_window_is_purged_as_requests_age_out(tmp_path):
    """A 2 s window: a request's row leaves the file once it is older than the window, while
    new requests keep being remembered; rows older than the window are not loaded at start."""
    http = HttpConfig(port=0, admin_token=ADMIN, allow_private_callbacks=True, max_time_skew_s=2)
    rig = await start_rig(tmp_path, [fast_profile("ideal")], http=http)
    try:
        old = rig.client.body([NUMBER])
        async with rig.http.post("/v1/sms/send", json=old) as resp:
            assert resp.status == 200
        await rig.engine.store.flush()
        stored = "SELECT COUNT(*) FROM replay_window WHERE nonce=?"
        assert db_rows(rig.engine, stored, (str(old["random"]),)) == [(1,)]

        async def purged() -> bool:
            status, _ = await rig.client.send([NUMBER])  # each check may purge what aged out
            assert status == 200
            await rig.engine.store.flush()
            return db_rows(rig.engine, stored, (str(old["random"]),)) == [(0,)]

        await eventually(purged, 15, interval=0.3)
        total = db_rows(rig.engine, "SELECT COUNT(*) FROM replay_window")[0][0]
        assert total <= 2 * 10  # bounded: the window (2 s) and a bucket of ~3 requests a second
    finally:
        await stop_rig(rig)


async def test_an_authorization_header_that_is_not_ascii_is_1004_not_an_error(rig):
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.server.http_port)
    writer.write(b"GET /v1/accounts/strong HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: "
                 b"SMSENGINE-HMAC-SHA256 AppId=str\xe9ng, Timestamp=1, Nonce=n, Signature=ab\r\n\r\n")
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split()[1] == b"400" and json.loads(body)["code"] == 1004
