"""The served /openapi.json is a valid OpenAPI 3.1 document that describes every route of the real
app: path and query parameters, bodies, and the one error shape with the catalogue's codes."""

import re

import jsonschema
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from smsengine.api.app import build_app
from smsengine.domain.errors import ErrorCode
from tests.support.rig import ADMIN, fast_profile, start_rig, stop_rig


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
    ("/v1/receipts", {"since", "limit", "app_id"}),
    ("/v1/replies", {"since", "app_id"}),
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
