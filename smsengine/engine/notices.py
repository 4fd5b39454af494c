"""Over-limit notices: an account is told at its alarm URL which numbers its rate limits stopped,
once per number, limit and window (not once per refused request), in batches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from smsengine.domain.errors import ErrorCode

# the window each limit counts in: a number is reported again only in its next window
_WINDOW_S = {
    ErrorCode.SAME_CONTENT_LIMIT: 30.0,
    ErrorCode.HOURLY_LIMIT: 3600.0,
    ErrorCode.DAILY_LIMIT: 86400.0,
    ErrorCode.ACCOUNT_DAILY_LIMIT: 86400.0,
    ErrorCode.INTERNATIONAL_DAILY_LIMIT: 86400.0,
}
LIMIT_CODES = frozenset(_WINDOW_S)


class OverLimitNotices:
    """`stopped` is called for every recipient a limit refused; each (account, number, limit,
    window) is reported once, in one POST per account every `every_s`, at most `max_batch`
    numbers a POST (the rest counted as dropped). Memory: two generations of at most `max_seen`
    keys each. Windows are counted in UTC (a local day boundary may report a number once more)."""

    def __init__(self, send: Callable[[str, dict], None], url_of: Callable[[str], str], *,
                 every_s: float = 1.0, max_batch: int = 10_000, max_seen: int = 200_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.send = send
        self.url_of = url_of
        self.every_s = every_s
        self.max_batch = max_batch
        self.max_seen = max_seen
        self.clock = clock
        self._seen: set[tuple] = set()
        self._older: set[tuple] = set()
        self._pending: dict[str, list[dict]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.sent = 0
        self.dropped = 0

    def stopped(self, app_id: str, phone: str, code: int, now: float) -> None:
        window = _WINDOW_S.get(code)  # type: ignore[call-overload]
        if window is None or not self.url_of(app_id):
            return
        key = (app_id, phone, code, int(now // window))
        if key in self._seen or key in self._older:
            return
        self._seen.add(key)
        if len(self._seen) > self.max_seen:
            self._older, self._seen = self._seen, set()
        batch = self._pending.setdefault(app_id, [])
        if len(batch) >= self.max_batch:
            self.dropped += 1
            return
        batch.append({"phone": phone, "code": int(code), "time": now})
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.every_s, self.flush)

    def flush(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, {}
        for app_id, numbers in pending.items():
            url = self.url_of(app_id)
            if url:
                self.send(url, {"event": "over_limit", "app_id": app_id, "numbers": numbers, "time": self.clock()})
                self.sent += 1

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
