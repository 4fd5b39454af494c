"""Message ids a simulated carrier hands out: a counter written as hex, decimal or a UUID."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from carriers.fates import unit_hash


def _hex(number: int) -> str:
    return format(number, "x")


def _uuid(number: int) -> str:
    return str(uuid.UUID(int=number))


_FORMATS: dict[str, Callable[[int], str]] = {"hex": _hex, "decimal": str, "uuid": _uuid}


class MessageIdMaker:
    """Ids are consecutive numbers from a seeded start; `resp` and `receipt` write them in their forms.

    The start lies in [0x10000000, 0x50000000): hex ids are 8 characters for the next billions."""

    __slots__ = ("_next", "resp", "receipt", "differs")

    def __init__(self, seed: int, resp_form: str = "hex", receipt_form: str = "") -> None:
        self._next = 0x10000000 + int(unit_hash(seed, "message-ids") * 0x40000000)
        self.resp = _FORMATS[resp_form]
        self.receipt = _FORMATS[receipt_form or resp_form]
        self.differs = bool(receipt_form) and receipt_form != resp_form

    def next_number(self) -> int:
        number = self._next
        self._next = number + 1
        return number
