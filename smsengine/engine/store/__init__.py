"""The durable store: SQLite (WAL) behind named methods with typed rows, writes in group commits."""

from __future__ import annotations

from smsengine.engine.records import (
    AccountRow,
    MessageView,
    ReceiptView,
    ReplyView,
    SignatureRow,
    TemplateRow,
    UnsubscribeRow,
)
from smsengine.engine.store.accounts import AccountQueries
from smsengine.engine.store.catalogue import CatalogueQueries
from smsengine.engine.store.counts import CountQueries
from smsengine.engine.store.messages import MessageQueries
from smsengine.engine.store.replay_window import ReplayWindowQueries
from smsengine.engine.store.replies import ReplyQueries
from smsengine.engine.store.shortlinks import ShortLinkQueries
from smsengine.engine.store.tasks import TaskQueries
from smsengine.engine.store.unsubscribes import UnsubscribeQueries
from smsengine.engine.store.writer import StoreError


class Store(CountQueries, AccountQueries, CatalogueQueries, UnsubscribeQueries, MessageQueries, ReplyQueries,
            ReplayWindowQueries, ShortLinkQueries, TaskQueries):
    """Everything the engine keeps on disk. Its public methods are the whole interface, the seam
    for another backend (PostgreSQL, for several engine nodes): SQL, the writer thread and the
    json_each batching stay in this package."""


__all__ = [
    "AccountRow",
    "MessageView",
    "ReceiptView",
    "ReplyView",
    "SignatureRow",
    "Store",
    "StoreError",
    "TemplateRow",
    "UnsubscribeRow",
]
