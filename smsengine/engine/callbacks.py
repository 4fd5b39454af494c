"""Callbacks: status reports and replies pushed to each account's URLs in batches, at least once,
with backoff; each stream's pushed cursor is durable, so a restart resumes where delivery stopped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple

import aiohttp
import msgspec
import structlog

from smsengine.engine.accounts import Account, AccountRegistry
from smsengine.engine.destinations import PublicResolver
from smsengine.engine.store import Store
from smsengine.engine.lifecycle import cancel_tasks, wait_event

log = structlog.get_logger("smsengine.callbacks")

_encode = msgspec.json.Encoder().encode


class Stream(NamedTuple):
    """What one kind of callback reads and where it goes: the account's URL for it, its durable
    cursor, the rows after a cursor (each with a `cursor`), and how the cursor moves on."""

    name: str
    url_of: Callable[[Account], str]
    cursor: Callable[[str], Awaitable[int]]
    since: Callable[[str, int, int], Awaitable[list]]
    advance: Callable[[str, int], Awaitable[None]]


class CallbackPusher:
    def __init__(self, store: Store, accounts: AccountRegistry, *, batch: int = 500,
                 timeout: float = 5.0, max_backoff: float = 60.0, allow_private: bool = False) -> None:
        self.store = store
        self.allow_private = allow_private
        self.accounts = accounts
        self.batch = batch
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._session: aiohttp.ClientSession | None = None
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self.pushed: dict[str, int] = {}  # stream name -> rows its endpoints acknowledged
        self.failed_posts = 0
        self.alarms_sent = 0
        self._alarms: set[asyncio.Task] = set()
        self.streams = (
            Stream("receipts", lambda a: a.receipt_url, store.pushed_cursor, store.receipts_since,
                   store.set_pushed_cursor),
            Stream("replies", lambda a: a.reply_url, store.reply_cursor, store.replies_since, store.set_reply_cursor),
        )

    async def start(self) -> None:
        # public addresses only, checked at every connect (a URL's name may be re-pointed later)
        connector = None if self.allow_private else aiohttp.TCPConnector(resolver=PublicResolver())
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout),
                                              connector=connector)
        self._task = asyncio.create_task(self._run(), name="callbacks")

    async def stop(self) -> None:
        await cancel_tasks(self._task, *self._alarms)
        if self._session is not None:
            await self._session.close()

    def alarm(self, url: str, event: dict) -> None:
        """POST one alarm event, a few attempts with backoff; alarms are rare, so a task each."""
        task = asyncio.get_running_loop().create_task(self._post_alarm(url, event))
        self._alarms.add(task)
        task.add_done_callback(self._alarms.discard)

    async def _post_alarm(self, url: str, event: dict) -> None:
        for attempt in range(4):
            try:
                assert self._session is not None
                async with self._session.post(url, data=_encode(event),
                                              headers={"Content-Type": "application/json"}) as resp:
                    if resp.status < 300:
                        self.alarms_sent += 1
                        return
                    error = f"HTTP {resp.status}"
            except Exception as exc:
                error = repr(exc)
            log.warning("callbacks.alarm_failed", url=url, attempt=attempt + 1, error=error)
            await asyncio.sleep(0.5 * 2**attempt)

    async def _run(self) -> None:
        while True:
            await wait_event(self.wake, 1.0)
            self.wake.clear()
            # let the finals that woke us reach the store first
            await self.store.flush()
            more = False
            for account in list(self.accounts.accounts.values()):
                for stream in self.streams:
                    url = stream.url_of(account)
                    key = (account.app_id, stream.name)
                    if not url or time.monotonic() < self._retry_at.get(key, 0.0):
                        continue
                    try:
                        more |= await self._push(stream, account.app_id, url)
                    except Exception as exc:  # never let one account's endpoint stop the others
                        self._backoff(key, exc)
            if more:
                self.wake.set()

    def _backoff(self, key: tuple[str, str], exc: BaseException) -> None:
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        delay = min(self.max_backoff, 0.5 * 2 ** (n - 1))
        self._retry_at[key] = time.monotonic() + delay
        self.failed_posts += 1
        log.warning("callbacks.failed", app_id=key[0], stream=key[1], attempt=n, retry_in=delay, error=repr(exc))

    async def _push(self, stream: Stream, app_id: str, url: str) -> bool:
        rows = await stream.since(app_id, await stream.cursor(app_id), self.batch)
        if not rows:
            return False
        assert self._session is not None
        async with self._session.post(url, data=_encode(rows), headers={"Content-Type": "application/json"}) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"HTTP {resp.status}")
        await stream.advance(app_id, rows[-1].cursor)
        key = (app_id, stream.name)
        self._failures.pop(key, None)
        self._retry_at.pop(key, None)
        self.pushed[stream.name] = self.pushed.get(stream.name, 0) + len(rows)
        return len(rows) == self.batch
