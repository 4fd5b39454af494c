"""A customer's HTTP endpoint on an ephemeral loopback port: collects the JSON POSTed to it (and,
for callbacks, the signature headers, answering as a test says)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import NamedTuple

from aiohttp import web

from tests.support.polling import eventually


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


class Post(NamedTuple):
    """One POST as the receiver saw it."""

    at: float  # time.monotonic() on arrival
    body: bytes
    timestamp: str  # X-Smsengine-Timestamp ("" when absent)
    signature: str  # X-Smsengine-Signature ("" when absent)
    status: int  # what the receiver answered


def signed_with(key: str, post: Post) -> bool:
    """The check a customer makes (README "Callbacks"), written out here rather than imported:
    "sha256=" + hex HMAC-SHA256(key, timestamp + "." + body)."""
    mac = hmac.new(key.encode(), post.timestamp.encode() + b"." + post.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={mac}", post.signature)


class ReceiptReceiver:
    """The customer's webhook for JSON arrays (status reports): records every POST and answers as
    the test says: 500 for the first `fail_first` POSTs, while `failing`, and once `fail_after`
    were acknowledged; while `hold` is an unset event, each POST waits for it before answering (a
    slow endpoint). `stop` closes the port (connections refused); `start(port=...)` opens it again
    at the same URL."""

    def __init__(self, fail_first: int = 0, fail_after: int | None = None) -> None:
        self.fail_first = fail_first
        self.fail_after = fail_after
        self.failing = False
        self.hold: asyncio.Event | None = None
        self.holding = 0  # POSTs waiting for `hold` now
        self.posts: list[Post] = []
        self.failed: list[list[dict]] = []
        self.acknowledged: list[list[dict]] = []
        self.posted = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.port = 0

    async def _receive(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        raw = await request.read()
        batch = json.loads(raw)
        if request.content_type != "application/json":
            return web.Response(status=415)
        self.posted.set()
        if self.hold is not None:
            self.holding += 1
            try:
                await self.hold.wait()
            finally:
                self.holding -= 1
        refuse = (self.failing or len(self.failed) < self.fail_first
                  or (self.fail_after is not None and len(self.acknowledged) >= self.fail_after))
        (self.failed if refuse else self.acknowledged).append(batch)
        status = 500 if refuse else 200
        self.posts.append(Post(arrived, raw, request.headers.get("X-Smsengine-Timestamp", ""),
                               request.headers.get("X-Smsengine-Signature", ""), status))
        return web.Response(status=status)

    async def start(self, port: int = 0) -> "ReceiptReceiver":
        app = web.Application()
        app.router.add_post("/receipts", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        host, self.port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{self.port}/receipts"
        return self

    async def stop(self) -> None:
        if self.hold is not None:
            self.hold.set()  # a held POST is answered, or the cleanup would wait for it
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def acknowledged_items(self) -> list[dict]:
        return [item for batch in self.acknowledged for item in batch]

    def acknowledged_ids(self) -> list[str]:
        return [item["message_id"] for item in self.acknowledged_items()]

    async def wait_for(self, ids: list[str], timeout: float = 15.0) -> None:
        await eventually(lambda: set(ids) <= set(self.acknowledged_ids()), timeout,
                         lambda: f"pushed {self.acknowledged_ids()}, waiting for {ids}")
