"""Who may keep a connection or try a bind: the bind deadline, the idle limit, failed-bind lockouts (clock passed in)."""

from __future__ import annotations

import enum
from collections import deque


class CloseReason(enum.Enum):
    BIND_TIMEOUT = "bind_timeout"  # connected, never bound in time
    IDLE = "idle"  # bound, and nothing heard for too long


def overdue(
    bound: bool, opened_at: float, last_heard: float, now: float, bind_timeout_s: float, idle_timeout_s: float
) -> CloseReason | None:
    """Why a connection must be closed at `now`, or None. An unbound connection gets `bind_timeout_s`
    from its accept; a bound one `idle_timeout_s` from the last bytes it sent (answers to the
    simulator's enquire_link count, so a live ESME is never idle for long)."""
    if not bound:
        return CloseReason.BIND_TIMEOUT if now - opened_at >= bind_timeout_s else None
    return CloseReason.IDLE if now - last_heard >= idle_timeout_s else None


class BindLockout:
    """Failed binds per peer address: after `max_failures` within `window_s`, that address may not
    bind for `lockout_s` (every bind refused unchecked, so guessing gains nothing meanwhile).

    Only failures count; a successful bind does not reset them (else one valid account would let
    an attacker keep guessing another). Binds refused during a lockout are not failures, so a
    lockout ends `lockout_s` after it began. Memory: at most `capacity` addresses, each with at
    most `max_failures` times; past the capacity, addresses with nothing recent are forgotten
    first, then the oldest entries."""

    __slots__ = ("max_failures", "window_s", "lockout_s", "capacity", "_failures", "_locked_until")

    def __init__(self, max_failures: int, window_s: float, lockout_s: float, capacity: int = 4096) -> None:
        if max_failures < 1 or capacity < 1:
            raise ValueError("max_failures and capacity must be >= 1")
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.capacity = capacity
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def __len__(self) -> int:
        """Addresses remembered (with failures or a lockout)."""
        return len(self._failures.keys() | self._locked_until.keys())

    def locked(self, peer: str, now: float) -> bool:
        until = self._locked_until.get(peer)
        if until is None:
            return False
        if now < until:
            return True
        del self._locked_until[peer]
        return False

    def failed(self, peer: str, now: float) -> bool:
        """Record a failed bind from `peer`; True when it starts a lockout."""
        times = self._failures.get(peer)
        if times is None:
            self._make_room(now)
            times = self._failures[peer] = deque(maxlen=self.max_failures)
        times.append(now)
        if len(times) < self.max_failures or now - times[0] > self.window_s:
            return False
        del self._failures[peer]
        if self.lockout_s <= 0:
            return False
        if peer not in self._locked_until:
            self._make_room(now)
        self._locked_until[peer] = now + self.lockout_s
        return True

    def _make_room(self, now: float) -> None:
        if len(self._failures) + len(self._locked_until) < self.capacity:
            return
        horizon = now - self.window_s
        for peer in [p for p, times in self._failures.items() if times[-1] < horizon]:
            del self._failures[peer]
        for peer in [p for p, until in self._locked_until.items() if until <= now]:
            del self._locked_until[peer]
        # Still full: forget the oldest failures first, then the oldest lockouts (dicts keep insertion order).
        while self._failures and len(self._failures) + len(self._locked_until) >= self.capacity:
            del self._failures[next(iter(self._failures))]
        while self._locked_until and len(self._locked_until) >= self.capacity:
            del self._locked_until[next(iter(self._locked_until))]
