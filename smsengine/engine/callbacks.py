"""Callbacks: status reports and replies pushed to the customer's URLs in signed batches, at least
once. Finals reach the pusher in memory once their store write is durable; a durable cursor per
account and stream is what a restart, an outage or a backlog request resumes from, by reading the
store back in order until it has caught up with memory.

Why this shape (issue 10): the first pusher read every batch back from the store, posted it, and
committed its cursor before the next one, one POST at a time per account. Under load that chain
(flush, read, POST, commit) fell behind the finals: 8,955 reports/s reached a sink while the
store recorded 11,021 finals/s, with receipt → sink p99 at 8.4 s (benchmarks/results/
e2e_baseline.json). Now a report costs one struct in memory; POSTs go out `concurrency` at a time
per account, each as large as the backlog allows (up to `batch`); the cursor is written at most
every `cursor_every_s`, which is also the window in which a crash can make a report come twice.

Bounds: per account and stream at most `memory_rows` reports wait in memory; beyond that the feed
drops them and reads back from the store (the backlog of a slow or dead endpoint is bounded by the
store, not memory). A POST has `timeout_s`; a failing URL backs off up to `max_backoff_s`, and
only its own account's feed waits for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import aiohttp
import msgspec
import structlog

from smsengine.config import CallbacksConfig
from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.engine.accounts import Account, AccountRegistry
from smsengine.engine.destinations import PublicResolver
from smsengine.engine.lifecycle import cancel_tasks, wait_event
from smsengine.engine.records import MessageFinal, ReceiptView
from smsengine.engine.store import Store, StoreError

log = structlog.get_logger("smsengine.callbacks")

_encode = msgspec.json.Encoder().encode

# the headers of a signed callback (README "Callbacks"): the unix time it was signed at, and
# "sha256=" + hex HMAC-SHA256 over that time, a ".", and the body, keyed by the account's key
TIMESTAMP_HEADER = "X-Smsengine-Timestamp"
SIGNATURE_HEADER = "X-Smsengine-Signature"


class EndpointRefused(Exception):
    """The customer's endpoint answered, but not 2xx."""


# what a customer's endpoint can do to a POST: refuse it, fail to connect or resolve, time out
_ENDPOINT_FAILURES = (EndpointRefused, aiohttp.ClientError, OSError, TimeoutError)


def signature(key: str, timestamp: str, body: bytes) -> str:
    """What a receiver recomputes to check a callback came from us, unaltered."""
    return "sha256=" + hmac.new(key.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class Report(msgspec.Struct, gc=False):
    """One item to push: its place in the account's order, the per-message URL ("" = the
    account's), and what the customer receives. A struct, not a NamedTuple: one is built per
    final on the hot path, and a NamedTuple's constructor is Python (0.58 us vs 0.09 us); gc=False
    as nothing it holds can point back to it."""

    cursor: int
    url: str
    view: Any


class Stream(NamedTuple):
    """One kind of callback: the account's URL for it, its durable cursor (read, moved forward,
    set back), the reports after a cursor in the store, and whether finals also come in memory."""

    name: str
    url_of: Callable[[Account], str]
    cursor: Callable[[str], Awaitable[int]]
    since: Callable[[str, int, int], Awaitable[list[Report]]]
    advance: Callable[[str, int], Awaitable[None]]
    rewind: Callable[[str, int], Awaitable[None]]
    newest: Callable[[], Awaitable[int]]
    in_memory: bool


class Feed:
    """One account's reports of one stream on their way out, in cursor order.

    `acked`: every report at or before it was acknowledged (or had nowhere to go). Reports are
    taken from `queue` in batches; `window` holds, per batch taken, its last cursor and how many of
    its POSTs are outstanding, so `acked` only moves over a prefix that is wholly done. While
    `from_store`, the queue is filled by reading the store after `taken`; a read that comes back
    short has caught up, and the reports that arrived in memory during it (`tail`) continue."""

    def __init__(self, pusher: CallbackPusher, stream: Stream, app_id: str, acked: int, *, from_store: bool) -> None:
        self.pusher = pusher
        self.stream = stream
        self.app_id = app_id
        self.acked = self.saved = self.taken = self.high = acked
        self.queue: deque[Report] = deque()
        self.from_store = from_store
        self.reading = False
        self.tail: list[Report] | None = None
        self.overflowed = False  # the tail of the read under way outgrew memory_rows
        self.window: deque[list[int]] = deque()
        self.generation = 0
        self.ready = asyncio.Event()
        self.retry_now = asyncio.Event()
        self.failures: dict[str, int] = {}  # URL -> consecutive failed POSTs
        # reports at or before this cursor with no URL of their own go nowhere: the account had no
        # URL then (a first URL pushes from now on, without touching what sends' own URLs are owed)
        self.account_from = 0
        self.tasks: list[asyncio.Task] = []
        self._saver: asyncio.Task | None = None

    # -- reports in -------------------------------------------------------------------------------
    def offer(self, reports: list[Report]) -> None:
        """Durable reports from memory, in cursor order."""
        if self.from_store:
            if self.tail is not None:  # a read is under way: it may or may not see these
                self.tail.extend(reports)
                if len(self.tail) > self.pusher.settings.memory_rows:
                    self.tail = None  # too many to hold: the next read finds them
                    self.overflowed = True
            return
        queue = self.queue
        high = self.high
        for report in reports:
            if report.cursor > high:
                queue.append(report)
                high = report.cursor
        self.high = high
        if len(queue) > self.pusher.settings.memory_rows:
            self._spill()
        self.ready.set()

    def _spill(self) -> None:
        """Too much waiting for a slow endpoint: forget it and read it back from the store later."""
        self.queue.clear()
        self.high = self.taken
        self.from_store = True
        log.info("callbacks.spilled", app_id=self.app_id, stream=self.stream.name, from_cursor=self.taken)

    def _reads_store(self) -> bool:
        """Receipts read the store back until caught up (sends' own URLs need it even when the
        account has none); replies only while the account has a reply URL."""
        if not self.from_store:
            return False
        if self.stream.in_memory:
            return True
        account = self.pusher.accounts.accounts.get(self.app_id)
        return account is not None and bool(self.stream.url_of(account))

    async def _read(self) -> None:
        """Fill the queue from the store after `taken`; switch to memory once caught up."""
        self.reading = True
        self.overflowed = False
        self.tail = [] if self.stream.in_memory else None
        generation = self.generation
        limit = self.pusher.settings.batch * 4
        try:
            rows = await self.stream.since(self.app_id, self.taken, limit)
        except StoreError as exc:  # the store will answer again: this sender tries after poll_s
            log.warning("callbacks.read_failed", app_id=self.app_id, stream=self.stream.name, error=repr(exc))
            await asyncio.sleep(self.pusher.settings.poll_s)
            return
        finally:
            self.reading = False
            tail, self.tail = self.tail, None
        if generation != self.generation:
            return
        self.queue.extend(rows)
        if rows:
            self.high = rows[-1].cursor
            self.ready.set()  # the feed's other senders take from these too
        # caught up: memory takes over, unless what it would hold is more than memory_rows (then
        # offer would spill the rows just read, and the next read would read them again, forever);
        # the tail left out is durable, so the next read finds it
        caught_up = len(rows) < limit and self.stream.in_memory and not self.overflowed
        if caught_up and len(self.queue) + len(tail or ()) <= self.pusher.settings.memory_rows:
            self.from_store = False
            self.offer(tail or [])

    # -- reports out ------------------------------------------------------------------------------
    async def work(self) -> None:
        """One of the feed's `concurrency` senders."""
        settings = self.pusher.settings
        while True:
            if not self.queue:
                reads = self._reads_store()
                if reads and not self.reading:
                    await self._read()
                if not self.queue:
                    # the store is looked at every poll_s only by a feed that reads it; one fed
                    # from memory (or with nowhere to push) sleeps until offer or url_set wakes it
                    self.ready.clear()
                    await wait_event(self.ready, settings.poll_s if reads else None)
                    continue
            queue = self.queue
            items = [queue.popleft() for _ in range(min(settings.batch, len(queue)))]
            self.taken = items[-1].cursor
            groups: dict[str, list] = {}
            account_from = self.account_from
            for item in items:
                if item.url or item.cursor > account_from:
                    groups.setdefault(item.url, []).append(item.view)
            entry = [items[-1].cursor, len(groups)]
            self.window.append(entry)
            generation = self.generation
            for url, views in groups.items():
                await self._deliver(url, views, generation)
                entry[1] -= 1
            if generation == self.generation:
                self._settle()

    async def _deliver(self, own_url: str, views: list, generation: int) -> None:
        """POST one group until its endpoint acknowledges it; the account's URL is looked up at
        each attempt, so a URL re-pointed during an outage gets what the old one refused."""
        pusher = self.pusher
        body = b""
        while generation == self.generation:
            account = pusher.accounts.accounts.get(self.app_id)
            url = own_url or (self.stream.url_of(account) if account is not None else "")
            if not url:
                return  # nowhere to go: done (a URL set later says whether it wants the backlog)
            body = body or _encode(views)  # once, whatever the retries
            try:
                await pusher.post(url, body, account.key if account is not None else "")
            except _ENDPOINT_FAILURES as exc:  # the customer's endpoint failed: back off, try again
                n = self.failures[url] = self.failures.get(url, 0) + 1
                pusher.failed_posts += 1
                if own_url and n >= pusher.settings.message_url_attempts:
                    pusher.abandoned += len(views)
                    log.warning("callbacks.abandoned", app_id=self.app_id, url=url, reports=len(views),
                                attempts=n, error=repr(exc))
                    return
                delay = min(pusher.settings.max_backoff_s, 0.5 * 2 ** (n - 1))
                log.warning("callbacks.failed", app_id=self.app_id, stream=self.stream.name, url=url, attempt=n,
                            retry_in=delay, error=repr(exc))
                self.retry_now.clear()
                await wait_event(self.retry_now, delay)
                continue
            self.failures.pop(url, None)
            pusher.pushed[self.stream.name] = pusher.pushed.get(self.stream.name, 0) + len(views)
            return

    def _settle(self) -> None:
        window = self.window
        while window and window[0][1] == 0:
            self.acked = window.popleft()[0]
        if self.acked > self.saved and self._saver is None:
            self._saver = asyncio.get_running_loop().create_task(self._save_later())

    async def _save_later(self) -> None:
        try:
            await asyncio.sleep(self.pusher.settings.cursor_every_s)
            await self.save()
        finally:
            self._saver = None
        if self.acked > self.saved:
            self._settle()

    async def save(self) -> None:
        acked, generation = self.acked, self.generation
        if acked > self.saved:
            await self.stream.advance(self.app_id, acked)
            if generation == self.generation:  # not set back meanwhile (restart_at)
                self.saved = acked

    # -- control ----------------------------------------------------------------------------------
    def start(self) -> None:
        self.tasks = [asyncio.get_running_loop().create_task(self.work(), name=f"callbacks-{self.app_id}")
                      for _ in range(self.pusher.settings.concurrency)]

    async def stop(self) -> None:
        await cancel_tasks(*self.tasks, self._saver)
        await self.save()

    async def restart_at(self, cursor: int, *, from_store: bool) -> None:
        """Push what comes after `cursor` (from the store when it is behind, from memory when it
        is now); batches under way to the old position are abandoned."""
        self.generation += 1
        self.queue.clear()
        self.window.clear()
        self.acked = self.taken = self.high = cursor
        self.from_store = from_store
        self.failures.clear()
        await self.stream.rewind(self.app_id, cursor)
        self.saved = cursor
        self.retry_now.set()
        self.ready.set()

    def wake(self) -> None:
        self.failures.clear()
        self.retry_now.set()
        self.ready.set()


class CallbackPusher:
    def __init__(self, store: Store, accounts: AccountRegistry, settings: CallbacksConfig | None = None, *,
                 allow_private: bool = False) -> None:
        self.store = store
        self.accounts = accounts
        self.settings = settings or CallbacksConfig()
        self.allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None
        self.pushed: dict[str, int] = {}  # stream name -> reports their endpoints acknowledged
        self.failed_posts = 0
        self.abandoned = 0  # reports for a send's own URL given up after message_url_attempts
        self.alarms_sent = 0
        self._alarms: set[asyncio.Task] = set()
        self.streams = {
            "receipts": Stream("receipts", lambda a: a.receipt_url, store.pushed_cursor, self._receipts_since,
                               store.set_pushed_cursor, store.reset_pushed_cursor, self._newest_cursor, True),
            "replies": Stream("replies", lambda a: a.reply_url, store.reply_cursor, self._replies_since,
                              store.set_reply_cursor, store.reset_reply_cursor, store.max_reply_id, False),
        }
        self.feeds: dict[tuple[str, str], Feed] = {}
        self._started = False  # every account has its feeds: one without is an account created since
        self._stopped = False
        self._sealing: list[tuple[MessageFinal, int]] = []

    async def _receipts_since(self, app_id: str, cursor: int, limit: int) -> list[Report]:
        return [Report(view.cursor, url, view) for url, view in await self.store.receipts_to_push(app_id, cursor, limit)]

    async def _replies_since(self, app_id: str, cursor: int, limit: int) -> list[Report]:
        return [Report(view.cursor, "", view) for view in await self.store.replies_since(app_id, cursor, limit)]

    async def _newest_cursor(self) -> int:
        return self.store.next_cursor - 1

    async def start(self) -> None:
        # public addresses only, checked at every connect (a URL's name may be re-pointed later);
        # kept-alive connections: at most 100 in all (README "Open files"), 2 per POST in flight to
        # one endpoint (a slow one cannot take them all)
        s = self.settings
        limits = {"limit": s.max_connections, "limit_per_host": min(s.max_connections, s.concurrency)}
        connector = (aiohttp.TCPConnector(**limits) if self.allow_private else
                     aiohttp.TCPConnector(**limits, resolver=PublicResolver()))
        # timeout_s bounds connecting and each read of the answer, not the wait for a free
        # connection (slow endpoints elsewhere must not time out a healthy one); that wait has its
        # own bound
        timeout = aiohttp.ClientTimeout(total=None, connect=max(60.0, s.timeout_s), sock_connect=s.timeout_s,
                                        sock_read=s.timeout_s)
        self._session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        for app_id in list(self.accounts.accounts):
            for stream in self.streams.values():
                await self._feed(stream, app_id, from_store=True)
        self._started = True

    async def _feed(self, stream: Stream, app_id: str, *, from_store: bool) -> Feed:
        feed = self.feeds.get((stream.name, app_id))
        if feed is None:
            feed = Feed(self, stream, app_id, await stream.cursor(app_id), from_store=from_store)
            if stream.name == "receipts":
                feed.account_from = await self.store.receipt_from(app_id)
            self.feeds[(stream.name, app_id)] = feed
            feed.start()
        return feed

    async def stop(self) -> None:
        self._started = False
        self._stopped = True
        await cancel_tasks(*self._alarms)
        for feed in self.feeds.values():
            await feed.stop()
        self.feeds.clear()
        if self._session is not None:
            await self._session.close()

    # -- finals from the dispatcher ------------------------------------------------------------------
    def on_final(self, final: MessageFinal, cursor: int) -> None:
        """A final state was queued for the store under `cursor`: it is pushed once durable."""
        if self._stopped:
            return  # the feeds read it from the store at the next start
        if not self._sealing:
            asyncio.get_running_loop().call_soon(self._seal)
        self._sealing.append((final, cursor))

    def _seal(self) -> None:
        """Everything collected so far is queued in the store: hand it on once it is committed."""
        batch, self._sealing = self._sealing, []
        self.store.when_durable(lambda: self._durable(batch))

    def _durable(self, batch: list[tuple[MessageFinal, int]]) -> None:
        """Finals come before and while start() makes the feeds, too (the dispatcher runs first): one
        taken only once started could be committed after its feed's first read had caught up, and be
        in neither."""
        if self._stopped:
            return
        by_app: dict[str, list[Report]] = {}
        for f, cursor in batch:
            # positional: a quarter cheaper than by keyword, once per final
            view = ReceiptView(cursor, str(f.message_id), f.phone, f.status, f.code, f.remark, f.submitted_at,
                               f.final_at, f.context)
            reports = by_app.get(f.app_id)
            if reports is None:
                reports = by_app[f.app_id] = []
            reports.append(Report(cursor, f.callback_url, view))
        stream = self.streams["receipts"]
        for app_id, reports in by_app.items():
            feed = self.feeds.get(("receipts", app_id))
            if feed is None:
                if not self._started:
                    continue  # its feed, made by start(), reads it from the store
                # an account created since the start: everything it has is new
                feed = self.feeds[("receipts", app_id)] = Feed(self, stream, app_id, 0, from_store=False)
                feed.start()
            feed.offer(reports)

    # -- account settings ----------------------------------------------------------------------------
    async def url_set(self, app_id: str, stream_name: str, *, had_url: bool, since: int | None) -> int:
        """The account's URL for a stream changed. `since`: push everything after that cursor;
        None: a first URL pushes from now on, a changed one continues where the old one stopped.
        Returns the cursor pushing continues after."""
        stream = self.streams[stream_name]
        feed = await self._feed(stream, app_id, from_store=True)
        newest = await stream.newest()
        if since is not None:
            if since > newest:
                raise SmsError(ErrorCode.REQUEST_MALFORMED, f"{stream_name} cursor {since} is ahead of the newest,"
                                                            f" {newest}")
            if stream.in_memory and feed.account_from > since:  # the backlog asked for goes to the URL
                feed.account_from = since
                await self.store.set_receipt_from(app_id, since)
            await feed.restart_at(since, from_store=True)
        elif not had_url and stream.in_memory:
            # from now on: reports up to now with no URL of their own go nowhere; what sends' own
            # URLs are still owed is not touched
            feed.account_from = newest
            await self.store.set_receipt_from(app_id, newest)
            feed.wake()
        elif not had_url:
            await feed.restart_at(newest, from_store=True)
        else:
            feed.wake()
        return self.position(app_id, stream_name)

    async def account_added(self, app_id: str) -> None:
        """A new account: its feeds start now (it has nothing from before to push)."""
        if self._started:
            for stream in self.streams.values():
                await self._feed(stream, app_id, from_store=not stream.in_memory)

    def position(self, app_id: str, stream_name: str) -> int:
        """The cursor pushing continues after (0 before the pusher started)."""
        feed = self.feeds.get((stream_name, app_id))
        return max(feed.acked, feed.account_from) if feed is not None else 0

    def backlog(self) -> int:
        """Reports waiting in memory or in flight (not those left in the store to read back)."""
        return sum(len(f.queue) for f in self.feeds.values())

    # -- HTTP -----------------------------------------------------------------------------------------
    async def post(self, url: str, body: bytes, key: str) -> None:
        """One signed POST; raises unless the endpoint answered 2xx."""
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        if key:
            stamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = stamp
            headers[SIGNATURE_HEADER] = signature(key, stamp, body)
        async with self._session.post(url, data=body, headers=headers) as resp:
            if resp.status >= 300:
                raise EndpointRefused(f"HTTP {resp.status}")

    def alarm(self, url: str, event: dict) -> None:
        """POST one alarm event, a few attempts with backoff; alarms are rare, so a task each."""
        task = asyncio.get_running_loop().create_task(self._post_alarm(url, event))
        self._alarms.add(task)
        task.add_done_callback(self._alarms.discard)

    async def _post_alarm(self, url: str, event: dict) -> None:
        account = self.accounts.accounts.get(str(event.get("app_id", "")))
        body = _encode(event)
        for attempt in range(4):
            try:
                await self.post(url, body, account.key if account is not None else "")
                self.alarms_sent += 1
                return
            except _ENDPOINT_FAILURES as exc:  # the alarm endpoint failed: logged, tried again
                error = repr(exc)
            log.warning("callbacks.alarm_failed", url=url, attempt=attempt + 1, error=error)
            await asyncio.sleep(0.5 * 2**attempt)
