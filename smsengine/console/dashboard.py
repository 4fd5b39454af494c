"""The dashboard: today's messages by state, delivery rate, segments charged and balance (the
account's day, as GET /v1/stats gives it); finals per minute over the last hour; carrier binds —
the live parts refreshed from /console/live.json."""

from __future__ import annotations

import time

from aiohttp import web

from smsengine.api.app import day_view
from smsengine.console.shell import page, session_of, state_of

routes = web.RouteTableDef()


def carrier_states(request: web.Request) -> list[dict]:
    """Each carrier's binds as the dashboard and the carriers page show them."""
    engine = state_of(request).engine
    now = time.monotonic()
    out = []
    for name, pool in engine.pools.items():
        state = pool.state(now)
        binds = state.binds
        out.append({
            "name": name, "up": state.up, "binds_up": state.binds_up, "binds": len(binds),
            "window_used": state.window_used, "window": pool.config.window * len(binds),
            "throttled_now": any(b.paused_s > 0 for b in binds), "throttled": pool.stats.throttled,
            "queue": state.queued, "reconnects": pool.stats.reconnects, "receipts": pool.stats.receipts,
            "bind_failures": pool.stats.bind_failures,
        })
    return out


async def _today(request: web.Request) -> dict | None:
    session = session_of(request)
    if not session.app_id:
        return None
    engine = state_of(request).engine
    view = await day_view(engine, session.app_id, None)
    done = view.delivered + view.failed + view.expired
    return {"view": view, "rate": (100.0 * view.delivered / done) if done else None,
            "balance": await engine.store.balance_of(session.app_id) or 0}


def _live(request: web.Request) -> dict:
    state = state_of(request)
    session = session_of(request)
    stats = state.engine.dispatcher.stats
    return {"carriers": carrier_states(request), "open": stats.open,
            "minutes": state.finals.series(session.app_id or None, state.clock())}


@routes.get("/")
async def dashboard(request: web.Request) -> web.Response:
    state_of(request).finals.sample(state_of(request).clock())
    return page(request, "dashboard.html", {"today": await _today(request), "live": _live(request)})


@routes.get("/live.json")
async def live(request: web.Request) -> web.Response:
    state_of(request).finals.sample(state_of(request).clock())
    return web.json_response(_live(request))
