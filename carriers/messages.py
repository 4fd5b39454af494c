"""The simulator's table of recent messages: what query_sm, cancel_sm and replace_sm look at."""

from __future__ import annotations

from collections import deque

from smsengine.smpp.constants import MessageState

from carriers.fates import Outcome


class MessageRecord:
    """One accepted submit (one segment). `final_at` is the loop time its fate becomes final."""

    __slots__ = (
        "number",
        "resp_id",
        "system_id",
        "source",
        "destination",
        "submitted_wall",
        "final_at",
        "outcome",
        "preview",
        "data_coding",
        "registered_delivery",
        "cancelled",
    )

    def __init__(
        self,
        number: int,
        resp_id: str,
        system_id: str,
        source: str,
        destination: str,
        submitted_wall: float,
        final_at: float,
        outcome: Outcome,
        preview: bytes,
        data_coding: int,
        registered_delivery: int,
    ) -> None:
        self.number = number
        self.resp_id = resp_id
        self.system_id = system_id
        self.source = source
        self.destination = destination
        self.submitted_wall = submitted_wall
        self.final_at = final_at
        self.outcome = outcome
        self.preview = preview  # the first bytes of the content, for the receipt's text: field
        self.data_coding = data_coding
        self.registered_delivery = registered_delivery
        self.cancelled = False

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
