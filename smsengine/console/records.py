"""Console pages: records (search, one message, CSV export), replies and the unsubscribe list —
over the API's own functions (the records filter, the exports, cancel, the unsubscribe changes)."""

from __future__ import annotations

import hashlib
import heapq
import hmac
from datetime import timezone

from aiohttp import web
from multidict import MultiDict
from yarl import URL

from smsengine.api import schemas as s
from smsengine.api.app import (
    _STATUS_FILTER,
    _STORED_INT_MAX,
    _export,
    _masked,
    _owned_message,
    _query_int,
    _records_filter,
    add_unsubscription,
    call_off_message,
    export_replies,
    lift_unsubscription,
    require_admin,
)
from smsengine.console.catalogue import form_struct
from smsengine.console.shell import PREFIX, acting_app, clock_in, form_of, page, session_of, state_of, wall_clock, zone_of
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.engine.records import MessageFilter, MessageRow, ReplyView

routes = web.RouteTableDef()

PAGE = 50  # rows on a page unless ?limit= says otherwise (1 to 200)
_FILTERS = ("phone", "status", "task_id", "template_id", "carrier", "sign", "since", "until")
STATUSES = tuple(_STATUS_FILTER)  # the API's names for the status filter


# -- what a page is about --------------------------------------------------------------------------
def _instant(name: str, value: str, zone: timezone) -> str:
    """A time filter as the API takes it (unix seconds or ISO 8601 with an offset): a
    datetime-local input's wall clock ("2024-05-01T10:30") is read in the acting account's zone."""
    try:
        float(value)
        return value
    except ValueError:
        return repr(wall_clock(value, zone, name))


def _filters(request: web.Request) -> dict[str, str]:
    """The records filters the page was asked for (empty ones left out), as given."""
    return {name: request.query[name].strip() for name in _FILTERS if request.query.get(name, "").strip()}


async def _where(request: web.Request) -> MessageFilter:
    """The API's records filter over the page's query, times converted, scoped to the acting
    account (the operator's pick; every account when it picked none)."""
    zone = zone_of(request)
    query = MultiDict(_filters(request))
    for name in ("since", "until"):
        if name in query:
            query[name] = _instant(name, query[name], zone)
    acting = acting_app(request, required=False)
    if acting:
        query["app_id"] = acting
    engine = state_of(request).engine
    return await _records_filter(request.clone(rel_url=request.rel_url.with_query(query)), engine)


def _link(path: str, **query: str | int) -> str:
    return str(URL(path).with_query({k: v for k, v in query.items() if v not in ("", None, 0)}))


# -- records -----------------------------------------------------------------------------------------
@routes.get("/records")
async def records(request: web.Request) -> web.Response:
    engine = state_of(request).engine
    where = await _where(request)
    before = _query_int(request, "before", 0)
    limit = max(1, min(200, _query_int(request, "limit", PAGE)))
    rows: list[MessageRow] = await engine.store.message_rows(where, before=before or _STORED_INT_MAX, limit=limit)
    filters = _filters(request)
    more = int(rows[-1].message_id) if len(rows) == limit else 0
    return page(request, "records.html", {
        "rows": rows, "filters": filters, "statuses": STATUSES, "limit": limit, "before": before,
        "carriers": sorted(engine.pools),
        "next_page": _link(f"{PREFIX}/records", **filters, limit=limit if limit != PAGE else 0, before=more) if more else "",
        "first_page": _link(f"{PREFIX}/records", **filters, limit=limit if limit != PAGE else 0) if before else "",
        "export": _link(f"{PREFIX}/records.csv", **filters),
    })


@routes.get("/records.csv")
async def records_csv(request: web.Request) -> web.StreamResponse:
    """Every record of the search, oldest first, numbers whole (the API's export)."""
    engine = state_of(request).engine
    return await _export(request, engine, await _where(request), "messages.csv")


@routes.get("/records/{message_id}")
async def record(request: web.Request) -> web.Response:
    engine, view = await _owned_message(request)
    waiting = view.scheduled_at is not None and int(view.message_id) in engine.dispatcher.scheduled
    zone = engine.accounts.get(view.app_id).zone
    return page(request, "message.html", {"m": view, "cancellable": waiting, "when": clock_in(zone), "zone": str(zone)})


@routes.post("/records/{message_id}/cancel")
async def cancel_record(request: web.Request) -> web.Response:
    session = session_of(request)
    try:
        view = await call_off_message(request)
        session.flash("ok", f"message {view.message_id} cancelled: nothing was charged")
    except SmsError as exc:
        session.flash("error", f"{int(exc.code)}: {exc.message}")
    raise web.HTTPFound(f"{PREFIX}/records/{request.match_info['message_id']}")


# -- replies and the unsubscribe list ----------------------------------------------------------------
async def _replied_to(request: web.Request, app_id: str, replies: list[ReplyView]) -> list[dict | None]:
    """For each reply, the newest of the account's messages to its number sent before it came
    (what it answers, as far as anyone can tell: replies are attributed to the last sender of a
    number); one store query for the page."""
    store = state_of(request).engine.store
    found = await store.replied_messages(app_id, [(r.phone, r.received_at) for r in replies])
    return [{"message_id": f[0], "content": f[1]} if f else None for f in found]


def _lift_ref(request: web.Request, phone: str) -> str:
    """What a lift button posts instead of the number when numbers are masked: the number's
    HMAC under this session's secret (it names one number of the list, to this session only, and
    reveals no digits: the secret is never on a page, which carries Session.form_token instead;
    with the key in hand, four hidden digits are 10,000 guesses)."""
    return hmac.new(session_of(request).csrf.encode(), phone.encode(), hashlib.sha256).hexdigest()[:32]


UNSUBSCRIBED_PAGE = 100


@routes.get("/replies")
async def replies(request: web.Request) -> web.Response:
    engine = state_of(request).engine
    acting = acting_app(request, required=False)
    if not acting:
        require_admin(request)  # the operator's all-accounts view: the replies no account sent for
    since = _query_int(request, "since", 0)
    limit = max(1, min(200, _query_int(request, "limit", PAGE)))
    items = await engine.store.replies_since(acting, since, limit)
    answered = await _replied_to(request, acting, items) if acting else [None] * len(items)
    unsubscribed: list[tuple[str, str]] = []
    more_unsubscribed = ""
    skip = max(0, _query_int(request, "unsub_from", 0))
    total = 0
    if acting:
        everyone = engine.accounts.get(acting).unsubscribed
        total = len(everyone)
        # a page of the set in number order, by position: a link naming the last number shown
        # would put it whole in the page when numbers are masked. No sort of the whole list: the
        # first pages, the ones looked at, cost a heap of a page or two
        shown = heapq.nsmallest(min(skip, total) + UNSUBSCRIBED_PAGE + 1, everyone)[skip:]
        if len(shown) > UNSUBSCRIBED_PAGE:
            shown = shown[:UNSUBSCRIBED_PAGE]
            more_unsubscribed = _link(f"{PREFIX}/replies", since=since, unsub_from=skip + UNSUBSCRIBED_PAGE)
        unsubscribed = [(_masked(state_of(request).engine, p), _lift_ref(request, p)) for p in shown]
    return page(request, "replies.html", {
        "replies": list(zip(items, answered)), "since": since,
        "next_page": _link(f"{PREFIX}/replies", since=items[-1].cursor, limit=limit if limit != PAGE else 0)
        if len(items) == limit else "",
        "first_page": _link(f"{PREFIX}/replies") if since else "",
        "export": _link(f"{PREFIX}/replies.csv", since=since),
        "unsubscribed": unsubscribed, "unsubscribed_total": total, "unsub_from": skip,
        "more_unsubscribed": more_unsubscribed,
    })


@routes.get("/replies.csv")
async def replies_csv(request: web.Request) -> web.StreamResponse:
    engine = state_of(request).engine
    acting = acting_app(request, required=False)
    if not acting:
        require_admin(request)
    return await export_replies(request, engine, acting, _query_int(request, "since", 0))


def _change(app_id: str, phone: str) -> s.UnsubscribeChange:
    return form_struct({"app_id": app_id, "phone": phone}, s.UnsubscribeChange)


@routes.post("/unsubscribes")
async def add_unsubscribe(request: web.Request) -> web.Response:
    """A number typed in, on the acting account's list (the API's POST /v1/unsubscribes)."""
    session = session_of(request)
    form, _ = await form_of(request)
    try:
        phone = await add_unsubscription(request, _change(acting_app(request), str(form.get("phone", "")).strip()))
        session.flash("ok", f"{_masked(state_of(request).engine, phone)} is unsubscribed: nothing more is sent to it")
    except SmsError as exc:
        session.flash("error", f"{int(exc.code)}: {exc.message}")
    raise web.HTTPFound(f"{PREFIX}/replies")


@routes.post("/unsubscribes/lift")
async def lift_unsubscribe(request: web.Request) -> web.Response:
    """A number off the acting account's list (the API's DELETE /v1/unsubscribes). The button
    posts the number as shown and its reference (`_lift_ref`), never the whole number when
    numbers are masked: the number lifted is the one on the list that shows so and has that
    reference."""
    session = session_of(request)
    form, _ = await form_of(request)
    shown, ref = str(form.get("shown", "")), str(form.get("ref", ""))
    try:
        app_id = acting_app(request)
        matches = [p for p in state_of(request).engine.accounts.get(app_id).unsubscribed
                   if _masked(state_of(request).engine, p) == shown and hmac.compare_digest(_lift_ref(request, p), ref)]
        if not matches:
            raise SmsError(ErrorCode.NOT_FOUND, f"{shown} is not unsubscribed (reload the page)")
        phone = await lift_unsubscription(request, _change(app_id, matches[0]))
        session.flash("ok", f"{_masked(state_of(request).engine, phone)} may be sent to again")
    except SmsError as exc:
        session.flash("error", f"{int(exc.code)}: {exc.message}")
    raise web.HTTPFound(f"{PREFIX}/replies")
