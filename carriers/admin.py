"""A simulated carrier's admin HTTP: number-status lookup, counters, Prometheus metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from carriers.counters import registry_for

if TYPE_CHECKING:
    from carriers.server import CarrierServer


def admin_app(server: CarrierServer) -> web.Application:
    registry = registry_for(server.name, server.counters)

    async def number_status(request: web.Request) -> web.Response:
        status = server.behaviour.number_status(request.match_info["number"])
        return web.json_response({"number": status.number, "status": status.status, "fate": status.fate})

    async def counters(request: web.Request) -> web.Response:
        return web.json_response({"carrier": server.name, **server.counters.snapshot()})

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/status/{number}", number_status)
    app.router.add_get("/counters", counters)
    app.router.add_get("/metrics", metrics)
    return app


async def start_admin(server: CarrierServer, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve the admin app; returns the runner (cleanup() stops it) and the bound port."""
    runner = web.AppRunner(admin_app(server), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound
