"""Messages reaching a final state per minute over the last hour, per account and state: the
dashboard's throughput chart, sampled from the dispatcher's counters (nothing on the hot path).

The counters are cumulative since the engine started; every `sample` adds what changed to the
current minute's bucket. Memory: 60 buckets of (account, state) counts.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping

MINUTES = 60


class RecentFinals:
    def __init__(self, counters: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        self._counters = counters  # (app id, status) → finals since the engine started
        self._last: dict[tuple[str, str], int] = dict(counters())
        self._minutes: deque[tuple[int, Counter]] = deque(maxlen=MINUTES)

    def sample(self, now: float) -> None:
        minute = int(now // 60)
        if not self._minutes or self._minutes[-1][0] != minute:
            self._minutes.append((minute, Counter()))
        bucket = self._minutes[-1][1]
        current = dict(self._counters())
        for key, n in current.items():
            delta = n - self._last.get(key, 0)
            if delta > 0:
                bucket[key] += delta
        self._last = current

    def series(self, app_id: str | None, now: float) -> list[dict]:
        """The last hour, one entry per minute (oldest first, minutes with nothing included):
        {"minute": unix seconds, "delivered": n, "failed": n, "expired": n, "cancelled": n}."""
        by_minute = {m: c for m, c in self._minutes}
        last = int(now // 60)
        out = []
        for minute in range(last - MINUTES + 1, last + 1):
            counts = {"minute": minute * 60, "delivered": 0, "failed": 0, "expired": 0, "cancelled": 0}
            for (app, status), n in by_minute.get(minute, Counter()).items():
                if (app_id is None or app == app_id) and status in counts:
                    counts[status] += n
            out.append(counts)
        return out
