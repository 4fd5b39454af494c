"""Request authentication: the legacy sha256 `sig`, the whole-request HMAC scheme, the time-skew
check and replay protection."""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from urllib.parse import quote, unquote

import msgspec

from smsengine.domain.errors import ErrorCode, SmsError


class AuthScheme(enum.StrEnum):
    """How an account signs its requests. `sig` accounts may already use `hmac` (so callers can
    move before the operator flips the account); `hmac` accounts refuse everything else (1049)."""

    SIG = "sig"
    HMAC = "hmac"


# -- the legacy scheme: sha256 over the key, random, time and numbers -----------------------------------
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


# -- the whole-request scheme: HMAC-SHA256 over method, path, query, app, time, nonce and body ----------
# Like Tencent Cloud API v3 and AWS SigV4: the caller signs a canonical form of the request it
# sends, so no part of it (content, params, numbers, path, query) can be changed in flight. The
# credentials travel in one header:
#   Authorization: SMSENGINE-HMAC-SHA256 AppId=demo, Timestamp=1700000000, Nonce=n-1, Signature=<hex>
HMAC_ALGORITHM = "SMSENGINE-HMAC-SHA256"
MAX_NONCE = 64
_NONCE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_UNRESERVED = "-._~"  # RFC 3986: with letters and digits, never percent-encoded
_HEX = frozenset("0123456789abcdef")
# bounds the header before it is split: four short fields fit in far less
MAX_AUTHORIZATION = 512


class HmacAuthorization(msgspec.Struct, frozen=True):
    """The fields of an `Authorization: SMSENGINE-HMAC-SHA256 ...` header."""

    app_id: str
    timestamp: int
    nonce: str
    signature: str


class SignedRequest(msgspec.Struct, frozen=True):
    """A request as the HMAC scheme sees it: the header's fields and the canonical form of what
    was received, to be verified against the account's key."""

    authorization: HmacAuthorization
    canonical: str


def is_hmac_authorization(header: str) -> bool:
    return header[: len(HMAC_ALGORITHM) + 1].upper() == HMAC_ALGORITHM + " "


def parse_authorization(header: str) -> HmacAuthorization:
    """The four fields (`AppId` percent-decoded); REQUEST_MALFORMED naming what is wrong, or
    SIG_MISSING for an empty signature. Field names are case-sensitive and each appears once."""
    if len(header) > MAX_AUTHORIZATION or not header.isascii() or not is_hmac_authorization(header):
        # ASCII only: a non-ASCII app id is percent-encoded
        raise SmsError(ErrorCode.REQUEST_MALFORMED, f"Authorization is not an ASCII {HMAC_ALGORITHM} header")
    fields: dict[str, str] = {}
    for part in header[len(HMAC_ALGORITHM) + 1 :].split(","):
        name, eq, value = part.strip().partition("=")
        if not eq or name in fields or name not in ("AppId", "Timestamp", "Nonce", "Signature"):
            raise SmsError(ErrorCode.REQUEST_MALFORMED, f"Authorization: unexpected {part.strip()[:20]!r}")
        fields[name] = value
    if not fields.get("Signature"):
        raise SmsError(ErrorCode.SIG_MISSING, "Authorization has no Signature")
    missing = [n for n in ("AppId", "Timestamp", "Nonce") if not fields.get(n)]
    if missing:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, f"Authorization lacks {', '.join(missing)}")
    timestamp = fields["Timestamp"]
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SmsError(ErrorCode.REQUEST_MALFORMED, "Authorization: Timestamp is unix seconds")
    nonce = fields["Nonce"]
    if len(nonce) > MAX_NONCE or not _NONCE_CHARS.issuperset(nonce):
        raise SmsError(ErrorCode.REQUEST_MALFORMED,
                       f"Authorization: Nonce is 1 to {MAX_NONCE} of A-Z a-z 0-9 - . _ ~")
    try:
        app_id = unquote(fields["AppId"], errors="strict")
    except UnicodeDecodeError:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, "Authorization: AppId is percent-encoded UTF-8") from None
    return HmacAuthorization(app_id, int(timestamp), nonce, fields["Signature"].lower())


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The decoded query pairs, each side percent-encoded (UTF-8; only RFC 3986 unreserved
    characters stay as they are), sorted by encoded name then value (plain ASCII order, the same
    in every language), joined with `&`."""
    encoded = sorted((quote(k, safe=_UNRESERVED), quote(v, safe=_UNRESERVED)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def canonical_request(method: str, path: str, query: str, app_id: str, timestamp: int, nonce: str,
                      body: bytes) -> str:
    """What the HMAC covers, one item a line: algorithm, method, path as sent (percent-encoded,
    no query), canonical query, app id, timestamp, nonce, lowercase hex sha256 of the body."""
    return "\n".join((HMAC_ALGORITHM, method.upper(), path, query, app_id, str(timestamp), nonce,
                      hashlib.sha256(body).hexdigest()))


def hmac_signature(key: str, canonical: str) -> str:
    """Lowercase hex HMAC-SHA256 of the canonical request, keyed with the account's key (UTF-8)."""
    return hmac.new(key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def verify_hmac(key: str, canonical: str, signature: str) -> None:
    given = signature.lower()
    if not (len(given) == 64 and _HEX.issuperset(given)):
        given = ""  # still compared below: the work does not depend on what was sent
    if not hmac.compare_digest(hmac_signature(key, canonical).encode(), given.encode()):
        raise SmsError(ErrorCode.SIG_INVALID)


# -- time and replays ---------------------------------------------------------------------------------
def check_time(request_time: int, now: float, max_skew: float) -> None:
    if abs(now - request_time) > max_skew:
        raise SmsError(ErrorCode.REQUEST_TIME_INVALID, f"time {request_time} is {now - request_time:+.0f}s off")


class ReplayGuard:
    """Remembers (app, nonce, time) triples while their time is inside the skew window (the
    legacy scheme's nonce is its `random`). Older requests are refused by the time check anyway,
    so once per bucket span the buckets before the window are dropped wholesale: memory is the
    requests of one window plus two buckets (a bucket is a tenth of the window). The clock is the
    caller's `now`."""

    __slots__ = ("max_skew", "_buckets", "_bucket_span", "_next_expiry")

    def __init__(self, max_skew: float, buckets_per_window: int = 10) -> None:
        self.max_skew = max_skew
        self._bucket_span = max(1, int(max_skew) // buckets_per_window)
        self._buckets: dict[int, set[tuple[str, str, int]]] = {}
        self._next_expiry = 0.0

    def check_and_remember(self, app_id: str, nonce: str, request_time: int, now: float) -> int | None:
        """Raise REQUEST_REPLAYED for a second use; call after the signature was verified, so a
        forged request cannot burn a legitimate caller's nonce. Returns the time before which
        entries were just forgotten, or None when this call forgot nothing."""
        # expiry first: a replayed request must not keep old buckets alive past their time
        # (the next expiry's horizon also covers whatever a refused call forgot)
        forgot = self._expire(now) if now >= self._next_expiry else None
        key = (app_id, nonce, request_time)
        bucket = request_time // self._bucket_span
        seen = self._buckets.get(bucket)
        if seen is None:
            seen = self._buckets[bucket] = set()
        elif key in seen:
            raise SmsError(ErrorCode.REQUEST_REPLAYED)
        seen.add(key)
        return forgot

    def remember(self, app_id: str, nonce: str, request_time: int) -> None:
        """A request seen before (loaded at start): refused from now on."""
        self._buckets.setdefault(request_time // self._bucket_span, set()).add((app_id, nonce, request_time))

    def horizon(self, now: float) -> int:
        """Requests with a time before this are not remembered (nor needed: check_time refuses
        them); it trails the window's start by less than a bucket."""
        return (int(now - self.max_skew) // self._bucket_span) * self._bucket_span

    def _expire(self, now: float) -> int | None:
        self._next_expiry = now + self._bucket_span
        oldest = self.horizon(now) // self._bucket_span
        old = [b for b in self._buckets if b < oldest]
        for bucket in old:
            del self._buckets[bucket]
        return oldest * self._bucket_span if old else None

    def tracked(self) -> int:
        return sum(len(s) for s in self._buckets.values())
