"""Per-number fates: what happens to a message for a number, decided from (seed, number) alone so runs replay.

Receipt `err` codes, one per fate so experiments can tell failures apart:

| fate                | at submit         | receipt stat | err | message_state  |
|---------------------|-------------------|--------------|-----|----------------|
| delivered           | accepted          | DELIVRD      | 000 | DELIVERED      |
| empty               | accepted          | UNDELIV      | 001 | UNDELIVERABLE  |  unknown / empty number
| powered_off         | accepted          | DELIVRD      | 000 | DELIVERED      |  after a long hold ...
|   (hold > validity) | accepted          | EXPIRED      | 027 | EXPIRED        |  ... or expired at validity end
| out_of_service      | accepted          | UNDELIV      | 013 | UNDELIVERABLE  |  barred / no credit
| inbox_full          | accepted          | UNDELIV      | 020 | UNDELIVERABLE  |  memory capacity exceeded
| poor_reception      | accepted          | DELIVRD      | 000 | DELIVERED      |  after a long delay
| blocked             | accepted          | UNDELIV      | 011 | UNDELIVERABLE  |  the carrier's own blocklist
| sensitive (content) | accepted          | REJECTD      | 069 | REJECTED       |  a sensitive word in the text
| invalid_destination | ESME_RINVDSTADR   | (none)       |  -  |  -             |
"""

from __future__ import annotations

import enum
import hashlib

from smsengine.smpp.constants import MessageState

from carriers.config import FateRule, FateShares


class Fate(enum.Enum):
    # Members are singletons: hash them by identity, in C, not by Enum's Python-level hash of the
    # name (OUTCOMES[fate] is looked up on every accepted submit).
    __hash__ = object.__hash__

    DELIVERED = "delivered"
    EMPTY = "empty"
    POWERED_OFF = "powered_off"
    OUT_OF_SERVICE = "out_of_service"
    INBOX_FULL = "inbox_full"
    POOR_RECEPTION = "poor_reception"
    BLOCKED = "blocked"
    SENSITIVE = "sensitive"
    INVALID_DESTINATION = "invalid_destination"


class Outcome:
    """The receipt a fate ends in."""

    __slots__ = ("stat", "err", "state", "delivered", "state_byte")

    def __init__(self, stat: str, err: int, state: MessageState) -> None:
        self.stat = stat
        self.err = err
        self.state = state
        self.delivered = state == MessageState.DELIVERED
        self.state_byte = bytes((state,))  # the message_state TLV value, pre-encoded

    def __repr__(self) -> str:
        return f"Outcome({self.stat}, err={self.err:03d})"


DELIVERED = Outcome("DELIVRD", 0, MessageState.DELIVERED)
EXPIRED = Outcome("EXPIRED", 27, MessageState.EXPIRED)
OUTCOMES: dict[Fate, Outcome] = {
    Fate.DELIVERED: DELIVERED,
    Fate.EMPTY: Outcome("UNDELIV", 1, MessageState.UNDELIVERABLE),
    Fate.POWERED_OFF: DELIVERED,
    Fate.OUT_OF_SERVICE: Outcome("UNDELIV", 13, MessageState.UNDELIVERABLE),
    Fate.INBOX_FULL: Outcome("UNDELIV", 20, MessageState.UNDELIVERABLE),
    Fate.POOR_RECEPTION: DELIVERED,
    Fate.BLOCKED: Outcome("UNDELIV", 11, MessageState.UNDELIVERABLE),
    Fate.SENSITIVE: Outcome("REJECTD", 69, MessageState.REJECTED),
}

# What GET /status/{number} reports: the subscriber's state as a number-status lookup would see it.
NUMBER_STATUS: dict[Fate, str] = {
    Fate.DELIVERED: "ok",
    Fate.EMPTY: "empty",
    Fate.POWERED_OFF: "powered_off",
    Fate.OUT_OF_SERVICE: "out_of_service",
    Fate.INBOX_FULL: "inbox_full",
    Fate.POOR_RECEPTION: "poor_reception",
    Fate.BLOCKED: "ok",  # the subscriber is fine; the carrier blocks the sender's traffic to it
    Fate.SENSITIVE: "ok",
    Fate.INVALID_DESTINATION: "invalid",
}

_SHARE_ORDER = (
    Fate.EMPTY,
    Fate.POWERED_OFF,
    Fate.OUT_OF_SERVICE,
    Fate.INBOX_FULL,
    Fate.POOR_RECEPTION,
    Fate.BLOCKED,
    Fate.INVALID_DESTINATION,
)


def unit_hash(seed: int, key: str) -> float:
    """A uniform draw in [0, 1) that depends only on (seed, key): the same on every run and machine."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 18446744073709551616.0


def plausible_number(number: str) -> bool:
    """E.164 shape: optional "+", then 6..15 digits (shorter or longer cannot be a subscriber)."""
    digits = number[1:] if number[:1] == "+" else number
    return 6 <= len(digits) <= 15 and digits.isdigit() and digits.isascii()


class FateTable:
    """Fate of each number: explicit rules first, then the seeded hash against cumulative shares."""

    __slots__ = ("seed", "_bounds", "_rules")

    def __init__(self, seed: int, shares: FateShares, rules: list[FateRule] = ()) -> None:
        self.seed = seed
        bounds: list[tuple[float, Fate]] = []
        total = 0.0
        for fate in _SHARE_ORDER:
            share = getattr(shares, fate.value)
            if share > 0:
                total += share
                bounds.append((total, fate))
        self._bounds = tuple(bounds)
        self._rules = tuple((rule.prefix, rule.first, rule.last, Fate(rule.fate)) for rule in rules)

    def fate_of(self, number: str) -> Fate:
        if not plausible_number(number):
            return Fate.INVALID_DESTINATION
        digits = number[1:] if number[0] == "+" else number
        for prefix, first, last, fate in self._rules:
            if prefix and not digits.startswith(prefix):
                continue
            if first and not (len(first) <= len(digits) <= len(last) and _within(digits, first, last)):
                continue
            return fate
        if not self._bounds:
            return Fate.DELIVERED
        draw = unit_hash(self.seed, digits)
        for bound, fate in self._bounds:
            if draw < bound:
                return fate
        return Fate.DELIVERED


def _within(digits: str, first: str, last: str) -> bool:
    return int(first) <= int(digits) <= int(last)
