"""Mobile-originated replies: which text a recipient sends back, and the deliver_sm PDUs that carry it."""

from __future__ import annotations

import bisect
import itertools
import random

from smsengine.domain.text import Scheme, segment
from smsengine.smpp import ConcatMethod, DeliverSm, ReferenceRotor, wire_parts

# The keywords SPEC §7 treats as unsubscribe requests; a reply mix should contain some of them.
UNSUBSCRIBE_KEYWORDS = ("T", "N", "TD", "Unsubscribe", "QX", "0000")


class ReplyMix:
    """Weighted choice of reply texts."""

    __slots__ = ("_texts", "_cumulative")

    def __init__(self, mix: dict[str, float]) -> None:
        items = [(text, weight) for text, weight in mix.items() if weight > 0]
        if not items:
            raise ValueError("a reply mix needs at least one text with a positive weight")
        self._texts = [text for text, _ in items]
        self._cumulative = list(itertools.accumulate(weight for _, weight in items))

    def choose(self, rng: random.Random) -> str:
        return self._texts[bisect.bisect_right(self._cumulative, rng.random() * self._cumulative[-1])]


def mo_pdus(text: str, recipient: str, original_source: str, rotor: ReferenceRotor) -> list[DeliverSm]:
    """The deliver_sm PDUs (esm_class 0, UDH parts for a long reply) for a reply from `recipient`.

    The reply goes back to the address the original message came from."""
    seg = segment(text, Scheme.GSM)
    reference = rotor.next(recipient) if seg.segments > 1 else 0
    return [
        DeliverSm(
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=recipient,
            destination_addr=original_source,
            esm_class=part.esm_class,
            data_coding=seg.data_coding,
            short_message=part.short_message,
        )
        for part in wire_parts(seg.payloads, ConcatMethod.UDH, reference)
    ]
