"""A message in one carrier's wire form: the submit_sm body of each part after the destination,
encoded once per text, concatenation method and vendor TLVs."""

from __future__ import annotations

from smsengine.engine.jobs import InFlight
from smsengine.smpp.codec import encode_tlvs, submit_sm_tail
from smsengine.smpp.concatenation import ConcatMethod, ReferenceRotor, wire_parts
from smsengine.smpp.vendor_tlvs import with_defaults


class WireFormat:
    """How one carrier wants long messages split (`concat`), and the vendor TLVs it wants on every
    submit_sm (`defaults`, by tag; a message's own of the same tag win). References come from one
    rotor shared by every carrier, and a failover keeps the message's reference, so parts sent on
    either carrier still reassemble on the handset."""

    __slots__ = ("concat", "rotor", "defaults", "default_tlvs", "_method")

    def __init__(self, concat: ConcatMethod, rotor: ReferenceRotor, defaults: dict[int, bytes] | None = None) -> None:
        self.concat = concat
        self.rotor = rotor
        # the method in cache keys as its str: hashed in C, where the Enum's __hash__ is Python
        # (~250 ns of the ~600 a cached single-part message cost; it pays for the vendor TLVs' key)
        self._method = concat.value
        self.defaults = defaults or {}
        self.default_tlvs = encode_tlvs(self.defaults)  # what a message without its own carries

    def prepare(self, flight: InFlight, cache: dict | None = None) -> None:
        """Give `flight` its wire form for this carrier. `cache` (one per routed batch) shares the
        encoded body of a single-part text among every message of the batch that carries it with
        the same vendor TLVs (one request's messages share theirs)."""
        concat = self.concat
        tlvs = flight.record.tlvs
        # no TLVs of its own (the usual case): the carrier's, b"" for most, with nothing to merge
        vendor = self.default_tlvs if tlvs is None else with_defaults(tlvs, self.defaults)
        if flight.wire is not None and flight.concat is concat and flight.vendor_tlvs == vendor:
            return
        seg = flight.seg
        single = len(seg.payloads) == 1
        if single and cache is not None:
            key = (seg.payloads[0], seg.data_coding, self._method, vendor)
            wire = cache.get(key)
            if wire is not None:
                flight.wire, flight.concat, flight.parts, flight.vendor_tlvs = wire, concat, 1, vendor
                return
        if not single and flight.reference is None:
            flight.reference = self.rotor.next(flight.record.phone)
        parts = wire_parts(seg.payloads, concat, flight.reference or 0)
        data_coding = seg.data_coding
        # registered_delivery 1: a receipt for every final state; every part carries the vendor TLVs
        wire = [submit_sm_tail(p.esm_class, 1, data_coding, p.short_message, p.tlvs, vendor) for p in parts]
        flight.wire, flight.concat, flight.parts, flight.vendor_tlvs = wire, concat, len(wire), vendor
        if single and cache is not None:
            cache[(seg.payloads[0], data_coding, self._method, vendor)] = wire
