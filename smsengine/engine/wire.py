"""A message in one carrier's wire form: the submit_sm body of each part after the destination,
encoded once per text and concatenation method."""

from __future__ import annotations

from smsengine.engine.jobs import InFlight
from smsengine.smpp.codec import submit_sm_tail
from smsengine.smpp.concatenation import ConcatMethod, ReferenceRotor, wire_parts


class WireFormat:
    """How one carrier wants long messages split (`concat`). References come from one rotor
    shared by every carrier, and a failover keeps the message's reference, so parts sent on
    either carrier still reassemble on the handset."""

    __slots__ = ("concat", "rotor")

    def __init__(self, concat: ConcatMethod, rotor: ReferenceRotor) -> None:
        self.concat = concat
        self.rotor = rotor

    def prepare(self, flight: InFlight, cache: dict | None = None) -> None:
        """Give `flight` its wire form for this carrier. `cache` (one per routed batch) shares the
        encoded body of a single-part text among every message of the batch that carries it."""
        concat = self.concat
        if flight.wire is not None and flight.concat is concat:
            return
        seg = flight.seg
        single = len(seg.payloads) == 1
        if single and cache is not None:
            key = (seg.payloads[0], seg.data_coding, concat)
            wire = cache.get(key)
            if wire is not None:
                flight.wire, flight.concat, flight.parts = wire, concat, 1
                return
        if not single and flight.reference is None:
            flight.reference = self.rotor.next(flight.record.phone)
        parts = wire_parts(seg.payloads, concat, flight.reference or 0)
        data_coding = seg.data_coding
        # registered_delivery 1: a receipt for every final state
        wire = [submit_sm_tail(p.esm_class, 1, data_coding, p.short_message, p.tlvs) for p in parts]
        flight.wire, flight.concat, flight.parts = wire, concat, len(wire)
        if single and cache is not None:
            cache[(seg.payloads[0], data_coding, concat)] = wire
