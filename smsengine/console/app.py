"""The web console at /console: server-rendered pages (Jinja2) over the API's own service
functions (no second set of rules); README "Console"."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp_jinja2
import jinja2
from aiohttp import web

from smsengine.api.app import ENGINE
from smsengine.console import carriers, catalogue, dashboard, experiments, records, sending, tasks
from smsengine.console.shell import STATE, STATIC, ConsoleState, login, login_form, logout, signed_in
from smsengine.domain.errors import MESSAGES, ErrorCode

if TYPE_CHECKING:
    from smsengine.engine.services import Engine


def console_app(engine: Engine, *, simulators: dict[str, str] | None = None, base_dir: Path | None = None,
                clock: Callable[[], float] = time.time) -> web.Application:
    """The console as an aiohttp sub-application, to be mounted at /console."""
    experiments_dir = Path(engine.config.console.experiments_dir)
    if not experiments_dir.is_absolute():
        experiments_dir = (base_dir or engine.base_dir) / experiments_dir
    state = ConsoleState(engine, simulators=simulators or {}, experiments=experiments_dir, clock=clock)
    app = web.Application(middlewares=[signed_in])
    app[ENGINE] = engine  # the API's functions find the engine on the application they run in
    app[STATE] = state
    env = aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("smsengine.console", "templates"),
                               autoescape=True, undefined=jinja2.StrictUndefined)
    env.globals.update(error_text=lambda code: MESSAGES.get(ErrorCode(code), "") if code in ErrorCode._value2member_map_ else "")
    app.router.add_static("/static", STATIC)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    for module in (dashboard, sending, tasks, records, catalogue, carriers, experiments):
        app.add_routes(module.routes)
    app.on_startup.append(state.start)
    app.on_cleanup.append(state.stop)
    return app


