"""A customer's HTTP endpoint on an ephemeral loopback port: collects the JSON POSTed to it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


class Sink:
    def __init__(self, url: str) -> None:
        self.url = url
        self.bodies: list = []  # each POST's JSON, in arrival order

    @property
    def items(self) -> list:
        """The bodies' items, for endpoints that receive JSON arrays (receipts, replies)."""
        return [item for body in self.bodies for item in body]


@contextlib.asynccontextmanager
async def json_sink(path: str = "/hook") -> AsyncIterator[Sink]:
    sink: Sink

    async def take(request: web.Request) -> web.Response:
        sink.bodies.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post(path, take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    sink = Sink(f"http://{host}:{port}{path}")
    try:
        yield sink
    finally:
        await runner.cleanup()
