"""The carriers page (operator only): every bind's state, window, queue and counters, the
submit_sm_resp error codes, and the simulators' own counters when they are embedded — refreshed
live from /console/carriers.json."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from aiohttp import web

from smsengine.api.app import require_admin
from smsengine.console.dashboard import carrier_states
from smsengine.console.shell import page, state_of
from smsengine.smpp.constants import CommandStatus

routes = web.RouteTableDef()

# a simulator's admin HTTP is asked for its counters at most this long (an unreachable one must
# not hold the page), and at most this much of its answer is read
SIMULATOR_TIMEOUT_S = 1.0
SIMULATOR_MAX_BYTES = 64 * 1024
UNREACHABLE = "unreachable"


def status_label(status: int) -> dict[str, Any]:
    """A submit_sm_resp command_status as the page shows it: hex, and its SMPP name when it has one."""
    try:
        name = CommandStatus(status).name
    except ValueError:
        name = ""
    return {"status": status, "hex": f"0x{status:08X}", "name": name}


def bind_states(pool: Any, now: float) -> list[dict[str, Any]]:
    """Each bind of a pool: up or not, mode, window in use, paused by throttling, keepalive, idle."""
    window = pool.config.window
    return [{
        "index": b.index, "mode": b.mode, "bound": b.bound, "window_used": b.window_used, "window": window,
        "paused_s": b.paused_s, "enquire_pending": b.enquire_pending, "idle_s": b.idle_s,
    } for b in pool.state(now).binds]


def carriers_view(request: web.Request) -> dict[str, Any]:
    """What the page and its JSON show of the engine's side (the simulators are fetched apart)."""
    engine = state_of(request).engine
    now = time.monotonic()
    carriers = carrier_states(request)
    for carrier in carriers:
        pool = engine.pools[carrier["name"]]
        carrier["bind_list"] = bind_states(pool, now)
        carrier["replies"] = pool.stats.replies
        carrier["handler_errors"] = pool.stats.handler_errors
    errors = engine.dispatcher.stats.submit_errors
    return {"carriers": carriers,
            "submit_errors": [{**status_label(s), "count": n} for s, n in sorted(errors.items())]}


async def _counters_of(http: aiohttp.ClientSession, url: str) -> dict[str, Any] | str:
    try:
        async with http.get(f"{url.rstrip('/')}/counters") as resp:
            if resp.status != 200:
                return UNREACHABLE
            body = json.loads(await resp.content.read(SIMULATOR_MAX_BYTES))
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return UNREACHABLE
    return body if isinstance(body, dict) else UNREACHABLE


def flat_counters(counters: dict[str, Any]) -> list[tuple[str, str]]:
    """A simulator's counters as (name, value) rows: a breakdown (by status, by stat) on one line."""
    rows = []
    for key, value in counters.items():
        if key == "carrier":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items()) or "–"
        rows.append((str(key), str(value)))
    return rows


async def simulator_counters(request: web.Request) -> list[dict[str, Any]]:
    """Every known simulator's counters, asked concurrently; one not answering is `unreachable`."""
    simulators = state_of(request).simulators
    if not simulators:
        return []
    timeout = aiohttp.ClientTimeout(total=SIMULATOR_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        names = sorted(simulators)
        answers = await asyncio.gather(*(_counters_of(http, simulators[n]) for n in names))
    return [{"name": name, "url": simulators[name], "reachable": isinstance(answer, dict),
             "counters": flat_counters(answer) if isinstance(answer, dict) else []}
            for name, answer in zip(names, answers)]


@routes.get("/carriers")
async def carriers_page(request: web.Request) -> web.Response:
    require_admin(request)
    view = carriers_view(request)
    return page(request, "carriers.html", {**view, "simulators": await simulator_counters(request)})


@routes.get("/carriers.json")
async def carriers_json(request: web.Request) -> web.Response:
    require_admin(request)
    return web.json_response({**carriers_view(request), "simulators": await simulator_counters(request)})
