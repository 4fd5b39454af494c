"""Routing deliver_sm (receipts, MO) to a receiver bind of the right system_id, or holding them until one binds."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Protocol

import msgspec

from smsengine.smpp.codec import encode_pdu
from smsengine.smpp.constants import HEADER_SIZE
from smsengine.smpp.pdu import DeliverSm

from carriers.counters import CarrierCounters


class Outgoing(msgspec.Struct, gc=False):
    """A deliver_sm on its way, as its encoded body (a redelivery only needs a new header);
    `stat` is the receipt stat, None for an MO message."""

    body: bytes
    stat: str | None
    system_id: str

    @classmethod
    def of(cls, pdu: DeliverSm, stat: str | None, system_id: str) -> Outgoing:
        return cls(encode_pdu(pdu)[HEADER_SIZE:], stat, system_id)


class Receiver(Protocol):
    def has_room(self) -> bool: ...

    def room(self) -> int:
        """How many more deliver_sm it takes now (0 when has_room is False)."""

    def deliver(self, item: Outgoing) -> None: ...

    def deliver_many(self, items: Sequence[Outgoing]) -> None:
        """`deliver` each, in order; the router gives it at most `room()`."""


class DeliveryRouter:
    """Round-robin over the receiver binds of each system_id; a bounded backlog per system_id when
    none is bound or all are at their window. The backlog drains on rebind and as responses free room."""

    __slots__ = ("capacity", "counters", "_receivers", "_turn", "_backlog")

    def __init__(self, capacity: int, counters: CarrierCounters) -> None:
        self.capacity = capacity
        self.counters = counters
        self._receivers: dict[str, list[Receiver]] = {}
        self._turn: dict[str, int] = {}
        self._backlog: dict[str, deque[Outgoing]] = {}

    def backlog(self, system_id: str) -> int:
        queue = self._backlog.get(system_id)
        return len(queue) if queue else 0

    def attach(self, system_id: str, receiver: Receiver) -> None:
        self._receivers.setdefault(system_id, []).append(receiver)
        self.drain(system_id, receiver)

    def detach(self, system_id: str, receiver: Receiver, unacked: list[Outgoing]) -> None:
        """Forget a receiver; what it was sent but never acknowledged goes back to the front of the backlog."""
        receivers = self._receivers.get(system_id)
        if receivers and receiver in receivers:
            receivers.remove(receiver)
        if unacked:
            queue = self._queue(system_id)
            for item in reversed(unacked):
                if len(queue) >= self.capacity:
                    break
                queue.appendleft(item)
                self.counters.stored += 1
        # Another receiver of the same system_id may have room for the returned items now.
        for other in receivers or ():
            self.drain(system_id, other)

    def deliver(self, item: Outgoing) -> None:
        system_id = item.system_id
        receivers = self._receivers.get(system_id)
        queue = self._backlog.get(system_id)
        if receivers and not queue:
            count = len(receivers)
            turn = self._turn.get(system_id, 0)
            for i in range(count):
                receiver = receivers[(turn + i) % count]
                if receiver.has_room():
                    self._turn[system_id] = turn + i + 1
                    receiver.deliver(item)
                    return
        self._hold(item)

    def deliver_all(self, items: list[Outgoing]) -> None:
        """`deliver` each item, in order. A run of items for a system_id with one receiver and no
        backlog goes to it in one call: what `deliver` would do item by item (the first `room()`
        to the receiver, the rest to the backlog), without the per-item lookups."""
        deliver = self.deliver
        start, end = 0, len(items)
        while start < end:
            system_id = items[start].system_id
            stop = start + 1
            while stop < end and items[stop].system_id == system_id:
                stop += 1
            receivers = self._receivers.get(system_id)
            if receivers and len(receivers) == 1 and not self._backlog.get(system_id):
                taken = max(0, min(receivers[0].room(), stop - start))
                if taken:
                    self._turn[system_id] = self._turn.get(system_id, 0) + taken
                    receivers[0].deliver_many(items[start:start + taken])
                for item in items[start + taken:stop]:
                    self._hold(item)
            else:
                for item in items[start:stop]:
                    deliver(item)
            start = stop

    def drain(self, system_id: str, receiver: Receiver) -> None:
        queue = self._backlog.get(system_id)
        while queue and receiver.has_room():
            self.counters.stored -= 1
            receiver.deliver(queue.popleft())

    def _queue(self, system_id: str) -> deque[Outgoing]:
        queue = self._backlog.get(system_id)
        if queue is None:
            queue = self._backlog[system_id] = deque()
        return queue

    def _hold(self, item: Outgoing) -> None:
        queue = self._queue(item.system_id)
        if len(queue) >= self.capacity:
            queue.popleft()
            self.counters.receipts_discarded += 1
            self.counters.stored -= 1
        queue.append(item)
        self.counters.stored += 1
