"""Receipt correlation: carrier message id → our (message, segment), with early receipts parked."""

from __future__ import annotations

from collections import deque
from typing import Any, Generic, TypeVar

K = TypeVar("K")


class _Generations(Generic[K]):
    """A dict split into time generations so old entries are dropped wholesale, not scanned."""

    __slots__ = ("span", "keep", "gens")

    def __init__(self, span: float, keep: int) -> None:
        self.span = span
        self.keep = keep
        self.gens: deque[tuple[int, dict[Any, K]]] = deque()

    def put(self, key: Any, value: K, now: float) -> None:
        gen = int(now // self.span)
        if not self.gens or self.gens[-1][0] != gen:
            self.gens.append((gen, {}))
            while self.gens[0][0] <= gen - self.keep:
                self.gens.popleft()
        self.gens[-1][1][key] = value

    def pop(self, key: Any) -> K | None:
        for _, entries in reversed(self.gens):
            value = entries.pop(key, None)
            if value is not None:
                return value
        return None

    def __len__(self) -> int:
        return sum(len(e) for _, e in self.gens)


class ReceiptCorrelator(Generic[K]):
    """Matches receipts to the segments they report on by (carrier, normalised message id).

    A receipt may arrive before the engine recorded the submit_sm_resp that carried the id (the
    SMSC answers and reports on different binds): it is parked and handed back when the id is
    registered, never dropped. Unmatched entries expire after `max_age` seconds in bulk, so a
    carrier that never reports cannot grow memory without bound."""

    def __init__(self, max_age: float = 72 * 3600.0, park_age: float = 600.0) -> None:
        self._sent: _Generations[K] = _Generations(max(1.0, max_age / 24), 25)
        self._parked: _Generations[Any] = _Generations(max(1.0, park_age / 4), 5)
        self.parked_total = 0
        self.matched_early = 0

    def register(self, carrier: str, message_id: str, key: K, now: float) -> Any | None:
        """Remember a submitted segment; returns a receipt that was waiting for it, if any."""
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
            self.parked_total += 1
        return key

    def lookup(self, carrier: str, message_id: str) -> K | None:
        for _, entries in reversed(self._sent.gens):
            value = entries.get((carrier, message_id))
            if value is not None:
                return value
        return None

    def pending(self) -> int:
        return len(self._sent)

    def parked(self) -> int:
        return len(self._parked)
