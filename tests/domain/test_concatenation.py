"""Concatenation headers on the wire and reference rotation."""

from hypothesis import given, settings, strategies as st

from smsengine.domain.concatenation import (
    ESM_CLASS_UDHI,
    TAG_MESSAGE_PAYLOAD,
    TAG_SAR_MSG_REF_NUM,
    TAG_SAR_SEGMENT_SEQNUM,
    TAG_SAR_TOTAL_SEGMENTS,
    ConcatMethod,
    ReferenceRotor,
    parse_udh,
    udh,
    wire_parts,
)
from smsengine.domain.text import Scheme, segment


def test_udh_layout():
    assert udh(0x1A2, 3, 1) == bytes.fromhex("050003a20301")
    assert parse_udh(bytes.fromhex("050003a20301") + b"body") == (0xA2, 3, 1, b"body")
    assert parse_udh(bytes.fromhex("06080401020301") + b"x") == (0x0102, 3, 1, b"x")
    assert parse_udh(b"\x05\x00\x03") is None  # truncated header


def test_single_part_has_no_header():
    seg = segment("hello", Scheme.GSM)
    for method in (ConcatMethod.UDH, ConcatMethod.SAR):
        (part,) = wire_parts(seg, method, 7)
        assert part.short_message == b"hello" and part.esm_class == 0 and part.tlvs == {}


def test_udh_parts():
    seg = segment("a" * 200, Scheme.GSM)
    parts = wire_parts(seg, ConcatMethod.UDH, 0x1FF)
    assert len(parts) == 2
    for i, part in enumerate(parts, 1):
        assert part.esm_class == ESM_CLASS_UDHI
        assert part.short_message[:6] == bytes((5, 0, 3, 0xFF, 2, i))
    assert parts[0].short_message[6:] == b"a" * 153


def test_sar_parts():
    seg = segment("中" * 100, Scheme.DOMESTIC)
    parts = wire_parts(seg, ConcatMethod.SAR, 0x1234)
    assert [p.tlvs[TAG_SAR_SEGMENT_SEQNUM] for p in parts] == [1, 2]
    assert all(p.tlvs[TAG_SAR_TOTAL_SEGMENTS] == 2 for p in parts)
    assert all(p.tlvs[TAG_SAR_MSG_REF_NUM] == 0x1234 for p in parts)
    assert b"".join(p.short_message for p in parts).decode("utf-16-be") == "中" * 100


def test_payload():
    seg = segment("中" * 100, Scheme.DOMESTIC)
    (part,) = wire_parts(seg, ConcatMethod.PAYLOAD, 1)
    assert part.short_message == b""
    assert part.tlvs[TAG_MESSAGE_PAYLOAD].decode("utf-16-be") == "中" * 100


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
