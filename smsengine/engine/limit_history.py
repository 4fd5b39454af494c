"""The rate limits rebuilt at start from the sends the store holds, so a restart never lets a
number through that the limits would have stopped (SPEC §4)."""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from typing import Protocol

from smsengine.domain.limits import RateLimiter
from smsengine.domain.numbers import Region, region_of

# The longest window is a local day; with a DST change a day lasts up to 25 h.
WINDOW_S = 25 * 3600.0
BATCH = 50_000


class SendHistory(Protocol):
    async def first_message_since(self, since: float) -> int | None: ...
    async def sends_from(self, first_id: int, limit: int) -> list[tuple[int, str, str, str, float]]: ...


async def restore_limits(store: SendHistory, limiter: RateLimiter, now: float, *,
                         clock: Callable[[], float] = time.monotonic) -> tuple[int, float]:
    """Replay every message accepted in the last `WINDOW_S` through `limiter`, in accept order,
    as one reservation per request (the messages of one request share their account, creation
    time and text). Alarms already crossed are marked raised, not sent again. Returns (messages
    replayed, seconds taken). The content key is the one intake uses: crc32 of the sent text."""
    began = clock()
    first = await store.first_message_since(now - WINDOW_S)
    replayed = 0
    while first is not None:
        rows = await store.sends_from(first, BATCH)
        if not rows:
            break
        start = 0
        for i in range(1, len(rows) + 1):
            if i < len(rows):
                _, app_id, _, content, created_at = rows[i]
                _, app0, _, content0, created0 = rows[start]
                if app_id == app0 and created_at == created0 and content == content0:
                    continue  # the same request
            group = rows[start:i]
            _, app_id, phone, content, created_at = group[0]
            key = zlib.crc32(content.encode())
            # one request is one region (intake refuses mixed ones)
            limiter.reserve(app_id, [(row[2], key) for row in group], created_at,
                            region_of(phone) is Region.INTERNATIONAL, notify=False)
            start = i
        replayed += len(rows)
        first = rows[-1][0] + 1
    return replayed, clock() - began
