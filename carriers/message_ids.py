"""Message ids a simulated carrier hands out: a per-start prefix and a counter, written as hex, decimal or a UUID."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from carriers.fates import unit_hash


def _uuid(number: int) -> str:
    return str(uuid.UUID(int=number))


# "hex" as a bound str method: called once per submit, it costs no Python frame (format(n, "x")'s text)
_FORMATS: dict[str, Callable[[int], str]] = {"hex": "{:x}".format, "decimal": str, "uuid": _uuid}
_PREFIXES = 0xF0000000  # prefixes 0x10000000..0xFFFFFFFF: always 8 hex digits


def start_nonce() -> int:
    """32 random bits: what makes one start's ids differ from every other start's."""
    return int.from_bytes(os.urandom(4), "big")


class MessageIdMaker:
    """Ids are consecutive numbers whose top 32 bits are the start's prefix; `resp` and `receipt`
    write them in their forms.

    A restarted simulator must not hand out an id it handed out before (the engine would take a
    receipt for a new message as one for an old one), so the prefix comes from a nonce drawn per
    start, and two starts share ids only if their nonces agree (1 in 4 billion). The low 32 bits
    start at a point seeded from the profile's seed and have room for two billion ids per start.
    Every hex id is 16 characters; decimal ids have 19 or 20 digits. A fixed `nonce` gives the
    same ids on every start."""

    __slots__ = ("_next", "nonce", "resp", "receipt", "differs")

    def __init__(self, seed: int, resp_form: str = "hex", receipt_form: str = "", nonce: int | None = None) -> None:
        self.nonce = start_nonce() if nonce is None else nonce
        prefix = 0x10000000 + self.nonce % _PREFIXES
        self._next = (prefix << 32) + int(unit_hash(seed, "message-ids") * 0x80000000)
        self.resp = _FORMATS[resp_form]
        self.receipt = _FORMATS[receipt_form or resp_form]
        self.differs = bool(receipt_form) and receipt_form != resp_form

    def next_number(self) -> int:
        number = self._next
        self._next = number + 1
        return number
