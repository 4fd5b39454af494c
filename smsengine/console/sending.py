"""Console pages: the send form (one text to typed numbers, or a CSV file made a task), its live
preview computed by the engine's own text rules, and the per-number results."""

from __future__ import annotations

import re
from datetime import timezone
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from aiohttp import web

from smsengine.api.app import _HTTP_STATUS, _schedule_time, decode_body, new_task, task_fields
from smsengine.console.shell import acting_app, form_of, page, session_of, state_of, wall_clock
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.numbers import Region, dedupe, region_of
from smsengine.domain.review import ReviewStatus
from smsengine.domain.text import CAPACITY, Encoding
from smsengine.engine.intake import MAX_NUMBERS
from smsengine.engine.records import MessageFilter
from smsengine.engine.requests import Content, Name, Param, SendRequest

if TYPE_CHECKING:
    from smsengine.engine.accounts import Account
    from smsengine.engine.services import Engine

routes = web.RouteTableDef()

# typed numbers: one a line, or separated by commas or semicolons (ASCII or full-width); the text
# is bounded well above what 200 numbers take, so a paste of a whole file is refused, not parsed
_SEPARATORS = re.compile(r"[\r\n,;，；]+")
MAX_NUMBERS_TEXT = 64 * 1024
_FORM_FIELDS = ("sign", "template_id", "type", "content", "numbers", "name", "schedule_local", "schedule_at")
_ENCODING_NAME = {Encoding.GSM7: "GSM-7", Encoding.UCS2: "UCS-2"}
_UNIT_NAME = {Encoding.GSM7: "septets", Encoding.UCS2: "UTF-16 units"}
_REGION_LABEL = {Region.MAINLAND: "Domestic (+86)", Region.INTERNATIONAL: "International"}


def typed_numbers(text: str) -> list[str]:
    return [n.strip() for n in _SEPARATORS.split(text) if n.strip()]


def _approved(account: Account) -> tuple[list, list]:
    signatures = sorted((s for s in account.signatures.values() if s.status is ReviewStatus.APPROVED),
                        key=lambda s: s.name)
    templates = sorted((t for t in account.templates.values() if t.status is ReviewStatus.APPROVED),
                       key=lambda t: t.id)
    return signatures, templates


def offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def schedule_of(values: dict[str, str], zone: timezone) -> float | None:
    """The form's schedule: ISO 8601 with an offset or unix seconds (the API's rules), or a
    datetime-local wall clock read in the account's own UTC offset."""
    if values.get("schedule_at"):
        return _schedule_time(values["schedule_at"])
    return wall_clock(values.get("schedule_local", ""), zone, "schedule")


# -- the preview ---------------------------------------------------------------------------------------
class PreviewRequest(msgspec.Struct, forbid_unknown_fields=True):
    """What the form holds while it is typed: the preview's JSON body."""

    template_id: int | None = None
    params: Annotated[list[Param], msgspec.Meta(max_length=64)] = []
    sign: Name = ""
    type: Literal["regular", "marketing", ""] = ""
    content: Content | None = None
    numbers: Annotated[str, msgspec.Meta(max_length=MAX_NUMBERS_TEXT)] = ""


def _text_for(engine: Engine, account: Account, req: SendRequest, region: Region) -> dict:
    """What the engine would send to a number of `region`, through intake's rules in intake's
    order (template use and parameters, signature, sensitive words, length): the exact text
    with its figures, or the code the send would be refused with (and the text, where one exists)."""
    view: dict = {"region": str(region), "label": _REGION_LABEL[region], "text": "", "code": 0, "message": ""}
    try:
        view["text"], _ = engine.intake.compose_text(req, account, region)
        seg = engine.intake.check_text(view["text"], region)
    except SmsError as exc:
        view.update(code=int(exc.code), message=f"{int(exc.code)}: {exc.message}")
        return view
    single, per_part = CAPACITY[seg.encoding]
    units = len(seg.payload) // (2 if seg.encoding is Encoding.UCS2 else 1)
    view.update(encoding=_ENCODING_NAME[seg.encoding], capacity=f"{single} / {per_part}", chars=seg.chars,
                segments=seg.segments, units=units, unit_name=_UNIT_NAME[seg.encoding], figures=seg.figures,
                parts=list(seg.parts))
    return view


def _numbers_view(engine: Engine, text: str) -> dict:
    """The typed numbers as intake will read them: valid, invalid, repeated, their regions."""
    given = typed_numbers(text)
    recipients = dedupe(given, engine.config.default_region)
    regions = sorted({str(region_of(n)) for n in recipients.numbers})
    problems = []
    if len(given) > MAX_NUMBERS:
        problems.append(f"{int(ErrorCode.TOO_MANY_NUMBERS)}: {len(given)} numbers, at most {MAX_NUMBERS} "
                        "(upload a CSV file for more)")
    if len(regions) > 1:
        problems.append(f"{int(ErrorCode.MIXED_REGIONS)}: domestic and international numbers in one send")
    return {"given": len(given), "valid": len(recipients.numbers), "invalid": recipients.invalid[:20],
            "invalid_count": len(recipients.invalid), "duplicates": len(recipients.duplicates),
            "regions": regions, "problems": problems}


def preview_of(engine: Engine, account: Account, body: PreviewRequest) -> dict:
    template = account.templates.get(body.template_id) if body.template_id is not None else None
    kind = body.type or (str(template.type) if template is not None else "regular")
    req = SendRequest(phone_numbers=[], app_id=account.app_id, type=kind, template_id=body.template_id,
                      params=list(body.params), content=None if body.template_id is not None else body.content,
                      sign=body.sign or None)
    rows = [_text_for(engine, account, req, region) for region in (Region.MAINLAND, Region.INTERNATIONAL)]
    for row in rows:  # a template is for one region's numbers: the other row is shown aside
        row["applies"] = template is None or str(template.region) == row["region"]
    return {"rows": rows,
            "numbers": _numbers_view(engine, body.numbers), "type": kind}


@routes.post("/send/preview")
async def preview(request: web.Request) -> web.Response:
    engine = state_of(request).engine
    try:
        account = engine.accounts.get(acting_app(request))
        body = await decode_body(request, PreviewRequest)
    except SmsError as exc:  # the page's script shows it where the preview would be
        return web.json_response({"code": int(exc.code), "message": f"{int(exc.code)}: {exc.message}"},
                                 status=_HTTP_STATUS.get(exc.code, 400))
    return web.json_response(preview_of(engine, account, body))


# -- the form and the send ---------------------------------------------------------------------------
def _form_context(engine: Engine, account: Account | None, values: dict[str, str], error: str = "") -> dict:
    if account is None:
        return {"account": None, "values": values, "error": error}
    signatures, templates = _approved(account)
    choices = [{"id": t.id, "name": t.name, "text": t.text, "type": str(t.type), "region": str(t.region),
                "params": t.compiled.param_count} for t in templates]
    return {"account": account, "signatures": signatures, "templates": choices, "values": values,
            "params": values.get("params") or [], "error": error, "max_numbers": MAX_NUMBERS,
            "offset": offset_text(account.utc_offset_minutes), "raw": account.raw_content,
            "max_numbers_text": MAX_NUMBERS_TEXT}


@routes.get("/send")
async def send_form(request: web.Request) -> web.Response:
    engine = state_of(request).engine
    app_id = acting_app(request, required=False)
    account = engine.accounts.get(app_id) if app_id else None
    values = {name: request.query.get(name, "") for name in _FORM_FIELDS}
    return page(request, "send.html", _form_context(engine, account, values))


def _send_request(values: dict[str, str], params: list[str], account: Account) -> SendRequest:
    template_id = int(values["template_id"]) if values["template_id"].isdigit() else None
    template = account.templates.get(template_id) if template_id is not None else None
    fields = {
        "phone_numbers": typed_numbers(values["numbers"]), "app_id": account.app_id,
        "type": values["type"] or (str(template.type) if template is not None else "regular"),
        "template_id": template_id, "params": params if template_id is not None else [],
        "content": values["content"] if template_id is None else None, "sign": values["sign"] or None,
        "schedule_at": schedule_of(values, account.zone),
    }
    try:  # the API's bounds on every field, as its decoder applies them
        return msgspec.convert(fields, SendRequest)
    except msgspec.ValidationError as exc:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, str(exc)) from None


@routes.post("/send")
async def send(request: web.Request) -> web.Response:
    """Typed numbers: one send through intake (every rule as for the API), answered with the
    per-number results; a CSV file: a task, answered with its page."""
    engine = state_of(request).engine
    account = engine.accounts.get(acting_app(request))
    form, data = await form_of(request)
    values = {name: str(form.get(name, "")) for name in _FORM_FIELDS}
    if len(values["numbers"]) > MAX_NUMBERS_TEXT:
        values["numbers"] = values["numbers"][:MAX_NUMBERS_TEXT]
        error = SmsError(ErrorCode.TOO_MANY_NUMBERS, "the numbers typed are too long: upload a CSV file")
        return page(request, "send.html", _form_context(engine, account, values, f"{int(error.code)}: {error.message}"),
                    status=400)
    params = [str(p) for p in form.getall("param", [])]
    try:
        if data:
            return await _task_or_back(request, account, values, data)
        req = _send_request(values, params, account)
        if engine.draining:
            raise SmsError(ErrorCode.INTERNAL, "shutting down, not accepting")
        response = await engine.intake.send(req, request.remote or "", caller=account)
    except SmsError as exc:
        context = _form_context(engine, account, {**values, "params": params}, f"{int(exc.code)}: {exc.message}")
        return page(request, "send.html", context, status=_HTTP_STATUS.get(exc.code, 400))
    accepted = [r for r in response.results if r.code == 0]
    return page(request, "send_results.html", {
        "response": response, "accepted": len(accepted), "refused": len(response.results) - len(accepted),
        "fee": sum(r.fee for r in accepted), "scheduled": req.schedule_at,
        "ids": ",".join(r.message_id for r in accepted),
    })


async def _task_or_back(request: web.Request, account: Account, values: dict[str, str], data: bytes) -> web.Response:
    """A CSV file made a task: its page; or, refused, the send page again with the reason (either
    way a redirect, which the page's script follows after posting the file)."""
    session = session_of(request)
    try:
        if not values["template_id"].isdigit():
            raise SmsError(ErrorCode.REQUEST_MALFORMED, "a CSV file is sent with a template: pick one")
        schedule = schedule_of(values, account.zone)
        fields = {"app_id": account.app_id, "name": values["name"], "type": values["type"], "sign": values["sign"],
                  "template_id": values["template_id"], "schedule_at": "" if schedule is None else repr(schedule)}
        task = await new_task(request, task_fields({k: v for k, v in fields.items() if v}), data)
    except SmsError as exc:
        session.flash("error", f"{int(exc.code)}: {exc.message}")
        return _go(request, "/console/send")
    session.flash("ok", f"task {task.id} created: {task.recipients} recipients")
    return _go(request, f"/console/tasks/{task.id}")


def _go(request: web.Request, target: str) -> web.Response:
    """A redirect; to the page's script (it posts a file with the X-CSRF-Token header), where to
    go, so the page it loads is the one that shows the flash."""
    if "X-CSRF-Token" in request.headers:
        return web.json_response({"location": target})
    raise web.HTTPFound(target)


@routes.get("/send/status.json")
async def statuses(request: web.Request) -> web.Response:
    """Where the messages of a send stand now (the results page polls it until all are final):
    ?ids=1,2,… at most 200, the caller's own only. One query over the ids' span: a send's ids are
    consecutive (a span wider than 1,000 is cut there)."""
    engine = state_of(request).engine
    session = session_of(request)
    ids = {int(x) for x in request.query.get("ids", "").split(",")[:MAX_NUMBERS] if x.isascii() and x.isdigit() and len(x) < 19}
    out = {}
    if ids:
        low, high = min(ids), max(ids)
        where = MessageFilter(app_id=None if session.operator else session.app_id, first_id=low, last_id=high)
        for row in await engine.store.message_rows(where, after=low - 1, limit=min(high - low + 1, 1000)):
            if int(row.message_id) in ids:
                out[row.message_id] = {"status": row.status, "code": row.code, "remark": row.remark}
    return web.json_response({"messages": out})
