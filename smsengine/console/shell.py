"""What every console page shares: its state, sessions and CSRF, sign-in and out, rendering."""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from email import policy as email_policy
from email.parser import BytesParser
from urllib.parse import quote, urlsplit

import aiohttp_jinja2
import structlog
from aiohttp import web
from multidict import MultiDict

from smsengine.api.app import _HTTP_STATUS, CALLER, Caller
from smsengine.console.sessions import Session, Sessions
from smsengine.console.throughput import RecentFinals
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.limits import SourceRateLimit
from smsengine.domain.numbers import mask_number
from smsengine.engine.lifecycle import cancel_tasks

if TYPE_CHECKING:
    from smsengine.engine.services import Engine

log = structlog.get_logger("smsengine.console")

COOKIE = "smsengine_console"
PREFIX = "/console"
STATIC = Path(__file__).parent / "static"
SESSION = web.RequestKey("console_session", Session)


class ConsoleState:
    """What the console's handlers share: the engine, the sessions, sign-in throttling, the
    throughput sampler and where the simulators' counters and the experiment reports are."""

    def __init__(self, engine: Engine, *, simulators: dict[str, str], experiments: Path,
                 clock: Callable[[], float] = time.time) -> None:
        cfg = engine.config.console
        self.engine = engine
        self.clock = clock
        self.sessions = Sessions(cfg.session_idle_s, cfg.max_sessions)
        self.signins = SourceRateLimit(rate=cfg.signin_burst / 60.0, burst=float(cfg.signin_burst))
        self.finals = RecentFinals(lambda: engine.dispatcher.stats.finals_by_app)
        self.simulators = simulators  # carrier name → its simulator's admin base URL
        self.experiments = experiments
        self._sampler: asyncio.Task | None = None

    async def start(self, app: web.Application) -> None:
        self._sampler = asyncio.get_running_loop().create_task(self._sample(), name="console-throughput")

    async def stop(self, app: web.Application) -> None:
        await cancel_tasks(self._sampler)

    async def _sample(self) -> None:
        while True:
            self.finals.sample(self.clock())
            await asyncio.sleep(5.0)


STATE = web.AppKey("console_state", ConsoleState)


def state_of(request: web.Request) -> ConsoleState:
    return request.app[STATE]


def session_of(request: web.Request) -> Session:
    return request[SESSION]


def page(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    """A page of the console, with what every page shows (who is signed in, the CSRF token, the
    messages left by the last action)."""
    session = request.get(SESSION)
    engine = state_of(request).engine
    zone = zone_of(request)
    base = {
        "session": session,
        "operator": bool(session and session.operator),
        "acting": session.app_id if session else "",
        "accounts": sorted(engine.accounts.accounts) if session and session.operator else [],
        "csrf": session.form_token() if session else "",
        "flashes": session.take_flashes() if session else [],
        "path": request.path,
        # times in the account's zone (context given by the page, e.g. one message's, wins)
        "when": clock_in(zone), "zone": str(zone),
        "mask": (lambda phone: mask_number(phone)) if engine.config.records.mask_numbers else (lambda phone: phone),
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **context}, status=status)


def back_to(request: web.Request, default: str) -> web.HTTPFound:
    """After a form: back to the page it came from (only ever a console path of this site)."""
    referer = urlsplit(request.headers.get("Referer", ""))
    target = referer.path + (f"?{referer.query}" if referer.query else "")
    if not referer.path.startswith(PREFIX + "/") or referer.netloc != request.host:
        target = default
    return web.HTTPFound(target)


def error_page(request: web.Request, exc: SmsError) -> web.Response:
    return page(request, "error.html", {"code": int(exc.code), "message": exc.message},
                status=_HTTP_STATUS.get(exc.code, 400))


def acting_app(request: web.Request, required: bool = True) -> str:
    """The account a page is about: the signed-in account's own, or the one the operator picked."""
    session = session_of(request)
    if not session.app_id and required:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, "pick an account first (the selector at the top)")
    return session.app_id


FORM = web.RequestKey("console_form", tuple)


async def form_of(request: web.Request) -> tuple[MultiDict[str], bytes]:
    """A posted form's text fields and its uploaded `file` (b"" when none), read once per request.
    A multipart body is parsed from its bytes, never aiohttp's stream: the listener may have read
    the body already (its time bound, api/listener.py), and the stream is then spent (the API's
    own upload does the same)."""
    cached = request.get(FORM)
    if cached is not None:
        return cached
    if request.content_type == "multipart/form-data":
        head = f"Content-Type: {request.headers.get('Content-Type', '')}\r\n\r\n".encode()
        message = BytesParser(policy=email_policy.HTTP).parsebytes(head + await request.read())
        fields: MultiDict[str] = MultiDict()
        data = b""
        for part in message.iter_parts() if message.is_multipart() else ():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if name == "file":
                data = payload
            elif isinstance(name, str):
                fields.add(name, payload.decode("utf-8", "replace"))
        form = (fields, data)
    elif request.content_type == "application/x-www-form-urlencoded":
        form = (MultiDict((k, v) for k, v in (await request.post()).items() if isinstance(v, str)), b"")
    else:
        form = (MultiDict(), b"")
    request[FORM] = form
    return form


_OPEN = {f"{PREFIX}/login", f"{PREFIX}/logout"}
_STALE_FORM = SmsError(ErrorCode.NO_PERMISSION, "the form's security token is missing or stale: reload the page")


@web.middleware
async def signed_in(request: web.Request, handler):
    """Every console page needs a session; every change also needs the session's CSRF token for
    the account it acts for (a form's `csrf` field or an X-CSRF-Token header; Session.form_token).
    The operator picks the account pages are about with ?app_id= on any page."""
    if request.path in _OPEN or request.path.startswith(f"{PREFIX}/static/"):
        return await handler(request)
    state = state_of(request)
    session = state.sessions.get(request.cookies.get(COOKIE), state.clock())
    if session is None:
        if request.method == "GET":
            raise web.HTTPFound(f"{PREFIX}/login?next={quote(request.path_qs, safe='')}")
        return web.json_response({"code": int(ErrorCode.NO_PERMISSION), "message": "signed out: sign in again"},
                                 status=401)
    request[SESSION] = session
    if request.method not in ("GET", "HEAD") and not await _carries_token(request, session):
        return error_page(request, _STALE_FORM)
    if session.operator and "app_id" in request.query and request.method == "GET":
        chosen = request.query["app_id"]
        if chosen and chosen not in state.engine.accounts.accounts:
            return error_page(request, SmsError(ErrorCode.APP_NOT_FOUND, f"no account {chosen!r}"))
        session.app_id = chosen
    request[CALLER] = Caller(session.app_id, session.operator)
    try:
        return await handler(request)
    except SmsError as exc:
        return error_page(request, exc)


async def _carries_token(request: web.Request, session: Session) -> bool:
    """The request carries the session's CSRF token for the account it acts for (an X-CSRF-Token
    header, else the form's `csrf` field), compared in constant time."""
    given = request.headers.get("X-CSRF-Token")
    if given is None:
        given = (await form_of(request))[0].get("csrf")
    if given and hmac.compare_digest(given.encode(errors="surrogateescape"), session.form_token().encode()):
        return True
    log.warning("console.csrf_refused", path=request.path)
    return False


# -- sign in and out ---------------------------------------------------------------------------------
def _next_page(value: str) -> str:
    """Only a console path of this site: a sign-in link must not send anyone elsewhere."""
    return value if value.startswith(PREFIX + "/") and not value.startswith("//") else f"{PREFIX}/"


def _from_elsewhere(request: web.Request) -> bool:
    """A sign-in posted by another site (login CSRF: there is no session, so no CSRF token, yet)
    would sign this browser in as whoever that site chose — the attacker's own account, which then
    receives what the victim types. Browsers say where a request comes from: Sec-Fetch-Site (which
    a proxy rewriting Host does not upset), else the Origin of the posting page; a client sending
    neither is no browser on somebody's page."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc != request.host


async def login_form(request: web.Request) -> web.Response:
    return page(request, "login.html", {"next": _next_page(request.query.get("next", "")), "error": ""})


async def login(request: web.Request) -> web.Response:
    state = state_of(request)
    form, _ = await form_of(request)
    app_id, key, token = (str(form.get(name, "")) for name in ("app_id", "key", "operator_token"))
    next_page = _next_page(str(form.get("next", "")))
    now = state.clock()
    engine = state.engine
    operator = False
    try:
        if _from_elsewhere(request):
            raise SmsError(ErrorCode.NO_PERMISSION, "a sign-in posted by another site")
        # every attempt counts (a guess must not learn whether it was right once throttled)
        if state.signins.admit(request.remote or "", now):
            raise SmsError(ErrorCode.SOURCE_RATE_LIMITED, "too many sign-ins from this address: wait a minute")
        if token:
            expected = engine.config.http.admin_token
            if not expected or not hmac.compare_digest(expected.encode(), token.encode(errors="surrogateescape")):
                raise SmsError(ErrorCode.SIG_INVALID, "operator token")
            operator = True
        else:
            engine.auth.key_holder(app_id, key)
    except SmsError as exc:
        log.warning("console.signin_refused", source=request.remote, app_id=app_id[:64])
        return page(request, "login.html", {"next": next_page, "error": f"{int(exc.code)}: {exc.message}",
                                            "app_id": app_id}, status=_HTTP_STATUS.get(exc.code, 401))
    session = state.sessions.open("" if operator else app_id, operator, now)
    log.info("console.signed_in", app_id=session.app_id, operator=operator)
    response = web.HTTPFound(next_page)
    response.set_cookie(COOKIE, session.token, path=PREFIX, httponly=True, samesite="Strict")
    raise response


async def logout(request: web.Request) -> web.Response:
    """A POST with the session's CSRF token (else any page elsewhere could sign anyone out)."""
    state = state_of(request)
    token = request.cookies.get(COOKIE)
    session = state.sessions.get(token, state.clock())
    if session is not None:
        if not await _carries_token(request, session):
            request[SESSION] = session
            return error_page(request, _STALE_FORM)
        state.sessions.close(token)
        log.info("console.signed_out", app_id=session.app_id, operator=session.operator)
    response = web.HTTPFound(f"{PREFIX}/login")
    response.del_cookie(COOKIE, path=PREFIX)
    raise response


def zone_of(request: web.Request) -> timezone:
    """The timezone of the account a page is about (UTC for the operator's all-accounts view):
    times are shown, and typed, in it."""
    app_id = request[SESSION].app_id if SESSION in request else ""
    accounts = state_of(request).engine.accounts.accounts
    return accounts[app_id].zone if app_id in accounts else timezone.utc


def clock_in(zone: timezone):
    """A stored time for people, in `zone`, to the second ("" when there is none)."""
    def when(seconds: float | None) -> str:
        if not seconds:
            return ""
        return datetime.fromtimestamp(seconds, zone).strftime("%Y-%m-%d %H:%M:%S")
    return when


def wall_clock(text: str, zone: timezone, name: str = "time") -> float | None:
    """A datetime-local value (a wall clock, no offset: "2026-12-01T09:30") read in `zone`; one
    with an offset is taken as it says; "" is None."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, f"{name}: a date and time (YYYY-MM-DDTHH:MM), got {text[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()
