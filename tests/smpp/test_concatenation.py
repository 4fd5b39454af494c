"""Concatenation headers on the wire, reading them back, and reference rotation."""

from hypothesis import given, settings
from hypothesis import strategies as st

from smsengine.domain.text import Scheme, segment
from smsengine.smpp.codec import decode_pdu, encode_pdu
from smsengine.smpp.concatenation import ConcatMethod, ReferenceRotor, parse_part, parse_udh, udh, wire_parts
from smsengine.smpp.constants import EsmClass, Tag
from smsengine.smpp.pdu import SubmitSm


def test_udh_layout():
    assert udh(0x1A2, 3, 1) == bytes.fromhex("050003a20301")
    assert parse_udh(bytes.fromhex("050003a20301") + b"body") == (0xA2, 3, 1, b"body")
    assert parse_udh(bytes.fromhex("06080401020301") + b"x") == (0x0102, 3, 1, b"x")
    assert parse_udh(b"\x05\x00\x03") is None  # truncated header
    assert parse_udh(b"") is None


def test_single_part_has_no_header():
    seg = segment("hello", Scheme.GSM)
    for method in (ConcatMethod.UDH, ConcatMethod.SAR):
        (part,) = wire_parts(seg.payloads, method, 7)
        assert part.short_message == b"hello" and part.esm_class == 0 and part.tlvs == {}


def test_udh_parts():
    seg = segment("a" * 200, Scheme.GSM)
    parts = wire_parts(seg.payloads, ConcatMethod.UDH, 0x1FF)
    assert len(parts) == 2
    for i, part in enumerate(parts, 1):
        assert part.esm_class == EsmClass.UDHI
        assert part.short_message[:6] == bytes((5, 0, 3, 0xFF, 2, i))
    assert parts[0].short_message[6:] == b"a" * 153


def test_sar_parts():
    seg = segment("中" * 100, Scheme.DOMESTIC)
    parts = wire_parts(seg.payloads, ConcatMethod.SAR, 0x1234)
    assert [p.tlvs[Tag.SAR_SEGMENT_SEQNUM] for p in parts] == [1, 2]
    assert all(p.tlvs[Tag.SAR_TOTAL_SEGMENTS] == 2 for p in parts)
    assert all(p.tlvs[Tag.SAR_MSG_REF_NUM] == 0x1234 for p in parts)
    assert b"".join(p.short_message for p in parts).decode("utf-16-be") == "中" * 100


def test_payload_is_the_whole_message():
    seg = segment("中" * 100, Scheme.DOMESTIC)
    (part,) = wire_parts(seg.payloads, ConcatMethod.PAYLOAD, 1)
    assert part.short_message == b""
    assert part.tlvs[Tag.MESSAGE_PAYLOAD] == seg.payload
    assert part.tlvs[Tag.MESSAGE_PAYLOAD].decode("utf-16-be") == "中" * 100


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=134), min_size=1, max_size=8),
    st.sampled_from(list(ConcatMethod)),
    st.integers(0, 0xFFFF),
)
def test_parts_read_back_through_the_codec(payloads, method, reference):
    """What wire_parts puts in a submit_sm, parse_part takes out again after a trip through the codec."""
    parts = wire_parts(payloads, method, reference)
    read = []
    for part in parts:
        sent = SubmitSm(1, esm_class=part.esm_class, short_message=part.short_message, tlvs=part.tlvs)
        pdu = decode_pdu(encode_pdu(sent))
        read.append(parse_part(pdu.short_message, pdu.esm_class, pdu.tlvs))
    assert b"".join(body for body, _ in read) == b"".join(payloads)
    numbers = [number for _, number in read]
    if method is ConcatMethod.PAYLOAD or len(payloads) == 1:
        assert numbers == [None]
    else:
        ref = reference & (0xFF if method is ConcatMethod.UDH else 0xFFFF)
        assert numbers == [(ref, len(payloads), i) for i in range(1, len(payloads) + 1)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["+8613800138000", "+14155550123", "+447911123456"]), min_size=2, max_size=250))
def test_references_rotate_per_destination(destinations):
    rotor = ReferenceRotor(slots=8)
    last: dict[str, int] = {}
    for dest in destinations:
        ref = rotor.next(dest)
        assert 0 <= ref <= 0xFFFF
        if dest in last:
            assert ref & 0xFF != last[dest] & 0xFF  # consecutive UDH refs differ
        last[dest] = ref
