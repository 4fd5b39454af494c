"""Short links (SPEC §8a): the code a link is known by, the targets it may point at, and the reach
statistics counted per link.

A code is CODE_LENGTH characters of base62 drawn from `secrets`: 62**7 ≈ 3.5e12 codes, so with an
account at its bound of MAX_LINKS_PER_ACCOUNT (10,000) links and every account of a large gateway
full, a guess still hits a live code less than once in a million tries; a collision with an
existing code on creation is retried (the store's UNIQUE constraint says so). Codes are URL-safe
as they are (no percent-encoding), and fixed length, so a template's link text is fixed too:
`{public_base_url}/s/{code}`.

The target is bounded (2,048 characters, the API's URL limit), absolute http(s) with a host,
printable ASCII only: it goes back verbatim in a `Location` header, where a control character
would split the response and non-ASCII has no defined encoding (an IRI is sent percent-encoded).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from urllib.parse import urlsplit

import msgspec

from smsengine.domain.errors import ErrorCode, SmsError

ALPHABET = string.digits + string.ascii_letters  # base62: URL-safe without escaping
CODE_LENGTH = 7
MAX_LINKS_PER_ACCOUNT = 10_000
MAX_TARGET = 2048
MAX_USER_AGENT = 256  # what a click keeps of its User-Agent header
HOUR = 3600
STATS_HOURS = 7 * 24  # per-hour counts cover the last 7 days
_CODE_CHARS = frozenset(ALPHABET)


class ShortLink(msgspec.Struct, frozen=True):
    """One account's link: `code` redirects to `url`."""

    id: int  # its place in the account's list (the paging cursor)
    code: str
    app_id: str
    url: str
    created_at: float


class HourClicks(msgspec.Struct, frozen=True):
    """Clicks in the UTC hour starting at `hour` (unix seconds, a multiple of 3600)."""

    hour: int
    clicks: int


class ClickStats(msgspec.Struct, frozen=True):
    """Every click on a link, and those of the hours since `since` that had any, oldest first."""

    total: int
    since: int
    hours: list[HourClicks]


def new_code(choose: Callable[[str], str] = secrets.choice) -> str:
    """A fresh code; `choose` picks one character of the alphabet (secrets.choice unless a test
    wants collisions)."""
    return "".join(choose(ALPHABET) for _ in range(CODE_LENGTH))


def is_code(text: str) -> bool:
    """Whether `text` could be a code at all: anything else is not looked up."""
    return len(text) == CODE_LENGTH and all(c in _CODE_CHARS for c in text)


def check_target(url: str) -> str:
    """The target as given when it may be redirected to; else REQUEST_MALFORMED naming why."""
    if not 0 < len(url) <= MAX_TARGET:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, f"url must be 1 to {MAX_TARGET} characters")
    if not all(" " < c < "\x7f" for c in url):
        raise SmsError(ErrorCode.REQUEST_MALFORMED,
                       "url must be printable ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, "url does not parse") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise SmsError(ErrorCode.REQUEST_MALFORMED, "url must be an absolute http(s) URL with a host")
    return url


def short_url(base: str, code: str) -> str:
    """The link text a template carries: `base` is the engine's public address (links.public_base_url)."""
    return f"{base.rstrip('/')}/s/{code}"


def user_agent(header: str) -> str:
    """What a click keeps of its User-Agent: the first 256 characters, as valid UTF-8 (header bytes
    that are not UTF-8 reach us as lone surrogates, which no encoder takes: each becomes '?')."""
    return header[:MAX_USER_AGENT].encode("utf-8", "replace").decode("utf-8")


def hour_of(at: float) -> int:
    """The start of the UTC hour `at` falls in."""
    return int(at // HOUR) * HOUR


def stats_since(now: float) -> int:
    """The first hour the per-hour counts cover: the current one and the STATS_HOURS - 1 before."""
    return hour_of(now) - (STATS_HOURS - 1) * HOUR
