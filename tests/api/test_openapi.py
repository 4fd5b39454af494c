"""The served /openapi.json is a valid OpenAPI 3.1 document that describes every route of the real
app: path and query parameters, bodies, the one error shape with the catalogue's codes, who may
call each operation (checked against what the handlers accept) and the listener's own answers."""

import asyncio
import itertools
import json
import re

import jsonschema
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from smsengine.api.app import build_app
from smsengine.api.openapi import openapi_document
from smsengine.config import HttpConfig
from smsengine.domain.errors import ErrorCode
from tests.api.test_auth import authorization  # the README's signer
from tests.support.polling import eventually
from tests.support.rig import ADMIN, Client, fast_profile, start_rig, stop_rig

NUMBER = "+8613800000001"


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


async def served_document(rig) -> dict:
    async with rig.http.get("/openapi.json") as resp:
        assert resp.status == 200 and resp.content_type == "application/json"
        return await resp.json()


def matches(doc: dict, instance, component: str) -> list[str]:
    """Errors of `instance` against one of the document's schemas (its $refs resolve within it)."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": doc["components"]}
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(instance)]


async def test_served_document_is_valid_openapi_3_1(rig):
    doc = await served_document(rig)
    assert doc["openapi"] == "3.1.0"
    assert [e.message for e in OpenAPIV31SpecValidator(doc).iter_errors()] == []


async def test_every_route_is_documented_with_its_path_parameters(rig):
    doc = await served_document(rig)
    routes = {(route.resource.canonical, route.method.lower()) for route in build_app(rig.engine).router.routes()
              if route.method != "HEAD"}  # aiohttp adds HEAD to every GET
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert routes == documented
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)


@pytest.mark.parametrize(("path", "names"), [
    ("/v1/receipts", {"since", "limit", "format", "app_id"}),
    ("/v1/replies", {"since", "format", "app_id"}),
    ("/v1/messages", {"phone", "since", "until", "task_id", "status", "sign", "template_id", "carrier", "before",
                      "limit", "format", "app_id"}),
    ("/v1/tasks", {"status", "type", "since", "until", "before", "limit", "app_id"}),
    ("/v1/signatures", {"app_id"}),
    ("/v1/templates", {"app_id"}),
    ("/v1/unsubscribes", {"app_id"}),
])
async def test_query_parameters_the_handlers_read_are_declared(rig, path, names):
    doc = await served_document(rig)
    declared = {p["name"] for p in doc["paths"][path]["get"]["parameters"] if p["in"] == "query"}
    assert declared == names


async def test_every_api_operation_documents_the_error_shape(rig):
    doc = await served_document(rig)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if path.startswith("/v1/"):
                error = operation["responses"]["4XX"]["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)
    codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
    assert codes == sorted(int(code) for code in ErrorCode)


@pytest.mark.parametrize(("method", "path", "headers", "status", "code"), [
    ("GET", "/v1/receipts", {}, 401, ErrorCode.SIG_INVALID),
    ("GET", "/v1/receipts?since=x", {"X-Admin-Token": ADMIN, "X-App-Id": "demo"}, 400, ErrorCode.REQUEST_MALFORMED),
    ("POST", "/v1/accounts", {}, 403, ErrorCode.NO_PERMISSION),
    ("GET", "/v1/nowhere", {}, 404, ErrorCode.NOT_FOUND),
    ("PUT", "/v1/receipts", {}, 405, ErrorCode.REQUEST_MALFORMED),
])
async def test_error_bodies_match_the_documented_schema(rig, method, path, headers, status, code):
    doc = await served_document(rig)
    async with rig.http.request(method, path, headers=headers) as resp:
        assert resp.status == status and resp.content_type == "application/json"
        body = await resp.json()
    assert body["code"] == code
    assert matches(doc, body, "ErrorResponse") == []


async def test_success_bodies_of_the_hand_written_answers_match_the_document(rig):
    """The handlers that answer with plain dicts (health, unsubscribe list) against their schemas."""
    doc = await served_document(rig)
    async with rig.http.get("/healthz") as resp:
        assert matches(doc, await resp.json(), "Health") == []
    async with rig.http.get("/v1/unsubscribes", headers=rig.client.auth) as resp:
        assert matches(doc, await resp.json(), "UnsubscribeList") == []
    body = {"app_id": "demo", "phone": "+8613800000001"}
    async with rig.http.post("/v1/unsubscribes", headers=rig.client.auth, json=body) as resp:
        assert resp.status == 201 and matches(doc, await resp.json(), "Acknowledgement") == []
    assert matches(doc, {"code": 0}, "Acknowledgement") != []  # the check can fail


# -- errors as each operation documents them ------------------------------------------------------------
def documented(doc: dict, path: str, method: str, status: int) -> dict:
    """The JSON schema an operation documents for a status: the exact one, else its class (4XX)."""
    responses = doc["paths"][path][method.lower()]["responses"]
    response = responses.get(str(status)) or responses[f"{status // 100}XX"]
    return response["content"]["application/json"]["schema"]


def answer_errors(doc: dict, path: str, method: str, status: int, instance) -> list[str]:
    """Errors of a response body against what its operation documents for that status."""
    schema = {**documented(doc, path, method, status), "components": doc["components"]}
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(instance)]


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


async def test_the_served_document_is_the_generated_one(rig):
    """So the tests that need no engine read the document in-process."""
    assert await served_document(rig) == openapi_document()


@pytest.mark.parametrize(("method", "url", "path", "headers", "status", "code"), [
    ("GET", "/v1/receipts", "/v1/receipts", {"X-App-Id": "demo", "X-App-Key": "wrong"}, 401, ErrorCode.SIG_INVALID),
    # an unknown app gets a wrong key's answer, not 1019 ...
    ("GET", "/v1/accounts/nobody", "/v1/accounts/{app_id}", {"X-App-Id": "nobody", "X-App-Key": "x"}, 401,
     ErrorCode.SIG_INVALID),
    # ... which is left for the operator naming a missing account
    ("GET", "/v1/accounts/nobody", "/v1/accounts/{app_id}", {"X-Admin-Token": ADMIN}, 401, ErrorCode.APP_NOT_FOUND),
    ("GET", "/v1/templates", "/v1/templates",
     {"Authorization": "SMSENGINE-HMAC-SHA256 AppId=demo, Timestamp=1, Nonce=n, Signature=00"}, 401,
     ErrorCode.REQUEST_TIME_INVALID),
    # every route parses an Authorization of our scheme, those that take no credentials too
    ("GET", "/healthz", "/healthz", {"Authorization": "SMSENGINE-HMAC-SHA256 AppId=demo"}, 401, ErrorCode.SIG_MISSING),
    ("GET", "/metrics", "/metrics", {"Authorization": "SMSENGINE-HMAC-SHA256 x"}, 400, ErrorCode.REQUEST_MALFORMED),
])
async def test_refusals_match_what_their_operation_documents(rig, method, url, path, headers, status, code):
    doc = await served_document(rig)
    async with rig.http.request(method, url, headers=headers) as resp:
        assert resp.status == status and resp.content_type == "application/json"
        body = await resp.json()
    assert body["code"] == code
    assert answer_errors(doc, path, method, status, body) == []


async def test_an_hmac_account_refusing_the_legacy_credentials_is_documented(rig):
    doc = await served_document(rig)
    account = {"app_id": "acme", "key": "acme-key", "auth_scheme": "hmac", "raw_content": True, "balance": 10}
    async with rig.http.post("/v1/accounts", headers={"X-Admin-Token": ADMIN}, json=account) as resp:
        assert resp.status == 201
        view = await resp.json()
    assert view["auth_scheme"] == "hmac" and answer_errors(doc, "/v1/accounts", "POST", 201, view) == []
    legacy = Client(rig.http, "acme", "acme-key")
    status, body = await legacy.send([NUMBER], content="hello", sign=None)
    assert (status, body["code"]) == (401, ErrorCode.AUTH_SCHEME_REFUSED)
    assert answer_errors(doc, "/v1/sms/send", "POST", 401, body) == []
    async with rig.http.get("/v1/accounts/acme", headers=legacy.auth) as resp:
        assert resp.status == 401
        body = await resp.json()
    assert body["code"] == ErrorCode.AUTH_SCHEME_REFUSED
    assert answer_errors(doc, "/v1/accounts/{app_id}", "GET", 401, body) == []
    # the check can fail: a code the operation does not list for the status
    assert answer_errors(doc, "/v1/sms/send", "POST", 401, {**body, "code": int(ErrorCode.APP_NOT_FOUND)}) != []


def test_the_listener_answers_and_credential_refusals_are_documented_where_they_happen():
    doc = openapi_document()
    for path, method, operation in operations(doc):
        where = (method, path)
        assert answer_errors(doc, path, method, 408, {"code": 1050, "message": "late"}) == [], where
        assert answer_errors(doc, path, method, 503, {"code": 1051, "message": "busy"}) == [], where
        assert answer_errors(doc, path, method, 408, {"code": 1051, "message": "busy"}) != [], where
        # a 401 of its own where account credentials (or the body's sig) are checked
        checks_credentials = operation["security"] not in ([], [{"admin": []}])
        assert ("401" in operation["responses"]) == checks_credentials, where
        if checks_credentials:
            for code in (ErrorCode.SIG_INVALID, ErrorCode.AUTH_SCHEME_REFUSED):
                assert answer_errors(doc, path, method, 401, {"code": code, "message": "no"}) == [], where


@pytest.fixture
async def tight_rig(tmp_path):
    """One connection at most, and a head due 0.3 s after it opens."""
    http = HttpConfig(port=0, admin_token=ADMIN, header_timeout_s=0.3, max_connections=1)
    rig = await start_rig(tmp_path, [fast_profile("ideal")], http=http)
    yield rig
    await stop_rig(rig)


async def test_real_408_and_503_bodies_match_every_operation(tight_rig):
    async def until_closed(reader: asyncio.StreamReader) -> tuple[int, dict]:
        async with asyncio.timeout(10):
            head, _, body = (await reader.read()).partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    listener = tight_rig.server.listener
    slow_reader, slow_writer = await asyncio.open_connection("127.0.0.1", tight_rig.server.http_port)
    await eventually(lambda: len(listener.open) == 1)
    busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", tight_rig.server.http_port)
    busy = await until_closed(busy_reader)
    late = await until_closed(slow_reader)
    busy_writer.close()
    slow_writer.close()
    assert (busy[0], busy[1]["code"], late[0], late[1]["code"]) == (503, 1051, 408, 1050)
    doc = openapi_document()
    for path, method, _ in operations(doc):
        assert answer_errors(doc, path, method, 503, busy[1]) == [], (method, path)
        assert answer_errors(doc, path, method, 408, late[1]) == [], (method, path)


# -- who may call -----------------------------------------------------------------------------------------
def test_the_security_schemes_are_the_headers_the_handlers_read():
    doc = openapi_document()
    schemes = doc["components"]["securitySchemes"]
    assert {name: (s["type"], s["in"], s["name"]) for name, s in schemes.items()} == {
        "hmac": ("apiKey", "header", "Authorization"),
        "appId": ("apiKey", "header", "X-App-Id"),
        "appKey": ("apiKey", "header", "X-App-Key"),
        "admin": ("apiKey", "header", "X-Admin-Token"),
    }
    for path, method, operation in operations(doc):
        for requirement in operation["security"]:
            assert set(requirement) <= set(schemes), (method, path)
        if not path.startswith("/v1/"):
            assert operation["security"] == [], (method, path)  # no credentials needed
    assert doc["paths"]["/v1/sms/send"]["post"]["security"] == [{"hmac": []}, {}]  # {}: the body's sig
    assert doc["paths"]["/v1/accounts"]["post"]["security"] == [{"admin": []}]


# every combination of credentials a requirement can name, as the demo account (or the operator)
ALTERNATIVES = [frozenset(), frozenset({"hmac"}), frozenset({"appId", "appKey"}), frozenset({"admin"}),
                frozenset({"admin", "appId"})]
_new_accounts = itertools.count()


def credentials(alternative: frozenset, method: str, url: str, body: bytes) -> dict:
    headers = {"Content-Type": "application/json"}
    if "hmac" in alternative:
        headers["Authorization"] = authorization("demo", "demo-secret", method, url, body)
    if "appId" in alternative:
        headers["X-App-Id"] = "demo"
    if "appKey" in alternative:
        headers["X-App-Key"] = "demo-secret"
    if "admin" in alternative:
        headers["X-Admin-Token"] = ADMIN
    return headers


def example(rig, method: str, path: str, alternative: frozenset, message_id: str) -> tuple[str, dict | None]:
    """A request to the operation that succeeds with the right credentials (an operator reading
    names the account in ?app_id=, which an account's credentials override)."""
    if path == "/v1/sms/send":
        bare = {"phone_numbers": [NUMBER], "template_id": 1, "params": ["1234", "5"], "sign": "smsengine"}
        return path, rig.client.body([NUMBER]) if not alternative else bare  # no header: the body's sig
    if path == "/v1/accounts":
        return path, {"app_id": f"new-{next(_new_accounts)}", "key": "new-key"}
    return {
        ("GET", "/v1/messages/{message_id}"): (f"/v1/messages/{message_id}", None),
        ("GET", "/v1/accounts/{app_id}"): ("/v1/accounts/demo", None),
        ("PATCH", "/v1/accounts/{app_id}"): ("/v1/accounts/demo", {}),
        ("POST", "/v1/unsubscribes"): (path, {"app_id": "demo", "phone": "+8613800000002"}),
    }.get((method, path), (f"{path}?app_id=demo", None))


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/sms/send"), ("GET", "/v1/messages/{message_id}"), ("GET", "/v1/receipts"), ("GET", "/v1/replies"),
    ("GET", "/v1/signatures"), ("GET", "/v1/templates"), ("GET", "/v1/unsubscribes"),
    ("GET", "/v1/accounts/{app_id}"), ("PATCH", "/v1/accounts/{app_id}"), ("POST", "/v1/unsubscribes"),
    ("POST", "/v1/accounts"),
])
async def test_declared_security_is_what_the_handler_accepts(rig, method, path):
    """Every requirement the document declares is enough on its own (and with more headers);
    every other combination is refused. `{}` (send) is the body's sig, sent only with no headers."""
    doc = await served_document(rig)
    declared = {frozenset(r) for r in doc["paths"][path][method.lower()]["security"]}
    assert declared <= set(ALTERNATIVES)  # each one is tried below
    status, sent = await rig.client.send([NUMBER])
    message_id = sent["results"][0]["message_id"]
    for alternative in ALTERNATIVES:
        url, body = example(rig, method, path, alternative, message_id)
        raw = json.dumps(body).encode() if body is not None else b""
        headers = credentials(alternative, method, url, raw)
        async with rig.http.request(method, url, data=raw or None, headers=headers) as resp:
            answer = await resp.json()
        if alternative in declared or any(r and r <= alternative for r in declared):
            assert resp.status < 400, (sorted(alternative), resp.status, answer)
        else:
            refusal = (resp.status, answer["code"])
            assert refusal in {(400, 1004), (401, 1001), (403, 1006)}, (sorted(alternative), answer)


async def test_a_send_with_no_body_credentials_fits_the_schema_and_is_accepted(rig):
    """app_id, random, time and sig are optional in SendRequest: an HMAC-signed send needs none."""
    doc = await served_document(rig)
    schema = doc["components"]["schemas"]["SendRequest"]
    assert schema["required"] == ["phone_numbers"]
    for name in ("app_id", "random", "time", "sig"):
        assert "required without an Authorization header" in schema["properties"][name]["description"], name
    assert "`app_id`, `random` and `time` are then required" in doc["paths"]["/v1/sms/send"]["post"]["description"]
    body = {"phone_numbers": [NUMBER], "template_id": 1, "params": ["1234", "5"], "sign": "smsengine"}
    assert matches(doc, body, "SendRequest") == []
    raw = json.dumps(body).encode()
    headers = credentials(frozenset({"hmac"}), "POST", "/v1/sms/send", raw)
    async with rig.http.post("/v1/sms/send", data=raw, headers=headers) as resp:
        assert resp.status == 200
        answer = await resp.json()
    assert [r["code"] for r in answer["results"]] == [0]
    assert answer_errors(doc, "/v1/sms/send", "POST", 200, answer) == []
