"""Request authentication: the sha256 signature, the time-skew check and replay protection."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from smsengine.domain.errors import ErrorCode, SmsError


def request_sig(key: str, random: int, time: int, mobiles: Sequence[str]) -> str:
    """Lowercase hex sha256 of `appkey=KEY&random=R&time=T&mobile=N1,N2,...` (numbers as given)."""
    text = f"appkey={key}&random={random}&time={time}&mobile={','.join(mobiles)}"
    return hashlib.sha256(text.encode()).hexdigest()


def verify_sig(key: str, random: int, time: int, mobiles: Sequence[str], sig: str) -> None:
    if not sig:
        raise SmsError(ErrorCode.SIG_MISSING)
    # as bytes: compare_digest refuses non-ASCII str, which would be a 500 instead of a 401
    if not hmac.compare_digest(request_sig(key, random, time, mobiles).encode(), sig.lower().encode()):
        raise SmsError(ErrorCode.SIG_INVALID)


def check_time(request_time: int, now: float, max_skew: float) -> None:
    if abs(now - request_time) > max_skew:
        raise SmsError(ErrorCode.REQUEST_TIME_INVALID, f"time {request_time} is {now - request_time:+.0f}s off")


class ReplayGuard:
    """Remembers (app, random, time) triples while their time is inside the skew window; older
    requests are refused by the time check anyway, so their buckets are dropped wholesale."""

    __slots__ = ("max_skew", "_buckets", "_bucket_span")

    def __init__(self, max_skew: float) -> None:
        self.max_skew = max_skew
        self._bucket_span = max(1, int(max_skew))
        self._buckets: dict[int, set[tuple[str, int, int]]] = {}

    def check_and_remember(self, app_id: str, random: int, request_time: int, now: float) -> None:
        """Raise REQUEST_REPLAYED for a second use; call after the signature was verified, so a
        forged request cannot burn a legitimate caller's (random, time) pair."""
        key = (app_id, random, request_time)
        bucket = request_time // self._bucket_span
        seen = self._buckets.get(bucket)
        if seen is None:
            seen = self._buckets[bucket] = set()
            self._expire(now)
        elif key in seen:
            raise SmsError(ErrorCode.REQUEST_REPLAYED)
        seen.add(key)

    def _expire(self, now: float) -> None:
        oldest = int(now - self.max_skew) // self._bucket_span - 1
        for bucket in [b for b in self._buckets if b < oldest]:
            del self._buckets[bucket]

    def tracked(self) -> int:
        return sum(len(s) for s in self._buckets.values())
