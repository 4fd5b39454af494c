"""Console pages: signatures and templates — create, edit while pending or rejected, and the
operator's review (approve, or reject with a reason), through the API's own functions."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from smsengine.api import schemas as s
from smsengine.api.app import (
    change_signature,
    change_template,
    decide_signature,
    decide_template,
    make_signature,
    make_template,
    path_id,
)
from smsengine.console.shell import PREFIX, acting_app, form_of, page, session_of, state_of
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.review import ReviewStatus

routes = web.RouteTableDef()

HOME = f"{PREFIX}/catalogue"


def form_struct(fields: dict[str, Any], cls: type) -> Any:
    """A form's fields as the API's request body `cls`, checked by the same bounds."""
    try:
        return msgspec.convert(fields, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, str(exc)) from None


async def _form(request: web.Request, *names: str) -> dict[str, str]:
    form, _ = await form_of(request)
    return {name: str(form[name]) for name in names if name in form}


@routes.get("/catalogue")
async def catalogue(request: web.Request) -> web.Response:
    """The acting account's signatures and templates; for the operator with no account picked,
    every account's items waiting for review."""
    engine = state_of(request).engine
    acting = acting_app(request, required=False)
    if acting:
        account = engine.accounts.get(acting)
        signatures = sorted(account.signatures.values(), key=lambda x: x.id)
        templates = sorted(account.templates.values(), key=lambda x: x.id)
    else:
        accounts = engine.accounts.accounts.values()
        signatures = sorted((x for a in accounts for x in a.signatures.values() if x.status is ReviewStatus.PENDING),
                            key=lambda x: x.id)
        templates = sorted((x for a in accounts for x in a.templates.values() if x.status is ReviewStatus.PENDING),
                           key=lambda x: x.id)
    return page(request, "catalogue.html", {"signatures": signatures, "templates": templates,
                                            "editable": (ReviewStatus.PENDING, ReviewStatus.REJECTED),
                                            "pending": ReviewStatus.PENDING})


async def _done(request: web.Request, action) -> web.Response:
    """Run a form's change; its outcome as a flash, then back to the page."""
    session = session_of(request)
    try:
        session.flash("ok", await action())
    except SmsError as exc:
        session.flash("error", f"{int(exc.code)}: {exc.message}")
    raise web.HTTPFound(HOME)


@routes.post("/catalogue/signatures")
async def create_signature(request: web.Request) -> web.Response:
    async def create() -> str:
        fields = await _form(request, "name")
        sig = await make_signature(request, form_struct({**fields, "app_id": acting_app(request)}, s.SignatureCreate))
        return f"signature {sig.id} 【{sig.name}】 submitted for review"
    return await _done(request, create)


@routes.post("/catalogue/templates")
async def create_template(request: web.Request) -> web.Response:
    async def create() -> str:
        fields = await _form(request, "text", "type", "region", "name", "note")
        tpl = await make_template(request, form_struct({**fields, "app_id": acting_app(request)}, s.TemplateCreate))
        return f"template {tpl.id} submitted for review"
    return await _done(request, create)


@routes.post("/catalogue/signatures/{id}/edit")
async def edit_signature(request: web.Request) -> web.Response:
    async def edit() -> str:
        sig = await change_signature(request, path_id(request, "id"),
                                     form_struct(await _form(request, "name"), s.SignatureEdit))
        return f"signature {sig.id} renamed 【{sig.name}】, under review again"
    return await _done(request, edit)


@routes.post("/catalogue/templates/{id}/edit")
async def edit_template(request: web.Request) -> web.Response:
    async def edit() -> str:
        tpl = await change_template(request, path_id(request, "id"),
                                    form_struct(await _form(request, "text", "name", "note"), s.TemplateEdit))
        return f"template {tpl.id} changed, under review again"
    return await _done(request, edit)


@routes.post("/catalogue/{kind:signatures|templates}/{id}/{decision:approve|reject}")
async def review(request: web.Request) -> web.Response:
    """The operator's decision; a rejection needs its reason (the applicant sees it as the remark)."""
    async def decide() -> str:
        approve = request.match_info["decision"] == "approve"
        decision = form_struct(await _form(request, "remark"), s.ReviewDecision)
        if not approve and not decision.remark.strip():
            raise SmsError(ErrorCode.REQUEST_MALFORMED, "a rejection needs its reason")
        item_id = path_id(request, "id")
        if request.match_info["kind"] == "signatures":
            sig = await decide_signature(request, item_id, approve, decision.remark.strip())
            return f"signature {sig.id} 【{sig.name}】 {sig.status}"
        tpl = await decide_template(request, item_id, approve, decision.remark.strip())
        return f"template {tpl.id} {tpl.status}"
    return await _done(request, decide)
