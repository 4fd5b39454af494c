"""The OpenAPI 3.1 document of the HTTP API, generated from the msgspec schemas."""

from __future__ import annotations

from functools import cache

import msgspec

from smsengine.api import schemas as s
from smsengine.domain.errors import MESSAGES


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


_ACCOUNT_AUTH = [{"appId": [], "appKey": []}, {"admin": []}]
_ADMIN = [{"admin": []}]


@cache
def openapi_document() -> dict:
    types = [
        s.SendRequest, s.SendResponse, s.ErrorResponse, s.MessageView, s.ReceiptPage, s.ReplyPage, s.AccountCreate,
        s.AccountPatch, s.AccountView, s.SignatureCreate, s.SignatureView, s.TemplateCreate, s.TemplateView,
        s.ReviewDecision, s.UnsubscribeChange,
    ]
    _, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    error = {"description": "request-level error (code from the catalogue)", **_json(_ref("ErrorResponse"))}

    def op(summary: str, ok: str | None, body: str | None = None, security=None, status: str = "200") -> dict:
        out: dict = {"summary": summary, "responses": {status: {"description": "OK"}, "4XX": error}}
        if ok:
            out["responses"][status].update(_json(_ref(ok)))
        if body:
            out["requestBody"] = {"required": True, **_json(_ref(body))}
        if security is not None:
            out["security"] = security
        return out

    catalogue = "\n".join(f"- {int(code)}: {message}" for code, message in MESSAGES.items())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smsengine",
            "version": "0.1.0",
            "description": "SMS dispatch engine API. Error codes:\n" + catalogue,
        },
        "paths": {
            "/v1/sms/send": {"post": op("Send one message to up to 200 numbers", "SendResponse", "SendRequest", [])},
            "/v1/messages/{message_id}": {"get": op("A message's status", "MessageView", security=_ACCOUNT_AUTH)},
            "/v1/receipts": {"get": op("Status reports after a cursor", "ReceiptPage", security=_ACCOUNT_AUTH)},
            "/v1/replies": {"get": op("Replies (MO) after a cursor", "ReplyPage", security=_ACCOUNT_AUTH)},
            "/v1/accounts": {"post": op("Create an account", "AccountView", "AccountCreate", _ADMIN, "201")},
            "/v1/accounts/{app_id}": {
                "get": op("An account", "AccountView", security=_ACCOUNT_AUTH),
                "patch": op("Set receipt_url (account) or state/balance (operator)", "AccountView",
                            "AccountPatch", _ACCOUNT_AUTH),
            },
            "/v1/signatures": {
                "post": op("Submit a signature for review", "SignatureView", "SignatureCreate", _ACCOUNT_AUTH, "201"),
                "get": op("An account's signatures", None, security=_ACCOUNT_AUTH),
            },
            "/v1/signatures/{id}/{decision}": {"post": op("Approve or reject", "SignatureView", None, _ADMIN)},
            "/v1/templates": {
                "post": op("Submit a template for review", "TemplateView", "TemplateCreate", _ACCOUNT_AUTH, "201"),
                "get": op("An account's templates", None, security=_ACCOUNT_AUTH),
            },
            "/v1/templates/{id}/{decision}": {"post": op("Approve or reject", "TemplateView", None, _ADMIN)},
            "/v1/unsubscribes": {
                "get": op("The account's unsubscribe list", None, security=_ACCOUNT_AUTH),
                "post": op("Add a number", None, "UnsubscribeChange", _ACCOUNT_AUTH, "201"),
                "delete": op("Lift an unsubscription", None, "UnsubscribeChange", _ACCOUNT_AUTH),
            },
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
            "/healthz": {"get": {"summary": "Carrier binds up, store writable",
                                 "responses": {"200": {"description": "healthy"}, "503": {"description": "not"}}}},
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
