"""The OpenAPI 3.1 document of the HTTP API, generated from the msgspec schemas."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import msgspec

from smsengine.api import schemas as s
from smsengine.domain.errors import MESSAGES, ErrorCode
from smsengine.domain.shortlinks import CODE_LENGTH
from smsengine.domain.task_csv import DEFAULT_MAX_ROWS
from smsengine.engine.requests import MAX_NAME
from smsengine.engine.screening import MAX_CHECK_NUMBERS

# ids and cursors are signed 64-bit integers in the store; the handlers refuse anything larger
_INT64 = {"type": "integer", "format": "int64", "minimum": -(2**63 - 1), "maximum": 2**63 - 1}
_ID = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**63 - 1}

# Who may call, as app.py checks it. Requirements are alternatives; the schemes of one are sent
# together. The send body's `sig` is no header scheme: the send's `{}` alternative stands for it.
_HMAC = {"hmac": []}
_KEY_PAIR = {"appId": [], "appKey": []}
_OPERATOR = {"admin": []}
_SEND_AUTH = [_HMAC, {}]
# account-scoped calls that name the account themselves (path, body) or need none named (a message id)
_ACCOUNT_AUTH = [_HMAC, _KEY_PAIR, _OPERATOR]
# account-scoped reads that do not: the operator names it in X-App-Id or in ?app_id=
_ACCOUNT_READ_AUTH = [_HMAC, _KEY_PAIR, {"admin": [], "appId": []}, _OPERATOR]
_ADMIN = [_OPERATOR]

_SECURITY_SCHEMES = {
    "hmac": {
        "type": "apiKey", "in": "header", "name": "Authorization",
        "description": "Whole-request signature: `SMSENGINE-HMAC-SHA256 AppId=<app id>, Timestamp=<unix s>, "
                       "Nonce=<1-64 of A-Z a-z 0-9 -._~>, Signature=<hex>`, the HMAC-SHA256 keyed with the "
                       "account's key of the canonical request (algorithm, method, path, sorted query, app id, "
                       "timestamp, nonce, SHA-256 of the body; README \"Authentication\"). Taken from every "
                       "account whatever its auth_scheme, and the only way an `hmac` account calls. A header "
                       "of this scheme that does not parse is 1004 (1003 without a Signature) on any route; "
                       "an Authorization of any other scheme is ignored.",
    },
    "appId": {
        "type": "apiKey", "in": "header", "name": "X-App-Id",
        "description": "The account: with X-App-Key, or naming the account of an operator's call.",
    },
    "appKey": {
        "type": "apiKey", "in": "header", "name": "X-App-Key",
        "description": "The account's key as is, with X-App-Id: `sig` accounts only (an `hmac` account answers "
                       "1049).",
    },
    "admin": {
        "type": "apiKey", "in": "header", "name": "X-Admin-Token",
        "description": "The operator's token (`http.admin_token`): operator calls, and any account's resources.",
    },
}

# codes of a 401, by the credentials that were checked (app.py's status table maps them all to 401)
_HMAC_REFUSALS = (ErrorCode.SIG_INVALID, ErrorCode.SIG_MISSING, ErrorCode.REQUEST_TIME_INVALID,
                  ErrorCode.REQUEST_REPLAYED)
_CREDENTIALS_REFUSALS = (*_HMAC_REFUSALS, ErrorCode.AUTH_SCHEME_REFUSED)
# an operator naming an account that does not exist; a caller's unknown app id is 1001, as a wrong key
_MISSING_ACCOUNT = (ErrorCode.APP_NOT_FOUND,)

# what a code means over HTTP, beyond its catalogue message
_NOTES = {
    ErrorCode.SIG_INVALID: "HTTP 401; an unknown app id gets this same answer",
    ErrorCode.APP_NOT_FOUND: "HTTP 401; only to the operator naming an account that does not exist, never for "
                             "a caller's credentials (1001)",
    ErrorCode.AUTH_SCHEME_REFUSED: "HTTP 401; an `hmac` account sent a body sig or X-App-Key",
    ErrorCode.REQUEST_TIMEOUT: "HTTP 408, any request: head or body not complete in time (a late head also closes the "
                                 "connection)",
    ErrorCode.TOO_MANY_CONNECTIONS: "HTTP 503, any request: the connection cap is reached; the connection closes",
}

_SEND_DESCRIPTION = (
    "Authenticated by an `Authorization: SMSENGINE-HMAC-SHA256` header (scheme `hmac`), which covers the whole "
    "request: then `app_id`, `random`, `time` and `sig` are not needed (an `app_id` given must be the header's "
    "AppId, else 1004). Without that header the body's `sig` authenticates (the empty security requirement): "
    "`app_id`, `random` and `time` are then required (1004 naming the missing ones) and `sig` too (1003), "
    "sig = sha256(\"appkey=KEY&random=R&time=T&mobile=N1,N2,...\"). An account whose `auth_scheme` is `hmac` "
    "refuses the body sig with 1049. Request-level errors answer 4xx; per-number ones ride in the 200's results."
)
# the SendRequest fields that only the body-sig scheme needs (msgspec gives them no description)
_SEND_CREDENTIALS = {
    "app_id": "the account; required without an Authorization header (with one, optional and then the "
              "header's AppId)",
    "random": "the caller's nonce: (app_id, random, time) is accepted once; required without an Authorization "
              "header",
    "time": "unix seconds, within `http.max_time_skew_s` (300 s) of the server's (1021); required without an "
            "Authorization header",
    "sig": "sha256 of appkey=KEY&random=R&time=T&mobile=N1,N2,...; required without an Authorization header "
           "(1003), refused from an `hmac` account (1049)",
}
_AUTH_SCHEME = ("`sig`: the body sig and X-App-Key are taken, and the Authorization header too; `hmac`: only the "
                "Authorization header (others answer 1049)")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


def _error_with(codes: Sequence[ErrorCode]) -> dict:
    """An ErrorResponse whose code is one of `codes`."""
    return {"allOf": [_ref("ErrorResponse"), {"properties": {"code": {"enum": [int(c) for c in codes]}}}]}


def _error(description: str, codes: Sequence[ErrorCode]) -> dict:
    listed = "; ".join(f"{int(c)} {MESSAGES[c]}" for c in codes)
    return {"description": f"{description} ({listed})", **_json(_error_with(codes))}


_TIMEOUT = _error("the request head or body did not arrive in time (after a late head the connection closes)",
                  [ErrorCode.REQUEST_TIMEOUT])


def _unavailable(*codes: ErrorCode) -> dict:
    return _error("the engine cannot take the request now; nothing was changed",
                  [*codes, ErrorCode.TOO_MANY_CONNECTIONS])


# an SMSENGINE-HMAC-SHA256 Authorization is parsed on every route, so even the operations that
# take no credentials answer a malformed one
_MALFORMED_AUTHORIZATION = {"description": "an Authorization header of the SMSENGINE-HMAC-SHA256 scheme that does "
                                           "not parse (1004, or 1003 without a Signature)",
                            **_json(_ref("ErrorResponse"))}


# an operator names the account of an account-scoped call in X-App-Id or, for reads, in ?app_id=;
# an account's own credentials already name it and the parameter is then ignored
_APP_ID_QUERY = _param("app_id", "query", {"type": "string", "maxLength": MAX_NAME},
                       "the account, for operator calls (X-Admin-Token) without X-App-Id")
_SINCE = _param("since", "query", _INT64, "cursor: items after this one (0, the default, from the start)")
_LIMIT = _param("limit", "query", _INT64, "page size, default 100, clamped to 1..1000")
_MESSAGE_ID = _param("message_id", "path", {"type": "string", "pattern": "^[0-9]{1,19}$"},
                     "the id `send` returned for the number (any other text is 404)")
_APP_ID = _param("app_id", "path", {"type": "string", "minLength": 1, "maxLength": MAX_NAME}, "the account")
_LINK_CODE = _param("code", "path", {"type": "string", "pattern": f"^[0-9A-Za-z]{{{CODE_LENGTH}}}$"},
                    "the link's code (any other text is 404)")
_REVIEW = [
    _param("id", "path", _ID, "the signature's or template's id"),
    _param("decision", "path", {"type": "string", "enum": ["approve", "reject"]}, "the review's outcome"),
]


def _describe(components: dict) -> None:
    """Descriptions msgspec cannot give: the send's optional credentials, the accounts' scheme."""
    send = components["SendRequest"]
    send["description"] = ("One send: the numbers, a template and its params or raw content. app_id, random, "
                           "time and sig are the body-sig scheme's credentials, required only without an "
                           "`Authorization: SMSENGINE-HMAC-SHA256` header.")
    for name, text in _SEND_CREDENTIALS.items():
        send["properties"][name]["description"] = text
    for name in ("AccountCreate", "AccountPatch", "AccountView"):
        components[name]["properties"]["auth_scheme"]["description"] = _AUTH_SCHEME
    components["AccountView"]["properties"]["auth_scheme"]["enum"] = ["hmac", "sig"]
    components["AccountPatch"]["properties"]["auth_scheme"]["description"] += " (operator only)"


_DAY = _param("day", "query", {"type": "string", "maxLength": 10}, "YYYY-MM-DD in the account's timezone "
               "(default: today)")
_TIME = {"anyOf": [{"type": "number"}, {"type": "string", "maxLength": 64}]}
_TASK_ID = _param("task_id", "path", {"type": "string", "pattern": "^[0-9]{1,19}$"}, "the task (any other text is 404)")
_STATUS_OF_TASK = _param("status", "query", {"type": "string", "enum": ["scheduled", "running", "completed", "cancelled"]},
                         "only tasks in this status")
_TYPE = _param("type", "query", {"type": "string", "enum": ["regular", "marketing"]}, "only tasks of this type")
_FROM = _param("since", "query", _TIME, "created at or after: unix seconds or ISO 8601 with an offset")
_TO = _param("until", "query", _TIME, "created before: unix seconds or ISO 8601 with an offset")
_BEFORE = _param("before", "query", _INT64, "cursor: the `next` of the previous page (newest first)")
_AFTER = _param("after", "query", _INT64, "cursor: the `next` of the previous page (oldest first)")
_PROBLEMS = _param("problems", "query", _INT64, "rows not sent to list, 0..1000 (default 1000)")
_TASK_LIMIT = _param("limit", "query", _INT64, "page size, default 20, clamped to 1..100")
_FORMAT = _param("format", "query", {"type": "string", "enum": ["json", "csv"]}, "csv: the whole query as a CSV file")
_PHONE = _param("phone", "query", {"type": "string", "maxLength": 32}, "one number (any usual form)")
_TASK_QUERY_ID = _param("task_id", "query", _ID, "messages of this task")
_MESSAGE_STATUS = _param("status", "query", {"type": "string",
                                             "enum": ["pending", "delivered", "failed", "expired", "cancelled"]},
                         "pending: accepted or submitted, not final yet")
_SIGN = _param("sign", "query", {"type": "string", "maxLength": MAX_NAME}, "sent under this signature")
_TEMPLATE_QUERY = _param("template_id", "query", _ID, "rendered from this template")
_CARRIER = _param("carrier", "query", {"type": "string", "maxLength": MAX_NAME}, "final at this carrier")
# a CSV task gives the TaskCreate fields as query parameters
_TASK_QUERY = [_param(name, "query", schema, f"CSV uploads (text/csv): the task's `{name}`") for name, schema in (
    ("template_id", _ID), ("name", {"type": "string", "maxLength": MAX_NAME}),
    ("type", {"type": "string", "enum": ["regular", "marketing"]}), ("sign", {"type": "string", "maxLength": MAX_NAME}),
    ("schedule_at", _TIME), ("context", {"type": "string", "maxLength": 256}),
    ("callback_url", {"type": "string", "maxLength": 2048}), ("app_id", {"type": "string", "maxLength": MAX_NAME}),
    ("screen", {"type": "boolean"}))]


def _task_upload(operation: dict) -> dict:
    """A task comes as JSON, as a raw CSV body, or as a form with the CSV in `file`."""
    operation["requestBody"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    operation["requestBody"]["content"]["multipart/form-data"] = {"schema": {
        "type": "object", "required": ["file", "template_id"],
        "properties": {"file": {"type": "string", "format": "binary"}, "template_id": {"type": "string"},
                       **{n: {"type": "string"} for n in ("name", "type", "sign", "schedule_at", "context",
                                                        "callback_url", "app_id", "screen")}}}}
    operation["description"] = (
        "CSV: UTF-8 with or without a BOM, CRLF or LF, quoted fields; the number first, then one column per template "
        "parameter; a first line without digits in its first cell is a header. At most tasks.max_rows (100,000) rows "
        "and a file smaller than tasks.max_bytes (3 MB), else 1055 (413). Rows equal in number and parameters are "
        "sent once; rows that cannot be sent are listed in `problems` by line and reason and do not stop the task.")
    return operation


def _csv_too(operation: dict) -> dict:
    operation["responses"]["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    return operation


@cache
def openapi_document() -> dict:
    types = [
        s.SendRequest, s.SendResponse, s.ErrorResponse, s.Acknowledgement, s.MessageView, s.ReceiptPage,
        s.ReplyPage, s.AccountCreate, s.AccountPatch, s.AccountView, s.SignatureCreate, s.SignatureView,
        s.TemplateCreate, s.TemplateView, s.ReviewDecision, s.UnsubscribeChange, s.UnsubscribeList, s.Health,
        s.AccountLimits, s.LimitsPatch, s.TemplateEdit, s.SignatureEdit,
        s.LinkCreate, s.LinkView, s.LinkPage, s.LinkStats,
        s.NumbersCheck, s.ScreeningResponse, s.TaskCreate, s.TaskView, s.TaskPage, s.MessagePage, s.StatsView,
    ]
    _, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    _describe(components)
    # counted by the screening, so that more is 1054 rather than the decoder's 1004
    components["NumbersCheck"]["properties"]["phone_numbers"]["maxItems"] = MAX_CHECK_NUMBERS
    for name in ("rows", "numbers"):  # counted by the task's reading: more is 1055 (tasks.max_rows)
        components["TaskCreate"]["properties"][name]["maxItems"] = DEFAULT_MAX_ROWS

    def op(operation_id: str, summary: str, ok: dict | str, *, security: list, body: str | None = None,
           params: Sequence[dict] = (), refusals: Sequence[ErrorCode] = (), status: str = "200",
           body_required: bool = True, description: str = "") -> dict:
        """One /v1 operation: `ok` names a component (or is a schema) for the success status;
        `refusals` are the 401 codes of the credentials it checks."""
        responses = {status: {"description": "OK", **_json(_ref(ok) if isinstance(ok, str) else ok)}}
        if refusals:
            responses["401"] = _error("the credentials were refused", refusals)
        responses |= {
            "408": _TIMEOUT,
            # 400 malformed, 403 permission, 404 missing, 409 immutable, 413 too large, 429 rate
            # limited: every one in the same JSON shape, with a catalogue code
            "4XX": {"description": "request-level error (code from the catalogue)", **_json(_ref("ErrorResponse"))},
            "503": _unavailable(ErrorCode.INTERNAL),
        }
        out: dict = {"operationId": operation_id, "summary": summary, "security": security, "responses": responses}
        if description:
            out["description"] = description
        if params:
            out["parameters"] = list(params)
        if body:
            out["requestBody"] = {"required": body_required, **_json(_ref(body))}
        return out

    def plain(operation_id: str, summary: str, responses: dict) -> dict:
        """An operation outside /v1: no credentials, but the listener's answers all the same."""
        return {"operationId": operation_id, "summary": summary, "security": [],
                "responses": {"408": _TIMEOUT, "4XX": _MALFORMED_AUTHORIZATION, "503": _unavailable(), **responses}}

    def list_of(name: str) -> dict:
        return {"type": "array", "items": _ref(name)}

    account = dict(security=_ACCOUNT_AUTH, refusals=(*_CREDENTIALS_REFUSALS, *_MISSING_ACCOUNT))
    # a handset opening a short link: no credentials, the click counted
    follow_link = plain("follow_link", "Redirect to the short link's URL, counting the click", {
        "302": {"description": "the link's URL",
                "headers": {"Location": {"description": "the URL the link was created for",
                                         "schema": {"type": "string"}}}},
        "404": _error("no link has this code", [ErrorCode.NOT_FOUND]),
    })
    follow_link["parameters"] = [_LINK_CODE]
    account_read = dict(account, security=_ACCOUNT_READ_AUTH)
    review_body = dict(body="ReviewDecision", body_required=False, security=_ADMIN)
    catalogue = "\n".join(f"- {int(code)}: {message}" + (f" ({_NOTES[code]})" if code in _NOTES else "")
                          for code, message in MESSAGES.items())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "smsengine",
            "version": "0.1.0",
            "description": "SMS dispatch engine API. An account signs whole requests (`Authorization: "
                           "SMSENGINE-HMAC-SHA256`, scheme `hmac`) or, if its auth_scheme is `sig`, signs the "
                           "send body (`sig`) and sends X-App-Id and X-App-Key on other calls; the operator "
                           "sends X-Admin-Token. Error codes:\n" + catalogue,
        },
        "paths": {
            "/v1/sms/send": {"post": op(
                "send", "Send one message to up to 200 numbers (signed: Authorization header, or sig in the body)",
                "SendResponse", body="SendRequest", security=_SEND_AUTH, refusals=_CREDENTIALS_REFUSALS,
                description=_SEND_DESCRIPTION)},
            "/v1/messages/{message_id}": {
                "get": op("get_message", "A message's status", "MessageView", params=[_MESSAGE_ID],
                          security=_ACCOUNT_AUTH, refusals=_CREDENTIALS_REFUSALS),
                "delete": op("cancel_message", "Cancel a scheduled message before its time (1056 otherwise): it ends "
                             "`cancelled` (1057), nothing charged", "MessageView", params=[_MESSAGE_ID],
                             security=_ACCOUNT_AUTH, refusals=_CREDENTIALS_REFUSALS),
            },
            "/v1/receipts": {"get": _csv_too(op(
                "receipts", "Status reports after a cursor (format=csv: all of them as CSV)", "ReceiptPage",
                params=[_SINCE, _LIMIT, _FORMAT, _APP_ID_QUERY], **account_read))},
            "/v1/replies": {"get": _csv_too(op(
                "replies", "Replies (MO) after a cursor, 500 at most (format=csv: all of them as CSV)", "ReplyPage",
                params=[_SINCE, _FORMAT, _APP_ID_QUERY], **account_read))},
            "/v1/replies/unattributed": {"get": op(
                "unattributed_replies", "Replies from numbers no account sent to within the attribution window"
                " (operator), 500 at most after a cursor", "ReplyPage", params=[_SINCE], security=_ADMIN)},
            "/v1/accounts": {"post": op(
                "create_account", "Create an account", "AccountView", body="AccountCreate", security=_ADMIN,
                status="201")},
            "/v1/accounts/{app_id}": {
                "get": op("get_account", "An account", "AccountView", params=[_APP_ID], **account),
                "patch": op("patch_account", "Set receipt_url (account) or state/balance/auth_scheme (operator)",
                            "AccountView", body="AccountPatch", params=[_APP_ID], **account),
            },
            "/v1/accounts/{app_id}/limits": {
                "get": op("get_limits", "An account's rate limits and alarm", "AccountLimits", params=[_APP_ID],
                          **account),
                "patch": op("patch_limits", "Change an account's limits (frequency limits: organisation accounts"
                            " only, 1006 for individual ones); fields not given stay", "AccountLimits",
                            body="LimitsPatch", params=[_APP_ID], **account),
            },
            "/v1/signatures": {
                "post": op("create_signature", "Submit a signature for review", "SignatureView",
                           body="SignatureCreate", status="201", **account),
                "get": op("list_signatures", "An account's signatures", list_of("SignatureView"),
                          params=[_APP_ID_QUERY], **account_read),
            },
            "/v1/signatures/{id}/{decision}": {"post": op(
                "review_signature", "Approve or reject a signature", "SignatureView", params=_REVIEW,
                **review_body)},
            "/v1/templates": {
                "post": op("create_template", "Submit a template for review", "TemplateView",
                           body="TemplateCreate", status="201", **account),
                "get": op("list_templates", "An account's templates", list_of("TemplateView"),
                          params=[_APP_ID_QUERY], **account_read),
            },
            "/v1/templates/{id}": {"patch": op(
                "edit_template", "Edit a pending or rejected template (1040 once approved): under review again",
                "TemplateView", body="TemplateEdit", params=_REVIEW[:1], **account)},
            "/v1/signatures/{id}": {"patch": op(
                "edit_signature", "Rename a pending or rejected signature (1040 once approved): under review again",
                "SignatureView", body="SignatureEdit", params=_REVIEW[:1], **account)},
            "/v1/templates/{id}/{decision}": {"post": op(
                "review_template", "Approve or reject a template", "TemplateView", params=_REVIEW, **review_body)},
            "/v1/unsubscribes": {
                "get": op("list_unsubscribes", "The account's unsubscribe list", "UnsubscribeList",
                          params=[_APP_ID_QUERY], **account_read),
                "post": op("add_unsubscribe", "Add a number", "Acknowledgement", body="UnsubscribeChange",
                           status="201", **account),
                "delete": op("lift_unsubscribe", "Lift an unsubscription", "Acknowledgement",
                             body="UnsubscribeChange", **account),
            },
            "/v1/links": {
                "post": op("create_link", "Create a short link to a URL; a template carries its short_url as fixed "
                           "text (1004 for a URL that is not absolute http(s) printable ASCII, 1053 beyond "
                           "links.max_per_account)", "LinkView", body="LinkCreate", status="201", **account),
                "get": op("list_links", "The account's short links after a cursor", "LinkPage",
                          params=[_SINCE, _LIMIT, _APP_ID_QUERY], **account_read),
            },
            "/v1/links/{code}/stats": {"get": op(
                "link_stats", "A link's clicks: in all, and per UTC hour over the last 7 days (another account's "
                "link is 404)", "LinkStats", params=[_LINK_CODE], security=_ACCOUNT_AUTH,
                refusals=_CREDENTIALS_REFUSALS)},
            "/v1/numbers/check": {"post": op(
                "check_numbers", f"Check up to {MAX_CHECK_NUMBERS:,} numbers at their carriers' lookup endpoints: ok, "
                "empty, powered_off or unknown each (invalid: not a number; 1054 beyond the bound)", "ScreeningResponse",
                body="NumbersCheck", **account)},
            "/v1/tasks": {
                "post": _task_upload(op("create_task", "Create a bulk task from a CSV file or a JSON list (starts now, or at"
                                        " schedule_at)", "TaskView", body="TaskCreate", status="201",
                                        params=_TASK_QUERY, **account)),
                "get": op("list_tasks", "The account's tasks, newest first, filtered by status, type and creation time",
                          "TaskPage", params=[_STATUS_OF_TASK, _TYPE, _FROM, _TO, _BEFORE, _TASK_LIMIT, _APP_ID_QUERY],
                          **account_read),
            },
            "/v1/tasks/{task_id}": {
                "get": op("get_task", "A task: status, counts by final state, segments charged, rows not sent",
                          "TaskView", params=[_TASK_ID, _PROBLEMS], security=_ACCOUNT_AUTH,
                          refusals=_CREDENTIALS_REFUSALS),
                "delete": op("cancel_task", "Cancel a task that has not started (1056 once it has): nothing charged",
                             "TaskView", params=[_TASK_ID], security=_ACCOUNT_AUTH, refusals=_CREDENTIALS_REFUSALS),
            },
            "/v1/tasks/{task_id}/messages": {"get": _csv_too(op(
                "task_messages", "A task's messages, oldest first: number, exact content, characters | segments, "
                "sent and receipt times, status, remark (format=csv: all of them as CSV)", "MessagePage",
                params=[_TASK_ID, _AFTER, _LIMIT, _FORMAT], security=_ACCOUNT_AUTH, refusals=_CREDENTIALS_REFUSALS))},
            "/v1/messages": {"get": _csv_too(op(
                "list_messages", "Records, newest first, filtered by phone, time, task, status, signature, template, "
                "carrier (format=csv: every match as CSV)", "MessagePage",
                params=[_PHONE, _FROM, _TO, _TASK_QUERY_ID, _MESSAGE_STATUS, _SIGN, _TEMPLATE_QUERY, _CARRIER, _BEFORE,
                        _LIMIT, _FORMAT, _APP_ID_QUERY], **account_read))},
            "/v1/stats": {"get": op(
                "stats", "An account's day in its timezone: requests, messages, segments charged, final states, "
                "failure reasons, carriers, countries", "StatsView", params=[_DAY, _APP_ID_QUERY], **account_read)},
            "/s/{code}": {"get": follow_link},
            "/metrics": {"get": plain("metrics", "Prometheus metrics", {
                "200": {"description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}})},
            "/healthz": {"get": plain("healthz", "Carrier binds up, store writable", {
                "200": {"description": "healthy", **_json(_ref("Health"))},
                # the health report, or the listener's refusal of the connection
                "503": {"description": "not healthy, or too many connections (1051)",
                        **_json({"anyOf": [_ref("Health"), _error_with([ErrorCode.TOO_MANY_CONNECTIONS])]})},
            })},
            "/openapi.json": {"get": plain("openapi", "This document", {
                "200": {"description": "OpenAPI 3.1", **_json({"type": "object"})}})},
        },
        "components": {"schemas": components, "securitySchemes": _SECURITY_SCHEMES},
    }
