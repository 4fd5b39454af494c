"""HTTP routes (aiohttp): parse with msgspec, call the engine, answer with catalogue codes."""

from __future__ import annotations

import csv
import io
import hmac
import math
import time
from datetime import date, datetime
from email import policy as email_policy
from email.parser import BytesParser
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from aiohttp import web
from aiohttp.typedefs import Middleware
from yarl import URL

from smsengine.api import schemas as s
from smsengine.api.openapi import openapi_document
from smsengine.config import AccountConfig
from smsengine.domain.auth import (
    AuthScheme,
    SignedRequest,
    canonical_query,
    canonical_request,
    is_hmac_authorization,
    parse_authorization,
)
from smsengine.domain.accounts import AccountType
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.numbers import country_of, mask_number, normalise
from smsengine.domain.task_csv import json_rows, parse_csv
from smsengine.domain.text import Scheme, compose
from smsengine.domain.shortlinks import ShortLink, is_code, short_url
from smsengine.domain.signatures import (
    Signature,
    approve_signature,
    check_signature_quota,
    new_signature,
    reject_signature,
    rename_signature,
)
from smsengine.domain.templates import (
    MessageType,
    Template,
    TemplateRegion,
    approve_template,
    check_template_quota,
    new_template,
    reject_template,
)
from smsengine.domain.templates import (
    edit_template as domain_edit_template,
)
from smsengine.engine.destinations import private_target
from smsengine.engine.records import MessageFilter, MessageRow, TaskRecord
from smsengine.engine.store import StoreError
from smsengine.engine.tasks import STATES_OF_STATUS, STATUS_OF_STATE

if TYPE_CHECKING:
    from smsengine.engine.services import Engine

_json = msgspec.json.Encoder()
ENGINE = web.AppKey("engine", object)
SIGNED = web.RequestKey("signed", SignedRequest)  # set when the request carries an HMAC Authorization


class Caller(NamedTuple):
    """Who a signed-in console session is: an account (`app_id`), or the operator (`operator`,
    acting for `app_id` where a page is about one account, "" for all)."""

    app_id: str
    operator: bool


# set by the console (smsengine/console) for its own routes only, from its session cookie; the
# JSON API never reads a cookie, so no other site can make a browser call it
CALLER = web.RequestKey("caller", Caller)

# HTTP status for request-level errors; per-recipient errors ride in a 200 response
_HTTP_STATUS = {
    ErrorCode.SIG_INVALID: 401,
    ErrorCode.SIG_MISSING: 401,
    ErrorCode.APP_NOT_FOUND: 401,
    ErrorCode.REQUEST_TIME_INVALID: 401,
    ErrorCode.REQUEST_REPLAYED: 401,
    ErrorCode.AUTH_SCHEME_REFUSED: 401,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.TOO_MANY_CONNECTIONS: 503,
    ErrorCode.ENGINE_BUSY: 503,
    ErrorCode.NO_PERMISSION: 403,
    ErrorCode.APP_DISABLED: 403,
    ErrorCode.SUSPENDED_ARREARS: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.SOURCE_RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 503,
    ErrorCode.TEMPLATE_IMMUTABLE: 409,
    ErrorCode.NOT_CANCELLABLE: 409,
    ErrorCode.TASK_TOO_LARGE: 413,
}


def respond(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, content_type="application/json")


def error_response(exc: SmsError) -> web.Response:
    return respond(s.ErrorResponse(code=int(exc.code), message=exc.message), _HTTP_STATUS.get(exc.code, 400))


async def decode_body(request: web.Request, cls: type) -> Any:
    raw = await request.read()
    try:
        return msgspec.json.decode(raw, type=cls)
    except msgspec.DecodeError as exc:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, str(exc)) from None


@web.middleware
async def catalogue_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except SmsError as exc:
        return error_response(exc)
    except StoreError:
        # logged by the store; the caller learns only that nothing was changed
        return error_response(SmsError(ErrorCode.INTERNAL, "store unavailable"))
    except web.RequestPayloadError:
        # reading the body failed (a Content-Encoding that does not decode, framing broken mid-body):
        # the client's fault, not a 500; the stream is in an unknown state, so the connection closes
        response = error_response(SmsError(ErrorCode.REQUEST_MALFORMED, "the body could not be read"))
        response.force_close()
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own answers (no route 404, 405, body too large 413) in the API's JSON shape
        code = ErrorCode.NOT_FOUND if exc.status == 404 else ErrorCode.REQUEST_MALFORMED
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.Response(body=_json.encode(s.ErrorResponse(code=int(code), message=exc.reason)),
                            status=exc.status, content_type="application/json", headers=headers)


@web.middleware
async def signed_requests(request: web.Request, handler):
    """A request with `Authorization: SMSENGINE-HMAC-SHA256 ...` gets its canonical form built
    here, from what was received (method, path as sent, query, body), for the handler to verify;
    any other Authorization is not ours and is ignored."""
    header = request.headers.get("Authorization", "")
    if header and is_hmac_authorization(header):
        auth = parse_authorization(header)
        url = request.rel_url
        body = await request.read() if request.body_exists else b""
        canonical = canonical_request(request.method, url.raw_path, canonical_query(url.query.items()),
                                      auth.app_id, auth.timestamp, auth.nonce, body)
        request[SIGNED] = SignedRequest(auth, canonical)
    return await handler(request)


def check_callback_url(request: web.Request, url: str, field: str = "receipt_url") -> None:
    """"" clears the URL; anything else must be an absolute http(s) URL with a host, and a public
    one unless the config allows private callbacks."""
    if not url:
        return
    try:
        parsed = URL(url)
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, f"{field} must be an http(s) URL, got {url!r}")
    if not engine_of(request).config.http.allow_private_callbacks:
        why = private_target(url)
        if why:
            raise SmsError(ErrorCode.REQUEST_MALFORMED, f"{field}: {why} (callbacks go to public addresses)")


def engine_of(request: web.Request) -> Engine:
    return request.app[ENGINE]  # type: ignore[return-value]


def same_secret(expected: str, given: str) -> bool:
    """Constant-time; as bytes, because compare_digest refuses non-ASCII str (a 500, not a 401),
    and header bytes that are not UTF-8 (kept by aiohttp as surrogates) are compared as they came."""
    return hmac.compare_digest(expected.encode(), given.encode(errors="surrogateescape"))


def is_operator(request: web.Request) -> bool:
    """The request carries the operator's X-Admin-Token (never true when none is configured), or
    comes from the operator's console session."""
    caller = request.get(CALLER)
    if caller is not None:
        return caller.operator
    token = engine_of(request).config.http.admin_token
    return bool(token) and same_secret(token, request.headers.get("X-Admin-Token", ""))


def require_admin(request: web.Request) -> None:
    if not is_operator(request):
        raise SmsError(ErrorCode.NO_PERMISSION, "operator token required (X-Admin-Token)")


def require_account(request: web.Request, app_id: str | None = None) -> str:
    """Account-scoped calls are signed (HMAC Authorization) or carry X-App-Id and X-App-Key (`sig`
    accounts only); the operator token works for any app."""
    engine = engine_of(request)
    caller = request.get(CALLER)
    if caller is not None and not caller.operator:
        if app_id is not None and app_id != caller.app_id:
            raise SmsError(ErrorCode.NO_PERMISSION, "another account's resource")
        engine.accounts.get(caller.app_id)
        return caller.app_id
    if is_operator(request):
        if app_id is None:
            app_id = (request.headers.get("X-App-Id") or request.query.get("app_id")
                      or (caller.app_id if caller is not None else ""))
        if not app_id:
            raise SmsError(ErrorCode.REQUEST_MALFORMED, "app_id is required")
        engine.accounts.get(app_id)
        return app_id
    signed = request.get(SIGNED)
    if signed is not None:
        given_id = engine.auth.signed(signed, time.time()).app_id
    else:
        given_id = engine.auth.key_pair(request.headers.get("X-App-Id", ""),
                                        request.headers.get("X-App-Key", "")).app_id
    if app_id is not None and app_id != given_id:
        raise SmsError(ErrorCode.NO_PERMISSION, "another account's resource")
    return given_id


# ids and cursors are stored as signed 64-bit integers: a larger one is refused here, not by the store
_STORED_INT_MAX = 2**63 - 1


def path_id(request: web.Request, name: str) -> int:
    """An id in the path: ASCII decimal digits only (int() would also take " 1", "+1", "1_0" and
    other scripts' digits as some other id), within the stored range; anything else is missing."""
    text = request.match_info[name]
    if not (text.isascii() and text.isdigit()) or int(text) > _STORED_INT_MAX:
        raise SmsError(ErrorCode.NOT_FOUND, f"no such id: {text!r}")
    return int(text)


def _query_int(request: web.Request, name: str, default: int) -> int:
    try:
        value = int(request.query.get(name) or default)
    except ValueError:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, f"{name} is an integer") from None
    if abs(value) > _STORED_INT_MAX:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, f"{name} out of range")
    return value


def _page_query(request: web.Request) -> tuple[int, int]:
    """?since=CURSOR&limit=N of a paged list: items after the cursor, 100 by default, 1 to 1000."""
    return _query_int(request, "since", 0), max(1, min(1000, _query_int(request, "limit", 100)))


# -- sending -------------------------------------------------------------------------------------------
async def send(request: web.Request) -> web.Response:
    engine = engine_of(request)
    if engine.draining:
        raise SmsError(ErrorCode.INTERNAL, "shutting down, not accepting")
    req = await decode_body(request, s.SendRequest)
    check_callback_url(request, req.callback_url, "callback_url")
    response = await engine.intake.send(req, request.remote or "", request.get(SIGNED))
    return respond(response)


async def _owned(request: web.Request, param: str, what: str, lookup: Callable[[Engine, int], Awaitable[Any]]):
    """The caller's own message or task named in the path (the operator's: anyone's). Another
    account's answers like a missing one: ids must not reveal other traffic."""
    engine = engine_of(request)
    item_id = path_id(request, param)
    caller = None if is_operator(request) else require_account(request)
    item = await lookup(engine, item_id)
    if item is None or (caller is not None and item.app_id != caller):
        raise SmsError(ErrorCode.NOT_FOUND, f"no {what} {item_id}")
    return engine, item


async def _owned_message(request: web.Request) -> tuple[Engine, s.MessageView]:
    return await _owned(request, "message_id", "message", lambda engine, mid: engine.store.message_view(mid))


async def get_message(request: web.Request) -> web.Response:
    return respond((await _owned_message(request))[1])


async def receipts(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = require_account(request)
    since, limit = _page_query(request)
    if request.query.get("format") == "csv":
        return await _export_views(request, "receipts.csv", s.ReceiptItem,
                                   lambda after: engine.store.receipts_since(app_id, after, _EXPORT_PAGE), since)
    items = await engine.store.receipts_since(app_id, since, limit)
    page = items
    return respond(s.ReceiptPage(0, "OK", page, page[-1].cursor if page else since))


async def replies(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = require_account(request)
    since = _query_int(request, "since", 0)
    if request.query.get("format") == "csv":
        return await export_replies(request, engine, app_id, since)
    items = await engine.store.replies_since(app_id, since, 500)
    return respond(s.ReplyPage(0, "OK", items, items[-1].cursor if items else since))


async def export_replies(request: web.Request, engine: Engine, app_id: str, since: int) -> web.StreamResponse:
    """An account's replies after `since` as CSV (numbers whole; app_id "": the unattributed)."""
    return await _export_views(request, "replies.csv", s.ReplyItem,
                               lambda after: engine.store.replies_since(app_id, after, _EXPORT_PAGE), since)


async def unattributed_replies(request: web.Request) -> web.Response:
    """Replies from numbers no account sent to within the attribution window (operator only)."""
    require_admin(request)
    engine = engine_of(request)
    since = _query_int(request, "since", 0)
    items = await engine.store.replies_since("", since, 500)
    return respond(s.ReplyPage(0, "OK", items, items[-1].cursor if items else since))


# -- accounts ------------------------------------------------------------------------------------------
def _account_view(engine: Engine, app_id: str, balance: int) -> s.AccountView:
    a = engine.accounts.get(app_id)
    return s.AccountView(a.app_id, str(a.type), a.raw_content, balance, a.state, a.utc_offset_minutes, a.receipt_url,
                         str(a.auth_scheme), a.reply_url, engine.callbacks.position(app_id, "receipts"),
                         engine.callbacks.position(app_id, "replies"))


async def _stored_balance(engine: Engine, app_id: str) -> int:
    return await engine.store.balance_of(app_id) or 0


async def create_account(request: web.Request) -> web.Response:
    require_admin(request)
    engine = engine_of(request)
    body = await decode_body(request, s.AccountCreate)
    check_callback_url(request, body.receipt_url)
    check_callback_url(request, body.reply_url, "reply_url")
    check_callback_url(request, body.limits.alarm_url, "limits.alarm_url")
    await engine.create_account(msgspec.convert(msgspec.to_builtins(body), AccountConfig))
    return respond(_account_view(engine, body.app_id, body.balance), 201)


async def get_account(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = require_account(request, request.match_info["app_id"])
    return respond(_account_view(engine, app_id, await _stored_balance(engine, app_id)))


async def patch_account(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = require_account(request, request.match_info["app_id"])
    body = await decode_body(request, s.AccountPatch)
    if body.state is not None or body.add_balance is not None or body.auth_scheme is not None:
        require_admin(request)
    account = engine.accounts.get(app_id)
    for stream, url, since in (("receipts", body.receipt_url, body.receipt_since),
                               ("replies", body.reply_url, body.reply_since)):
        field = "receipt_url" if stream == "receipts" else "reply_url"
        had_url = bool(getattr(account, field))
        if url is not None:
            check_callback_url(request, url, field)
            await getattr(engine.accounts, f"set_{field}")(app_id, url)
        if url or since is not None:
            await engine.callbacks.url_set(app_id, stream, had_url=had_url, since=since)
    if body.state is not None:
        await engine.accounts.set_state(app_id, body.state)
    if body.add_balance is not None:
        await engine.accounts.add_balance(app_id, body.add_balance)
    if body.auth_scheme is not None:
        await engine.accounts.set_auth_scheme(app_id, AuthScheme(body.auth_scheme))
    return respond(_account_view(engine, app_id, await _stored_balance(engine, app_id)))


# the limits an individual account may not change (SPEC §8a, the seeds): the alarm's it may
_FREQUENCY = ("same_content_max", "same_content_window_s", "daily_max", "hourly_max", "international_daily_max")


async def patch_limits(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = require_account(request, request.match_info["app_id"])
    body = await decode_body(request, s.LimitsPatch)
    given = {name: getattr(body, name) for name in body.__struct_fields__ if getattr(body, name) is not msgspec.UNSET}
    account = engine.accounts.get(app_id)
    if account.type is AccountType.INDIVIDUAL and any(name in given for name in _FREQUENCY):
        raise SmsError(ErrorCode.NO_PERMISSION, "individual accounts cannot change their frequency limits")
    if "max_signatures" in given or "max_templates" in given:
        require_admin(request)  # quotas are the operator's to grant
    if given.get("alarm_url"):
        check_callback_url(request, given["alarm_url"], "alarm_url")
    limits = msgspec.structs.replace(engine.accounts.limits[app_id], **given)
    await engine.set_limits(app_id, limits)
    return respond(_limits_view(limits))


def _limits_view(limits) -> s.AccountLimits:
    return msgspec.convert(msgspec.structs.asdict(limits), s.AccountLimits)  # same fields, by name


async def get_limits(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = require_account(request, request.match_info["app_id"])
    return respond(_limits_view(engine.accounts.limits[app_id]))


# -- signatures and templates ----------------------------------------------------------------------
def _sig_view(sig) -> s.SignatureView:
    return s.SignatureView(sig.id, sig.account, sig.name, str(sig.status), sig.remark)


def _tpl_view(t) -> s.TemplateView:
    return s.TemplateView(t.id, t.account, t.text, str(t.type), str(t.region), str(t.status), t.remark, t.name,
                          t.note)


async def create_signature(request: web.Request) -> web.Response:
    body = await decode_body(request, s.SignatureCreate)
    return respond(_sig_view(await make_signature(request, body)), 201)


async def make_signature(request: web.Request, body: s.SignatureCreate) -> Signature:
    """A new signature, pending review, within the account's quota: the API's and the console's."""
    engine = engine_of(request)
    app_id = require_account(request, body.app_id)
    account = engine.accounts.get(app_id)
    check_signature_quota(len(account.signatures), engine.accounts.limits[app_id].max_signatures)
    return await engine.accounts.add_signature(new_signature(0, app_id, body.name))


async def list_signatures(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = require_account(request)
    return respond([_sig_view(x) for x in engine.accounts.get(app_id).signatures.values()])


async def review_signature(request: web.Request) -> web.Response:
    require_admin(request)
    sid = path_id(request, "id")
    approve = request.match_info["decision"] == "approve"
    body = await decode_body(request, s.ReviewDecision) if request.can_read_body else s.ReviewDecision()
    return respond(_sig_view(await decide_signature(request, sid, approve, body.remark)))


async def decide_signature(request: web.Request, sid: int, approve: bool, remark: str = "") -> Signature:
    """The operator's decision on a pending signature (a rejection with its reason)."""
    require_admin(request)
    engine = engine_of(request)
    sig = engine.accounts.find_signature(sid)
    sig = approve_signature(sig) if approve else reject_signature(sig, remark)
    return await engine.accounts.save_signature_review(sig)


async def create_template(request: web.Request) -> web.Response:
    body = await decode_body(request, s.TemplateCreate)
    return respond(_tpl_view(await make_template(request, body)), 201)


async def make_template(request: web.Request, body: s.TemplateCreate) -> Template:
    """A new template, pending review, within the account's quota: the API's and the console's."""
    engine = engine_of(request)
    app_id = require_account(request, body.app_id)
    account = engine.accounts.get(app_id)
    check_template_quota(len(account.templates), engine.accounts.limits[app_id].max_templates)
    tpl = new_template(0, app_id, body.text, MessageType(body.type), TemplateRegion(body.region))
    return await engine.accounts.add_template(msgspec.structs.replace(tpl, name=body.name, note=body.note))


async def list_templates(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = require_account(request)
    return respond([_tpl_view(x) for x in engine.accounts.get(app_id).templates.values()])


async def edit_template(request: web.Request) -> web.Response:
    """A pending or rejected template's new text, under review again (approved: 1040)."""
    tid = path_id(request, "id")
    _own(request, engine_of(request).accounts.find_template(tid))  # missing or not ours: before the body
    body = await decode_body(request, s.TemplateEdit)
    return respond(_tpl_view(await change_template(request, tid, body)))


async def change_template(request: web.Request, tid: int, body: s.TemplateEdit) -> Template:
    """The caller's own pending or rejected template edited and under review again (approved: 1040)."""
    engine = engine_of(request)
    tpl = _own(request, engine.accounts.find_template(tid))
    edited = domain_edit_template(tpl, body.text)
    edited = msgspec.structs.replace(edited, name=tpl.name if body.name is None else body.name,
                                     note=tpl.note if body.note is None else body.note)
    return await engine.accounts.save_template_edit(edited)


async def edit_signature(request: web.Request) -> web.Response:
    """A pending or rejected signature's new name, under review again (approved: 1040)."""
    sid = path_id(request, "id")
    _own(request, engine_of(request).accounts.find_signature(sid))  # missing or not ours: before the body
    body = await decode_body(request, s.SignatureEdit)
    return respond(_sig_view(await change_signature(request, sid, body)))


async def change_signature(request: web.Request, sid: int, body: s.SignatureEdit) -> Signature:
    """The caller's own pending or rejected signature renamed and under review again (approved: 1040)."""
    engine = engine_of(request)
    sig = _own(request, engine.accounts.find_signature(sid))
    return await engine.accounts.save_signature_edit(sig, rename_signature(sig, body.name))


def _own(request: web.Request, item):
    """`item` if the caller is its account (or the operator); another account's is NOT_FOUND, as
    if it did not exist."""
    if not is_operator(request) and require_account(request) != item.account:
        raise SmsError(ErrorCode.NOT_FOUND, "no such item")
    return item


async def review_template(request: web.Request) -> web.Response:
    require_admin(request)
    tid = path_id(request, "id")
    approve = request.match_info["decision"] == "approve"
    body = await decode_body(request, s.ReviewDecision) if request.can_read_body else s.ReviewDecision()
    return respond(_tpl_view(await decide_template(request, tid, approve, body.remark)))


async def decide_template(request: web.Request, tid: int, approve: bool, remark: str = "") -> Template:
    """The operator's decision on a pending template (a rejection with its reason)."""
    require_admin(request)
    engine = engine_of(request)
    tpl = engine.accounts.find_template(tid)
    tpl = approve_template(tpl) if approve else reject_template(tpl, remark)
    return await engine.accounts.save_template_review(tpl)


# -- unsubscribe list -------------------------------------------------------------------------------
def _unsubscribe_phone(engine: Engine, raw: str) -> str:
    """The list holds E.164, as intake compares normalised numbers against it."""
    phone = normalise(raw, engine.config.default_region)
    if phone is None:
        raise SmsError(ErrorCode.NUMBER_INVALID, raw)
    return phone


async def list_unsubscribes(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = require_account(request)
    return respond({"code": 0, "message": "OK", "phones": sorted(engine.accounts.get(app_id).unsubscribed)})


async def lift_unsubscribe(request: web.Request) -> web.Response:
    await lift_unsubscription(request, await decode_body(request, s.UnsubscribeChange))
    return respond({"code": 0, "message": "OK"})


async def lift_unsubscription(request: web.Request, body: s.UnsubscribeChange) -> str:
    """A number off the account's unsubscribe list (durable when this returns); its E.164 form.
    NOT_FOUND when it was not on it."""
    engine = engine_of(request)
    app_id = require_account(request, body.app_id)
    phone = _unsubscribe_phone(engine, body.phone)
    lifted = engine.accounts.resubscribe(app_id, phone)
    await engine.store.flush()
    if not lifted:
        raise SmsError(ErrorCode.NOT_FOUND, f"{phone} is not unsubscribed")
    return phone


async def add_unsubscribe(request: web.Request) -> web.Response:
    await add_unsubscription(request, await decode_body(request, s.UnsubscribeChange))
    return respond({"code": 0, "message": "OK"}, 201)


async def add_unsubscription(request: web.Request, body: s.UnsubscribeChange) -> str:
    """A number on the account's unsubscribe list (durable when this returns); its E.164 form."""
    engine = engine_of(request)
    app_id = require_account(request, body.app_id)
    phone = _unsubscribe_phone(engine, body.phone)
    engine.accounts.unsubscribe(app_id, phone)
    await engine.store.flush()
    return phone


# -- short links ----------------------------------------------------------------------------------------
def _link_view(engine: Engine, link: ShortLink) -> s.LinkView:
    return s.LinkView(link.code, link.app_id, link.url, short_url(engine.config.links.public_base_url, link.code),
                      link.created_at, link.id)


def _link_code(request: web.Request) -> str:
    code = request.match_info["code"]
    if not is_code(code):
        raise SmsError(ErrorCode.NOT_FOUND, f"no short link {code!r}")
    return code


async def create_link(request: web.Request) -> web.Response:
    engine = engine_of(request)
    body = await decode_body(request, s.LinkCreate)
    app_id = require_account(request, body.app_id)
    link = await engine.shortlinks.create(app_id, body.url, time.time())
    return respond(_link_view(engine, link), 201)


async def list_links(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = require_account(request)
    since, limit = _page_query(request)
    links = await engine.shortlinks.page(app_id, since, limit)
    return respond(s.LinkPage(0, "OK", [_link_view(engine, x) for x in links], links[-1].id if links else since))


async def link_stats(request: web.Request) -> web.Response:
    engine = engine_of(request)
    code = _link_code(request)
    caller = None if is_operator(request) else require_account(request)
    link = await engine.shortlinks.link(code, caller)
    stats = await engine.shortlinks.stats(link, time.time())
    return respond(s.LinkStats(_link_view(engine, link), stats.total, stats.since,
                               [s.HourClicks(h.hour, h.clicks) for h in stats.hours]))


async def follow_link(request: web.Request) -> web.Response:
    """A handset opening a short link: no credentials, a 302 to the target, the click counted."""
    engine = engine_of(request)
    code = _link_code(request)
    url = await engine.shortlinks.follow(code, time.time(), request.headers.get("User-Agent", ""))
    if url is None:
        raise SmsError(ErrorCode.NOT_FOUND, f"no short link {code!r}")
    return web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})


# -- empty-number screening ------------------------------------------------------------------------------
async def check_numbers(request: web.Request) -> web.Response:
    """Each number's state at its carrier's lookup endpoint; a lookup that fails is that number's
    `unknown`, never the request's error."""
    engine = engine_of(request)
    body = await decode_body(request, s.NumbersCheck)
    require_account(request, body.app_id)
    return respond(await engine.screening.check(body.phone_numbers))


# -- bulk tasks -----------------------------------------------------------------------------------------
_TASK_FIELDS = ("app_id", "name", "type", "sign", "template_id", "schedule_at", "context", "callback_url", "screen")


def _schedule_time(value: float | str | None) -> float | None:
    """Unix seconds, or ISO 8601 with an offset: an instant, never a wall clock of some zone."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds) or abs(seconds) > 1e11:
            raise SmsError(ErrorCode.REQUEST_MALFORMED, "schedule_at: out of range")
        return seconds
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, f"schedule_at: not unix seconds or ISO 8601: {value!r}") from None
    if moment.tzinfo is None:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, "schedule_at: an ISO 8601 time needs an offset (+08:00, Z)")
    return moment.timestamp()


def _csv_upload(request: web.Request, body: bytes) -> tuple[dict[str, str], bytes]:
    """The task's fields and its file: from a multipart form (the file in `file`) or a raw CSV
    body with the fields in the query string."""
    if request.content_type == "multipart/form-data":
        head = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
        form = BytesParser(policy=email_policy.HTTP).parsebytes(head + body)
        fields: dict[str, str] = {}
        data = None
        for part in form.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if name == "file":
                data = payload
            elif name in _TASK_FIELDS:
                fields[str(name)] = payload.decode("utf-8", "replace")
        if data is None:
            raise SmsError(ErrorCode.REQUEST_MALFORMED, "the form has no `file` part")
        return fields, data
    return {k: v for k, v in request.query.items() if k in _TASK_FIELDS}, body


async def create_task(request: web.Request) -> web.Response:
    engine = engine_of(request)
    body = await request.read()
    if request.content_type == "application/json":
        spec = await decode_body(request, s.TaskCreate)
        task = await new_task(request, spec, None)
    else:
        fields, data = _csv_upload(request, body)
        task = await new_task(request, task_fields(fields), data)
    return respond(await _task_view(engine, task, detail=True), 201)


def task_fields(fields: dict[str, str]) -> s.TaskCreate:
    """A task's fields given as text (query string, form fields)."""
    try:
        return msgspec.convert({k: v for k, v in fields.items() if k in _TASK_FIELDS}, s.TaskCreate, strict=False)
    except msgspec.ValidationError as exc:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, str(exc)) from None


async def new_task(request: web.Request, spec: s.TaskCreate, csv_data: bytes | None) -> TaskRecord:
    """A task made, from a CSV file (`csv_data`) or the spec's rows / numbers: the one way the API
    and the console create one."""
    engine = engine_of(request)
    limits = engine.config.tasks
    app_id = require_account(request, spec.app_id or None)
    template = engine.accounts.get(app_id).templates.get(spec.template_id)
    params = template.compiled.param_count if template is not None else 0
    if csv_data is None:
        rows = spec.rows or [[n, *spec.params] for n in spec.numbers]
        file = json_rows(rows, params, engine.config.default_region, max_rows=limits.max_rows)
    else:
        file = parse_csv(csv_data, params, engine.config.default_region, max_rows=limits.max_rows,
                         max_bytes=limits.max_bytes)
    check_callback_url(request, spec.callback_url, "callback_url")
    kind = spec.type or (str(template.type) if template is not None else "regular")
    task = TaskRecord(id=0, app_id=app_id, name=spec.name, type=kind, sign=spec.sign,
                      template_id=spec.template_id, template_text="", context=spec.context,
                      callback_url=spec.callback_url, created_at=0.0, schedule_at=_schedule_time(spec.schedule_at),
                      state="", recipients=0, screen=spec.screen)
    return await engine.tasks.create(task, file)


async def _task_view(engine: Engine, task: TaskRecord, *, detail: bool, problems: int = 1000) -> s.TaskView:
    by_status = await engine.store.task_counts(task.id)
    counts = s.TaskCounts(delivered=by_status.get("delivered", 0), failed=by_status.get("failed", 0),
                          expired=by_status.get("expired", 0), cancelled=by_status.get("cancelled", 0),
                          pending=by_status.get("accepted", 0))
    template = engine.accounts.accounts[task.app_id].templates.get(task.template_id) \
        if task.app_id in engine.accounts.accounts else None
    shown = await engine.store.task_problems(task.id, 0, problems) if detail and problems else []
    codes = await engine.store.task_problem_codes(task.id)
    return s.TaskView(
        id=task.id, app_id=task.app_id, name=task.name, type=task.type, sign=task.sign, template_id=task.template_id,
        template_name=template.name if template is not None else "", template_text=task.template_text,
        status=STATUS_OF_STATE[task.state], recipients=task.recipients,
        rows_rejected=sum(codes.values()), rows_merged=task.rows_merged, screen=task.screen,
        screened_empty=codes.get(ErrorCode.EMPTY_NUMBER, 0),
        created_at=task.created_at, schedule_at=task.schedule_at, started_at=task.started_at,
        completed_at=task.completed_at, cancelled_at=task.cancelled_at, counts=counts,
        segments_charged=await engine.store.task_segments_charged(task.id),
        problems=[s.RowProblemView(p.line, _masked(engine, p.value), p.code, p.reason) for p in shown])


async def _owned_task(request: web.Request) -> tuple[Engine, TaskRecord]:
    return await _owned(request, "task_id", "task", lambda engine, task_id: engine.store.task(task_id))


async def get_task(request: web.Request) -> web.Response:
    """?problems=N: at most N of the rows not sent (default and most 1,000; 0 for a light poll)."""
    engine, task = await _owned_task(request)
    return respond(await _task_view(engine, task, detail=True,
                                    problems=max(0, min(1000, _query_int(request, "problems", 1000)))))


async def cancel_task(request: web.Request) -> web.Response:
    engine, task = await _owned_task(request)
    return respond(await _task_view(engine, await engine.tasks.cancel(task.id, task.app_id), detail=True))


async def list_tasks(request: web.Request) -> web.Response:
    engine = engine_of(request)
    app_id = None if is_operator(request) and not request.query.get("app_id") else require_account(request)
    status = request.query.get("status")
    check_task_filters(status, request.query.get("type"))
    return respond(await task_page(engine, app_id, status=status, kind=request.query.get("type"),
                                   before=_query_int(request, "before", 0), limit=_query_int(request, "limit", 20),
                                   since=_query_time(request, "since"), until=_query_time(request, "until")))


def check_task_filters(status: str | None, kind: str | None) -> None:
    if status is not None and status not in STATES_OF_STATUS:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, f"status: one of {', '.join(STATES_OF_STATUS)}")
    if kind is not None and kind not in ("regular", "marketing"):
        raise SmsError(ErrorCode.REQUEST_MALFORMED, "type: regular or marketing")


async def task_page(engine: Engine, app_id: str | None, *, status: str | None, kind: str | None, before: int,
                    limit: int, since: float | None, until: float | None) -> s.TaskPage:
    """A page of tasks, newest first, ids below `before` (0: from the newest), at most `limit` (1 to
    100): GET /v1/tasks and the console's list. `app_id` None: every account's."""
    check_task_filters(status, kind)
    limit = max(1, min(100, limit))
    tasks = await engine.store.tasks(app_id, before=before or _STORED_INT_MAX, limit=limit,
                                     states=STATES_OF_STATUS[status] if status else (),
                                     since=since, until=until, type=kind)
    views = [await _task_view(engine, t, detail=False) for t in tasks]
    return s.TaskPage(0, "OK", views, tasks[-1].id if len(tasks) == limit else 0)


async def task_messages(request: web.Request) -> web.Response:
    engine, task = await _owned_task(request)
    where = MessageFilter(task_id=task.id, app_id=task.app_id)
    if request.query.get("format") == "csv":
        return await _export(request, engine, where, f"task-{task.id}.csv")
    after = _query_int(request, "after", 0)
    limit = max(1, min(1000, _query_int(request, "limit", 100)))
    rows = await engine.store.message_rows(where, after=after, limit=limit)
    return respond(s.MessagePage(0, "OK", _masked_rows(engine, rows), int(rows[-1].message_id) if len(rows) == limit else 0))


async def cancel_message(request: web.Request) -> web.Response:
    return respond(await call_off_message(request))


async def call_off_message(request: web.Request) -> s.MessageView:
    """The caller's scheduled single message (path `message_id`) called off before its time:
    final `cancelled`, not charged; NOT_CANCELLABLE when it is not waiting for its time."""
    engine, message = await _owned_message(request)
    mid = int(message.message_id)
    if not engine.dispatcher.cancel(mid, message.app_id):
        raise SmsError(ErrorCode.NOT_CANCELLABLE, f"message {mid} is not waiting for its scheduled time")
    await engine.store.flush()
    return await engine.store.message_view(mid)


# -- records ----------------------------------------------------------------------------------------------
_STATUS_FILTER = {"pending": ("accepted",), "delivered": ("delivered",), "failed": ("failed",),
                  "expired": ("expired",), "cancelled": ("cancelled",)}


def _query_time(request: web.Request, name: str) -> float | None:
    value = request.query.get(name)
    return _schedule_time(value) if value else None


def _masked(engine: Engine, phone: str) -> str:
    return mask_number(phone) if engine.config.records.mask_numbers else phone


def _masked_rows(engine: Engine, rows: list) -> list:
    if engine.config.records.mask_numbers:
        for row in rows:
            row.phone = mask_number(row.phone)
    return rows


async def _records_filter(request: web.Request, engine: Engine) -> MessageFilter:
    q = request.query
    app_id = None if is_operator(request) and not q.get("app_id") else require_account(request)
    where = MessageFilter(app_id=app_id)
    if q.get("phone"):
        where.phone = normalise(q["phone"], engine.config.default_region) or q["phone"]
    if q.get("status"):
        if q["status"] not in _STATUS_FILTER:
            raise SmsError(ErrorCode.REQUEST_MALFORMED, f"status: one of {', '.join(_STATUS_FILTER)}")
        where.statuses = _STATUS_FILTER[q["status"]]
    for name in ("task_id", "template_id"):
        if q.get(name):
            setattr(where, name, _query_int(request, name, 0))
    if q.get("carrier"):
        where.carrier = q["carrier"]
    if q.get("sign"):
        sign = q["sign"]
        where.content_prefixes = (compose("", sign, Scheme.DOMESTIC), compose("", sign, Scheme.GSM))
    since, until = _query_time(request, "since"), _query_time(request, "until")
    if since is not None:
        where.first_id = await engine.store.first_message_since(since) or _STORED_INT_MAX
    if until is not None:
        first_after = await engine.store.first_message_since(until)
        if first_after is not None:
            where.last_id = first_after - 1
    return where


async def list_messages(request: web.Request) -> web.Response:
    engine = engine_of(request)
    where = await _records_filter(request, engine)
    if request.query.get("format") == "csv":
        return await _export(request, engine, where, "messages.csv")
    before = _query_int(request, "before", 0) or _STORED_INT_MAX
    limit = max(1, min(1000, _query_int(request, "limit", 100)))
    rows = await engine.store.message_rows(where, before=before, limit=limit)
    return respond(s.MessagePage(0, "OK", _masked_rows(engine, rows), int(rows[-1].message_id) if len(rows) == limit else 0))


async def stats(request: web.Request) -> web.Response:
    """?day=YYYY-MM-DD (default: today) in the account's timezone."""
    engine = engine_of(request)
    return respond(await day_view(engine, require_account(request), request.query.get("day")))


async def day_view(engine: Engine, app_id: str, given: str | None) -> s.StatsView:
    """An account's statistics of one day (YYYY-MM-DD, default today) in its timezone."""
    account = engine.accounts.get(app_id)
    zone = account.zone
    try:
        day = date.fromisoformat(given) if given else datetime.now(zone).date()
    except ValueError:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, f"day: YYYY-MM-DD, got {given!r}") from None
    start = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
    counts = await engine.store.day_counts(app_id, start, start + 86400)
    by = counts.by_status
    countries: dict[str, int] = {}
    for prefix, n in counts.prefixes.items():
        country = country_of(prefix)
        countries[country] = countries.get(country, 0) + n
    return s.StatsView(
        code=0, message="OK", app_id=app_id, day=day.isoformat(), utc_offset_minutes=account.utc_offset_minutes,
        requests=counts.requests, messages=counts.messages, segments_charged=counts.segments_charged,
        delivered=by.get("delivered", 0), failed=by.get("failed", 0), expired=by.get("expired", 0),
        cancelled=by.get("cancelled", 0), pending=by.get("accepted", 0),
        failure_reasons=sorted((s.FailureReason(code, remark or "", n) for code, (remark, n) in counts.reasons.items()),
                               key=lambda r: -r.messages),
        carriers=[s.CarrierDay(name, sum(per.values()), per.get("delivered", 0), per.get("failed", 0),
                               per.get("expired", 0)) for name, per in sorted(counts.carriers.items())],
        countries=[s.CountryDay(c, n) for c, n in sorted(countries.items(), key=lambda item: -item[1])],
    )


_CSV_COLUMNS = MessageRow.__struct_fields__


async def _export(request: web.Request, engine: Engine, where: MessageFilter, filename: str) -> web.StreamResponse:
    """Every record of the query as CSV, streamed in pages (memory flat whatever the size); numbers
    whole (exports are for the account's own systems). The lines come from the store ready made."""
    response = _csv_response(filename)
    await response.prepare(request)
    await response.write((",".join(_CSV_COLUMNS) + "\r\n").encode())
    await engine.store.export_csv(where, response.write)
    await response.write_eof()
    return response


_EXPORT_PAGE = 5000


def _csv_response(filename: str) -> web.StreamResponse:
    return web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8",
                                       "Content-Disposition": f'attachment; filename="{filename}"'})


async def _export_views(request: web.Request, filename: str, view: type,
                        page: Callable[[int], Awaitable[list]], since: int) -> web.StreamResponse:
    """Status reports or replies after `since` as CSV, page by page by their cursor (streamed,
    memory flat): the columns are the view's fields, in order."""
    response = _csv_response(filename)
    await response.prepare(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(view.__struct_fields__)
    after = since
    while True:
        items = await page(after)
        writer.writerows(msgspec.structs.astuple(item) for item in items)
        await response.write(out.getvalue().encode())
        out.seek(0)
        out.truncate()
        if len(items) < _EXPORT_PAGE:
            break
        after = items[-1].cursor
    await response.write_eof()
    return response


# -- operations -----------------------------------------------------------------------------------------
async def metrics(request: web.Request) -> web.Response:
    body, content_type = engine_of(request).metrics.render()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def healthz(request: web.Request) -> web.Response:
    engine = engine_of(request)
    carriers = {name: link.up for name, link in engine.pools.items()}
    # from the writer's own state: a probe must not cost a write (nor queue one behind a stuck disk)
    store_ok = engine.store.writable
    healthy = store_ok and any(carriers.values())
    return respond(
        {"healthy": healthy, "store_writable": store_ok, "carriers": carriers, "time": time.time()},
        200 if healthy else 503,
    )


async def openapi(request: web.Request) -> web.Response:
    return respond(openapi_document())


def build_app(engine: Engine, *, middlewares: Sequence[Middleware] = ()) -> web.Application:
    """`middlewares` (the listener's) run inside the catalogue's error answers and before any
    body is read."""
    app = web.Application(middlewares=[catalogue_errors, *middlewares, signed_requests],
                          client_max_size=4 * 1024 * 1024)
    app[ENGINE] = engine
    r = app.router
    r.add_post("/v1/sms/send", send)
    r.add_get("/v1/messages/{message_id}", get_message)
    r.add_delete("/v1/messages/{message_id}", cancel_message)
    r.add_get("/v1/messages", list_messages)
    r.add_get("/v1/stats", stats)
    r.add_post("/v1/tasks", create_task)
    r.add_get("/v1/tasks", list_tasks)
    r.add_get("/v1/tasks/{task_id}", get_task)
    r.add_delete("/v1/tasks/{task_id}", cancel_task)
    r.add_get("/v1/tasks/{task_id}/messages", task_messages)
    r.add_get("/v1/receipts", receipts)
    r.add_get("/v1/replies", replies)
    r.add_get("/v1/replies/unattributed", unattributed_replies)
    r.add_post("/v1/accounts", create_account)
    r.add_get("/v1/accounts/{app_id}", get_account)
    r.add_patch("/v1/accounts/{app_id}", patch_account)
    r.add_get("/v1/accounts/{app_id}/limits", get_limits)
    r.add_patch("/v1/accounts/{app_id}/limits", patch_limits)
    r.add_post("/v1/signatures", create_signature)
    r.add_get("/v1/signatures", list_signatures)
    r.add_post("/v1/signatures/{id:[0-9]+}/{decision:approve|reject}", review_signature)
    r.add_post("/v1/templates", create_template)
    r.add_get("/v1/templates", list_templates)
    r.add_post("/v1/templates/{id:[0-9]+}/{decision:approve|reject}", review_template)
    r.add_patch("/v1/templates/{id}", edit_template)
    r.add_patch("/v1/signatures/{id}", edit_signature)
    r.add_get("/v1/unsubscribes", list_unsubscribes)
    r.add_post("/v1/unsubscribes", add_unsubscribe)
    r.add_delete("/v1/unsubscribes", lift_unsubscribe)
    r.add_post("/v1/links", create_link)
    r.add_get("/v1/links", list_links)
    r.add_get("/v1/links/{code}/stats", link_stats)
    r.add_post("/v1/numbers/check", check_numbers)
    r.add_get("/s/{code}", follow_link)
    r.add_get("/metrics", metrics)
    r.add_get("/healthz", healthz)
    r.add_get("/openapi.json", openapi)
    return app

