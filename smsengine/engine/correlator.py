"""Receipt correlation: carrier + message id + destination → our (message, segment), with early
receipts parked, bounded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

K = TypeVar("K")

# digits compared between a receipt's source_addr and the number we sent to: enough to tell two
# numbers apart, few enough that "+8613800138000", "8613800138000" and "13800138000" all agree
DESTINATION_DIGITS = 8


def destination_tail(addr: str) -> str:
    """The part of an address both sides write the same way; "" when it is not a number
    (alphanumeric or empty source_addr: nothing to compare)."""
    tail = addr[-DESTINATION_DIGITS:]
    return tail if tail.isdigit() else ""


class _Expiring(Generic[K]):
    """A dict whose entries expire `max_age` seconds after insertion and that holds at most
    `max_len` entries (the oldest go first). Insertion order is time order, so expiry pops from
    the front and never scans live entries."""

    __slots__ = ("max_age", "max_len", "entries", "dropped", "_next_expiry")

    def __init__(self, max_age: float, max_len: int | None = None) -> None:
        self.max_age = max_age
        self.max_len = max_len
        self.entries: dict[Any, tuple[K, float]] = {}
        self.dropped = 0  # entries pushed out by `max_len` before their time
        self._next_expiry = 0.0

    def put(self, key: Any, value: K, now: float) -> None:
        entries = self.entries
        entries.pop(key, None)  # re-inserted keys move to the back, keeping time order
        entries[key] = (value, now)
        if self.max_len is not None and len(entries) > self.max_len:
            del entries[next(iter(entries))]
            self.dropped += 1
        # at most one expiry pass per second: finding the oldest live entry walks past the
        # slots that matched entries left behind, which is cheap once, not on every put
        if now >= self._next_expiry:
            self._next_expiry = now + 1.0
            self.expire(now)

    def expire(self, now: float) -> None:
        entries = self.entries
        horizon = now - self.max_age
        while entries:
            key = next(iter(entries))
            if entries[key][1] > horizon:
                break
            del entries[key]

    def pop(self, key: Any) -> K | None:
        item = self.entries.pop(key, None)
        return None if item is None else item[0]

    def get(self, key: Any) -> K | None:
        item = self.entries.get(key)
        return None if item is None else item[0]

    def __len__(self) -> int:
        return len(self.entries)


class ReceiptCorrelator(Generic[K]):
    """Matches receipts to the segments they report on by carrier, normalised message id and
    destination.

    The id alone is not enough: an SMSC that restarts may issue its ids again, so a receipt is
    matched only when the number it names (its source_addr, SMPP 3.4 §5.2.12: the original
    destination) agrees with the registered segment's; the newest registration of an id wins.
    A receipt may arrive before the engine recorded the submit_sm_resp that carried the id (the
    SMSC answers and reports on different binds): it is parked and handed back when the id is
    registered for the same number. Registrations expire after `max_age` (the message's own
    deadline has passed by then); parked receipts after `park_age`, and at most `max_parked`
    are kept (a flood of receipts for unknown ids cannot grow memory)."""

    def __init__(self, destination_of: Callable[[K], str] | None = None, *, max_age: float = 72 * 3600.0,
                 park_age: float = 120.0, max_parked: int = 100_000) -> None:
        self._destination_of = destination_of
        self._sent: _Expiring[K] = _Expiring(max_age)
        self._parked: _Expiring[Any] = _Expiring(park_age, max_parked)
        self.matched_early = 0
        self.superseded = 0  # registrations replaced by a newer one for the same id
        self.mismatched = 0  # receipts whose number disagreed with the segment under that id

    def _agrees(self, value: K, destination: str) -> bool:
        if not destination or self._destination_of is None:
            return True  # a receipt that names no number: the id has to do
        return destination_tail(self._destination_of(value)) == destination

    def register(self, carrier: str, message_id: str, value: K, now: float) -> Any | None:
        """Remember a submitted segment; returns a receipt that was waiting for it, if any."""
        key = (carrier, message_id)
        if self._parked.entries:
            early = self._parked.get(key)
            if early is not None and self._agrees(value, early[1]):
                self._parked.pop(key)
                self.matched_early += 1
                return early[0]
        if key in self._sent.entries:
            self.superseded += 1
        self._sent.put(key, value, now)
        return None

    def match(self, carrier: str, message_id: str, destination: str, receipt: Any, now: float) -> K | None:
        """The segment a final receipt reports on, forgotten once matched; None means parked.
        `destination` is `destination_tail` of the receipt's source_addr."""
        key = (carrier, message_id)
        value = self._sent.get(key)
        if value is not None:
            if self._agrees(value, destination):
                self._sent.pop(key)
                return value
            self.mismatched += 1  # an id issued again for another number: not this segment's
        self._parked.put(key, (receipt, destination), now)
        return None

    def forget(self, carrier: str, message_id: str, value: K) -> None:
        """Drop the registration of `value` (its message ended without this receipt: its deadline
        passed), unless a newer one took over the id."""
        key = (carrier, message_id)
        current = self._sent.get(key)
        if current is not None and current == value:
            self._sent.pop(key)

    def parked_keys(self) -> list[tuple[str, str, str]]:
        """(carrier, id, destination) of every parked receipt, oldest first."""
        return [(carrier, mid, item[0][1]) for (carrier, mid), item in self._parked.entries.items()]

    def pending(self) -> int:
        return len(self._sent)

    def parked(self) -> int:
        return len(self._parked)

    @property
    def parked_dropped(self) -> int:
        return self._parked.dropped
