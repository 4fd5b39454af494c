"""The simulator's table of recent messages: what query_sm, cancel_sm and replace_sm look at."""

from __future__ import annotations

from collections import deque

import msgspec

from smsengine.smpp.constants import MessageState

from carriers.fates import Outcome


class MessageRecord(msgspec.Struct, gc=False):
    """One accepted submit (one segment). `final_at` is the loop time its fate becomes final.

    A gc=False Struct: the table holds hundreds of thousands of these, and untracked objects keep
    the cyclic collector's full passes cheap (a record holds no containers, so it forms no cycles)."""

    number: int
    resp_id: str
    system_id: str
    source: str
    destination: str
    submitted_wall: float
    final_at: float
    outcome: Outcome
    preview: bytes  # the first bytes of the content, for the receipt's text: field
    data_coding: int
    registered_delivery: int
    cancelled: bool = False

    def state_at(self, now: float) -> MessageState:
        if self.cancelled:
            return MessageState.DELETED
        return self.outcome.state if now >= self.final_at else MessageState.ENROUTE


class MessageTable:
    """The newest `capacity` records by submit_sm_resp id; the oldest are forgotten first."""

    __slots__ = ("capacity", "_records", "_order")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._records: dict[str, MessageRecord] = {}
        # Eviction order kept apart: popping the first key of a dict is O(holes) in CPython.
        self._order: deque[str] = deque()

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: MessageRecord) -> None:
        records = self._records
        if len(records) >= self.capacity:
            records.pop(self._order.popleft(), None)
        records[record.resp_id] = record
        self._order.append(record.resp_id)

    def get(self, resp_id: str) -> MessageRecord | None:
        return self._records.get(resp_id)
