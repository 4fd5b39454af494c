"""Receipt correlation: carrier message id → our (message, segment), with early receipts parked."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

K = TypeVar("K")


class _Expiring(Generic[K]):
    """A dict whose entries expire `max_age` seconds after insertion. Insertion order is time
    order, so expiry pops from the front and never scans live entries."""

    __slots__ = ("max_age", "entries", "_next_expiry")

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self.entries: dict[Any, tuple[K, float]] = {}
        self._next_expiry = 0.0

    def put(self, key: Any, value: K, now: float) -> None:
        entries = self.entries
        entries.pop(key, None)  # re-inserted keys move to the back, keeping time order
        entries[key] = (value, now)
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
    """Matches receipts to the segments they report on by (carrier, normalised message id).

    A receipt may arrive before the engine recorded the submit_sm_resp that carried the id (the
    SMSC answers and reports on different binds): it is parked and handed back when the id is
    registered, never dropped. Entries expire after `max_age` (unreported segments) or
    `park_age` (receipts for ids never registered), so memory stays bounded."""

    def __init__(self, max_age: float = 72 * 3600.0, park_age: float = 600.0) -> None:
        self._sent: _Expiring[K] = _Expiring(max_age)
        self._parked: _Expiring[Any] = _Expiring(park_age)
        self.matched_early = 0

    def register(self, carrier: str, message_id: str, key: K, now: float) -> Any | None:
        """Remember a submitted segment; returns a receipt that was waiting for it, if any."""
        if self._parked.entries:
            early = self._parked.pop((carrier, message_id))
            if early is not None:
                self.matched_early += 1
                return early
        self._sent.put((carrier, message_id), key, now)
        return None

    def match(self, carrier: str, message_id: str, receipt: Any, now: float) -> K | None:
        """The segment a final receipt reports on, forgotten once matched; None means parked."""
        key = self._sent.pop((carrier, message_id))
        if key is None:
            self._parked.put((carrier, message_id), receipt, now)
        return key

    def pending(self) -> int:
        return len(self._sent)

    def parked(self) -> int:
        return len(self._parked)
