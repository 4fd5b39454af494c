"""The OpenAPI 3.1 document of the HTTP API, generated from the msgspec schemas."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import msgspec

from smsengine.api import schemas as s
from smsengine.domain.errors import MESSAGES
from smsengine.engine.requests import MAX_NAME

# ids and cursors are signed 64-bit integers in the store; the handlers refuse anything larger
_INT64 = {"type": "integer", "format": "int64", "minimum": -(2**63 - 1), "maximum": 2**63 - 1}
_ID = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**63 - 1}

_ACCOUNT_AUTH = [{"appId": [], "appKey": []}, {"admin": []}]
_ADMIN = [{"admin": []}]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


# an operator names the account of an account-scoped call in X-App-Id or, for reads, in ?app_id=;
# an account's own credentials already name it and the parameter is then ignored
_APP_ID_QUERY = _param("app_id", "query", {"type": "string", "maxLength": MAX_NAME},
                       "the account, for operator calls (X-Admin-Token) without X-App-Id")
_SINCE = _param("since", "query", _INT64, "cursor: items after this one (0, the default, from the start)")
_LIMIT = _param("limit", "query", _INT64, "page size, default 100, clamped to 1..1000")
_MESSAGE_ID = _param("message_id", "path", {"type": "string", "pattern": "^[0-9]{1,19}$"},
                     "the id `send` returned for the number (any other text is 404)")
_APP_ID = _param("app_id", "path", {"type": "string", "minLength": 1, "maxLength": MAX_NAME}, "the account")
_REVIEW = [
    _param("id", "path", _ID, "the signature's or template's id"),
    _param("decision", "path", {"type": "string", "enum": ["approve", "reject"]}, "the review's outcome"),
]


@cache
def openapi_document() -> dict:
    types = [
        s.SendRequest, s.SendResponse, s.ErrorResponse, s.Acknowledgement, s.MessageView, s.ReceiptPage,
        s.ReplyPage, s.AccountCreate, s.AccountPatch, s.AccountView, s.SignatureCreate, s.SignatureView,
        s.TemplateCreate, s.TemplateView, s.ReviewDecision, s.UnsubscribeChange, s.UnsubscribeList, s.Health,
    ]
    _, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    errors = {
        # 400 malformed, 401 credentials, 403 permission, 404 missing, 405 method, 408 too slow, 409 immutable,
        # 413 too large, 429 rate limited: every one in the same JSON shape, with a catalogue code
        "4XX": {"description": "request-level error (code from the catalogue)", **_json(_ref("ErrorResponse"))},
        "503": {"description": "the engine cannot take the request now (store unavailable, shutting down, too "
                               "many connections); nothing was changed", **_json(_ref("ErrorResponse"))},
    }

    def op(operation_id: str, summary: str, ok: dict | str, *, body: str | None = None,
           params: Sequence[dict] = (), security: list | None = None, status: str = "200",
           body_required: bool = True) -> dict:
        """One operation: `ok` names a component (or is a schema) for the success status."""
        success = {"description": "OK", **_json(_ref(ok) if isinstance(ok, str) else ok)}
        out: dict = {"operationId": operation_id, "summary": summary, "responses": {status: success, **errors}}
        if params:
            out["parameters"] = list(params)
        if body:
            out["requestBody"] = {"required": body_required, **_json(_ref(body))}
        if security is not None:
            out["security"] = security
        return out

    def list_of(name: str) -> dict:
        return {"type": "array", "items": _ref(name)}

    catalogue = "\n".join(f"- {int(code)}: {message}" for code, message in MESSAGES.items())
    review_body = dict(body="ReviewDecision", body_required=False, security=_ADMIN)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smsengine",
            "version": "0.1.0",
            "description": "SMS dispatch engine API. Error codes:\n" + catalogue,
        },
        "paths": {
            "/v1/sms/send": {"post": op(
                "send", "Send one message to up to 200 numbers (signed in the body: sig)", "SendResponse",
                body="SendRequest", security=[])},
            "/v1/messages/{message_id}": {"get": op(
                "get_message", "A message's status", "MessageView", params=[_MESSAGE_ID], security=_ACCOUNT_AUTH)},
            "/v1/receipts": {"get": op(
                "receipts", "Status reports after a cursor", "ReceiptPage",
                params=[_SINCE, _LIMIT, _APP_ID_QUERY], security=_ACCOUNT_AUTH)},
            "/v1/replies": {"get": op(
                "replies", "Replies (MO) after a cursor, 500 at most", "ReplyPage",
                params=[_SINCE, _APP_ID_QUERY], security=_ACCOUNT_AUTH)},
            "/v1/accounts": {"post": op(
                "create_account", "Create an account", "AccountView", body="AccountCreate", security=_ADMIN,
                status="201")},
            "/v1/accounts/{app_id}": {
                "get": op("get_account", "An account", "AccountView", params=[_APP_ID], security=_ACCOUNT_AUTH),
                "patch": op("patch_account", "Set receipt_url (account) or state/balance (operator)",
                            "AccountView", body="AccountPatch", params=[_APP_ID], security=_ACCOUNT_AUTH),
            },
            "/v1/signatures": {
                "post": op("create_signature", "Submit a signature for review", "SignatureView",
                           body="SignatureCreate", security=_ACCOUNT_AUTH, status="201"),
                "get": op("list_signatures", "An account's signatures", list_of("SignatureView"),
                          params=[_APP_ID_QUERY], security=_ACCOUNT_AUTH),
            },
            "/v1/signatures/{id}/{decision}": {"post": op(
                "review_signature", "Approve or reject a signature", "SignatureView", params=_REVIEW,
                **review_body)},
            "/v1/templates": {
                "post": op("create_template", "Submit a template for review", "TemplateView",
                           body="TemplateCreate", security=_ACCOUNT_AUTH, status="201"),
                "get": op("list_templates", "An account's templates", list_of("TemplateView"),
                          params=[_APP_ID_QUERY], security=_ACCOUNT_AUTH),
            },
            "/v1/templates/{id}/{decision}": {"post": op(
                "review_template", "Approve or reject a template", "TemplateView", params=_REVIEW, **review_body)},
            "/v1/unsubscribes": {
                "get": op("list_unsubscribes", "The account's unsubscribe list", "UnsubscribeList",
                          params=[_APP_ID_QUERY], security=_ACCOUNT_AUTH),
                "post": op("add_unsubscribe", "Add a number", "Acknowledgement", body="UnsubscribeChange",
                           security=_ACCOUNT_AUTH, status="201"),
                "delete": op("lift_unsubscribe", "Lift an unsubscription", "Acknowledgement",
                             body="UnsubscribeChange", security=_ACCOUNT_AUTH),
            },
            "/metrics": {"get": {
                "operationId": "metrics", "summary": "Prometheus metrics",
                "responses": {"200": {"description": "Prometheus text format",
                                      "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/healthz": {"get": {
                "operationId": "healthz", "summary": "Carrier binds up, store writable",
                "responses": {"200": {"description": "healthy", **_json(_ref("Health"))},
                              "503": {"description": "not healthy", **_json(_ref("Health"))}}}},
            "/openapi.json": {"get": {
                "operationId": "openapi", "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", **_json({"type": "object"})}}}},
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "appId": {"type": "apiKey", "in": "header", "name": "X-App-Id"},
                "appKey": {"type": "apiKey", "in": "header", "name": "X-App-Key"},
                "admin": {"type": "apiKey", "in": "header", "name": "X-Admin-Token"},
            },
        },
    }
