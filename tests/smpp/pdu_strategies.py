"""Hypothesis strategies for every SMPP PDU type, built from the codec's own field layouts."""

from __future__ import annotations

from hypothesis import strategies as st

from smsengine.smpp.codec import CSTRING, DESTINATIONS, LAYOUTS, SHORT_MESSAGE, U8
from smsengine.smpp.constants import MAX_SEQUENCE, TLV_KINDS, TlvKind
from smsengine.smpp.pdu import (
    PDU_CLASSES,
    DistributionList,
    NetworkErrorCode,
    Pdu,
    SmeDestination,
    UnsuccessSme,
)

u8 = st.integers(0, 0xFF)


def cstring(size: int) -> st.SearchStrategy[str]:
    """A c-string value that fits `size` octets with its NUL (latin-1, no NUL inside)."""
    return st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=size - 1)


def _tlv_value(tag: int) -> st.SearchStrategy:
    kind, size = TLV_KINDS[tag]
    if kind is TlvKind.CSTRING:
        return cstring(size)
    if kind is TlvKind.NETWORK_ERROR:
        return st.builds(NetworkErrorCode, u8, st.integers(0, 0xFFFF))
    if kind is TlvKind.OCTETS:
        return st.binary(min_size=size, max_size=size) if size else st.binary(max_size=300)
    return st.integers(0, (1 << (8 * kind.value)) - 1)


known_tlv = st.sampled_from(sorted(TLV_KINDS)).flatmap(lambda tag: st.tuples(st.just(tag), _tlv_value(tag)))
# 0x1400-0x3FFF is the range SMPP 3.4 leaves to vendors: carrier-specific tags live there.
vendor_tlv = st.tuples(st.integers(0x1400, 0x3FFF), st.binary(max_size=40))
tlvs = st.lists(st.one_of(known_tlv, vendor_tlv), max_size=5).map(dict)

sme_destination = st.builds(SmeDestination, u8, u8, cstring(21))
destination = st.one_of(sme_destination, st.builds(DistributionList, cstring(21)))
unsuccess_sme = st.builds(UnsuccessSme, u8, u8, cstring(21), st.integers(0, 0xFFFFFFFF))


def _field(kind: int, size: int) -> st.SearchStrategy:
    if kind == CSTRING:
        return cstring(size)
    if kind == U8:
        return u8
    if kind == SHORT_MESSAGE:
        return st.binary(max_size=size)
    if kind == DESTINATIONS:
        return st.lists(destination, max_size=5)
    return st.lists(unsuccess_sme, max_size=5)


def pdus_of(cls: type[Pdu]) -> st.SearchStrategy[Pdu]:
    fields = {name: _field(kind, size) for kind, name, size, _ in LAYOUTS[cls.command_id]}
    return st.builds(
        cls,
        sequence_number=st.integers(1, MAX_SEQUENCE),
        command_status=st.one_of(st.just(0), st.integers(0, 0x500)),
        tlvs=tlvs,
        **fields,
    )


any_pdu = st.sampled_from(list(PDU_CLASSES.values())).flatmap(pdus_of)
