"""Replies from handsets: attributed to the account that last sent to the number within the
attribution window (memory first, then the store, so it survives restarts), stored for it, and
unsubscribe keywords acted on at once. A reply nobody sent for is stored unattributed."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import structlog

from smsengine.engine.stats import ReplyStats

log = structlog.get_logger("smsengine.replies")

# Replies that unsubscribe (SPEC §7), compared upper-cased and trimmed. R and STOP too, because
# approved templates may instruct "拒收请回复R" or "Text STOP to opt out".
UNSUBSCRIBE_KEYWORDS = frozenset({"T", "N", "TD", "UNSUBSCRIBE", "QX", "0000", "R", "STOP"})


def is_unsubscribe(text: str) -> bool:
    return text.strip().upper() in UNSUBSCRIBE_KEYWORDS


class ReplyStore(Protocol):
    def add_reply(self, app_id: str, phone: str, text: str, carrier: str, received_at: float,
                  complete: bool = True) -> None: ...
    async def last_sender(self, phone: str, since: float) -> str | None: ...

# replies waiting for their sender to be looked up in the store; beyond it the oldest is stored
# unattributed at once (a flood of replies from numbers nobody sent to cannot grow memory)
MAX_LOOKUPS = 10_000


class Unsubscriber(Protocol):
    def unsubscribe(self, app_id: str, phone: str) -> bool: ...


class Senders:
    """phone → (the account that last sent to it, when), in bounded memory: two generations; when
    the current one is full it becomes the older one and the previous older one is dropped (a
    reply comes within days, not millions of messages later; the store answers beyond)."""

    __slots__ = ("current", "older", "max_size")

    def __init__(self, max_size: int = 1_000_000) -> None:
        self.current: dict[str, tuple[str, float]] = {}
        self.older: dict[str, tuple[str, float]] = {}
        self.max_size = max_size

    def remember(self, phone: str, app_id: str, at: float) -> None:
        current = self.current
        current[phone] = (app_id, at)
        if len(current) > self.max_size:
            self.older = current
            self.current = {}

    def of(self, phone: str, since: float = 0.0) -> str | None:
        """The last sender if it sent at or after `since`; None (ask the store) otherwise."""
        last = self.current.get(phone) or self.older.get(phone)
        return last[0] if last is not None and last[1] >= since else None


class Replies:
    """`senders` (memory) answers for numbers sent to since the start; a miss (a restart since,
    or a number memory has let go) is looked up in the store by one task, in arrival order."""

    def __init__(self, store: ReplyStore, accounts: Unsubscriber, *, window_s: float = 72 * 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.accounts = accounts
        self.window_s = window_s
        self.clock = clock
        self.senders = Senders()
        self.stats = ReplyStats()
        # replies waiting for their sender's lookup, with the future their deliver_sm answer waits on
        self._lookups: deque[tuple[str, str, str, float, bool, asyncio.Future]] = deque()
        self._resolver: asyncio.Task | None = None

    def received(self, carrier: str, phone: str, text: str, complete: bool = True) -> asyncio.Future | None:
        """Store a reply. None when it is handed to the store now; otherwise (its sender must be
        looked up in the store first) a future done once it is: whoever answers the carrier's
        deliver_sm waits for it, then for the commit, so a crash in between loses no reply."""
        now = self.clock()
        app_id = self.senders.of(phone, now - self.window_s)
        if app_id is not None:
            self._keep(app_id, carrier, phone, text, now, complete)
            return None
        if len(self._lookups) >= MAX_LOOKUPS:
            *oldest, kept = self._lookups.popleft()
            self._keep("", *oldest)
            _done(kept)
        kept = asyncio.get_running_loop().create_future()
        self._lookups.append((carrier, phone, text, now, complete, kept))
        if self._resolver is None or self._resolver.done():
            self._resolver = asyncio.get_running_loop().create_task(self._resolve(), name="reply-senders")
        return kept

    async def _resolve(self) -> None:
        while self._lookups:
            carrier, phone, text, at, complete, kept = self._lookups[0]
            try:
                app_id = await self.store.last_sender(phone, at - self.window_s) or ""
            except Exception:
                log.exception("reply.lookup_failed", phone=phone)
                app_id = ""
            if self._lookups and self._lookups[0][5] is kept:  # not pushed out meanwhile
                self._lookups.popleft()
                try:
                    self._keep(app_id, carrier, phone, text, at, complete)
                finally:
                    _done(kept)

    def _keep(self, app_id: str, carrier: str, phone: str, text: str, at: float, complete: bool = True) -> None:
        """Store the reply ("" app_id: unattributed, for the operator) and act on unsubscribes
        (never on an incomplete one: what is missing may change its meaning)."""
        self.store.add_reply(app_id, phone, text, carrier, at, complete)
        if not complete:
            self.stats.incomplete += 1
        if not app_id:
            self.stats.unattributed += 1
            return
        self.stats.stored += 1
        if complete and is_unsubscribe(text) and self.accounts.unsubscribe(app_id, phone):
            self.stats.unsubscribes += 1
            log.debug("reply.unsubscribe", app_id=app_id, phone=phone)

    async def settle(self) -> None:
        """Wait until every reply received so far is looked up and stored (tests, shutdown)."""
        while self._resolver is not None and not self._resolver.done():
            await asyncio.shield(self._resolver)


def _done(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
