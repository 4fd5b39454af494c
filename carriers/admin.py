"""A simulated carrier's admin HTTP: number-status lookup, counters, Prometheus metrics."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from carriers.behaviour import Behaviour
from carriers.counters import CarrierCounters, registry_for


class AdminView(Protocol):
    """What the admin app reads from a running carrier (a `CarrierServer`, wired by `carriers.group`)."""

    @property
    def name(self) -> str: ...

    @property
    def counters(self) -> CarrierCounters: ...

    @property
    def behaviour(self) -> Behaviour: ...


def admin_app(carrier: AdminView) -> web.Application:
    registry = registry_for(carrier.name, carrier.counters)

    async def number_status(request: web.Request) -> web.Response:
        status = carrier.behaviour.number_status(request.match_info["number"])
        return web.json_response({"number": status.number, "status": status.status, "fate": status.fate})

    async def counters(request: web.Request) -> web.Response:
        return web.json_response({"carrier": carrier.name, **carrier.counters.snapshot()})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/status/{number}", number_status)
    app.router.add_get("/counters", counters)
    app.router.add_get("/metrics", metrics)
    return app


async def start_admin(carrier: AdminView, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the admin app; returns the runner (cleanup() stops it) and the bound port."""
    runner = web.AppRunner(admin_app(carrier), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound
