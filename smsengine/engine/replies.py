"""Replies from handsets: attributed to the account that last sent to the number, stored for it,
and unsubscribe keywords acted on at once."""

from __future__ import annotations

import time
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
    def add_reply(self, app_id: str, phone: str, text: str, carrier: str, received_at: float) -> None: ...


class Unsubscriber(Protocol):
    def unsubscribe(self, app_id: str, phone: str) -> bool: ...


class Senders:
    """phone → the account that last sent to it, in bounded memory: two generations; when the
    current one is full it becomes the older one and the previous older one is dropped (a reply
    comes within days, not millions of messages later)."""

    __slots__ = ("current", "older", "max_size")

    def __init__(self, max_size: int = 1_000_000) -> None:
        self.current: dict[str, str] = {}
        self.older: dict[str, str] = {}
        self.max_size = max_size

    def remember(self, phone: str, app_id: str) -> None:
        current = self.current
        current[phone] = app_id
        if len(current) > self.max_size:
            self.older = current
            self.current = {}

    def of(self, phone: str) -> str | None:
        return self.current.get(phone) or self.older.get(phone)


class Replies:
    def __init__(self, store: ReplyStore, accounts: Unsubscriber, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.accounts = accounts
        self.clock = clock
        self.senders = Senders()
        self.stats = ReplyStats()

    def received(self, carrier: str, phone: str, text: str) -> None:
        app_id = self.senders.of(phone)
        if app_id is None:
            self.stats.unattributed += 1
            return
        self.store.add_reply(app_id, phone, text, carrier, self.clock())
        self.stats.stored += 1
        if is_unsubscribe(text) and self.accounts.unsubscribe(app_id, phone):
            self.stats.unsubscribes += 1
            log.debug("reply.unsubscribe", app_id=app_id, phone=phone)
