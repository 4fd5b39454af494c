"""Recipients opening short links: the link a message carries, and the bounded HTTP client that opens it.

Clicks give experiments reach data (the engine counts them per link). A click is one GET of the
link exactly as the message wrote it, redirects not followed: the engine counts the click when it
answers 302, and the target behind it is the customer's site, not ours to load.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp

from carriers.config import LinkClicks
from carriers.counters import CarrierCounters

# `http(s)://HOST[:PORT][/PATH]/s/CODE`: the engine's link text (`{public_base_url}/s/{code}`),
# whatever its base; the code is base62, so trailing punctuation of the sentence is left out
_LINK = re.compile(r"https?://[^\s/?#]+(?:/[^\s?#]*?)?/s/[0-9A-Za-z]+")


def find_link(text: str) -> str | None:
    """The first short link in a message's text (or in one part of a long message: a link cut in
    two by a segment boundary is not found)."""
    match = _LINK.search(text)
    return match.group(0) if match else None


class Clicker:
    """Opens links from a bounded queue with `concurrency` workers over one client session."""

    def __init__(self, carrier: str, settings: LinkClicks, counters: CarrierCounters) -> None:
        self.carrier = carrier
        self.settings = settings
        self.counters = counters
        self._queue: asyncio.Queue[str] = asyncio.Queue(settings.pending_max)
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task] = []

    async def start(self) -> None:
        settings = self.settings
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.concurrency),
            timeout=aiohttp.ClientTimeout(total=settings.timeout_s),
            headers={"User-Agent": f"Mozilla/5.0 (simulated handset; carrier {self.carrier})"},
        )
        self._workers = [asyncio.create_task(self._work(), name=f"clicks-{self.carrier}-{i}")
                         for i in range(settings.concurrency)]

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    def click(self, url: str) -> None:
        """Open `url` as soon as a worker is free; dropped (counted) when `pending_max` wait already."""
        try:
            self._queue.put_nowait(url)
        except asyncio.QueueFull:
            self.counters.clicks_dropped += 1

    async def _work(self) -> None:
        session = self._session
        assert session is not None
        counters = self.counters
        while True:
            url = await self._queue.get()
            try:
                # the status is the answer; a body is not read (the link may point anywhere)
                async with session.get(url, allow_redirects=False):
                    counters.clicks_sent += 1
            # no answer: refused, reset, timed out, or a URL aiohttp cannot use (InvalidURL is a ValueError)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                counters.clicks_failed += 1
