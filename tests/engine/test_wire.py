"""WireFormat: a message's submit_sm tails for one carrier's concatenation method, checked by
decoding whole PDUs built from them as the pool builds them."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsengine.domain import gsm7
from smsengine.domain.text import Scheme, Segmentation, segment
from smsengine.engine.jobs import InFlight
from smsengine.engine.records import MessageRecord
from smsengine.engine.wire import WireFormat
from smsengine.smpp.codec import decode_pdu, submit_sm_body, submit_sm_head
from smsengine.smpp.concatenation import ConcatMethod, ReferenceRotor
from smsengine.smpp.constants import CommandId, EsmClass, Tag
from smsengine.smpp.pdu import SubmitSm

PHONE = "+8613800000001"
LONG = "长" * 150  # 3 UCS-2 parts
HEAD = submit_sm_head("", 5, 0, "smsengine", 1, 1)
_ids = itertools.count(1)


def flight(text: str, phone: str = PHONE, scheme: Scheme = Scheme.DOMESTIC,
           seg: Segmentation | None = None) -> InFlight:
    seg = seg or segment(text, scheme)
    record = MessageRecord(id=next(_ids), app_id="app", phone=phone, content=text, type="regular",
                           chars=seg.chars, segments=seg.segments, data_coding=seg.data_coding, created_at=0.0)
    return InFlight(record, seg)


def submit_sm(tail: bytes, destination: str = PHONE[1:], sequence: int = 7) -> SubmitSm:
    """The PDU the pool would write for this tail."""
    body = submit_sm_body(HEAD, destination, tail)
    pdu = decode_pdu(struct.pack(">IIII", 16 + len(body), CommandId.SUBMIT_SM, 0, sequence) + body)
    assert isinstance(pdu, SubmitSm)
    return pdu


def test_the_tail_decodes_to_the_submit_sm_we_mean():
    f = flight("hello")
    WireFormat(ConcatMethod.UDH, ReferenceRotor()).prepare(f)
    [tail] = f.wire
    pdu = submit_sm(tail)
    assert (pdu.service_type, pdu.source_addr_ton, pdu.source_addr) == ("", 5, "smsengine")
    assert (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr) == (1, 1, PHONE[1:])
    assert (pdu.schedule_delivery_time, pdu.validity_period) == ("", "")
    assert pdu.registered_delivery == 1  # a receipt for every final state
    assert (pdu.esm_class, pdu.data_coding, pdu.short_message, pdu.tlvs) == (0, 8, "hello".encode("utf-16-be"), {})
    assert (f.parts, f.reference) == (1, None)


def test_a_gsm_text_goes_out_as_unpacked_septets_with_data_coding_0():
    f = flight("Price: 5€ {ok}", scheme=Scheme.GSM)
    WireFormat(ConcatMethod.SAR, ReferenceRotor()).prepare(f)
    pdu = submit_sm(f.wire[0])
    assert pdu.data_coding == 0
    assert gsm7.decode(pdu.short_message) == "Price: 5€ {ok}"


def test_single_part_texts_of_one_batch_share_one_encoded_body():
    wire = WireFormat(ConcatMethod.UDH, ReferenceRotor())
    seg = segment("Your code is 1234", Scheme.DOMESTIC)
    flights = [flight(seg.text, f"+86138000000{i:02d}", seg=seg) for i in range(5)]
    cache: dict = {}
    for f in flights:
        wire.prepare(f, cache)
    assert all(f.wire is flights[0].wire for f in flights)
    assert len(cache) == 1
    assert [f.carrier for f in flights] == [""] * 5  # the pool names the carrier, not the wire form

    alone = flight(seg.text, seg=seg)
    wire.prepare(alone)  # no cache: its own copy, the same bytes
    assert alone.wire == flights[0].wire and alone.wire is not flights[0].wire


def test_the_cache_keeps_texts_and_methods_apart():
    rotor = ReferenceRotor()
    cache: dict = {}
    hello, bye, hello_payload = flight("hello"), flight("bye"), flight("hello")
    WireFormat(ConcatMethod.UDH, rotor).prepare(hello, cache)
    WireFormat(ConcatMethod.UDH, rotor).prepare(bye, cache)
    WireFormat(ConcatMethod.PAYLOAD, rotor).prepare(hello_payload, cache)
    assert submit_sm(bye.wire[0]).short_message == "bye".encode("utf-16-be")
    payload = submit_sm(hello_payload.wire[0])
    assert (payload.short_message, payload.tlvs) == (b"", {Tag.MESSAGE_PAYLOAD: "hello".encode("utf-16-be")})
    assert len(cache) == 3


def test_udh_parts_carry_a_reference_from_the_rotor_and_each_part_in_order():
    rotor = ReferenceRotor()
    f = flight(LONG)
    WireFormat(ConcatMethod.UDH, rotor).prepare(f)
    assert f.parts == 3 and f.reference == 1  # the first long message to this number
    for seq, tail in enumerate(f.wire, 1):
        pdu = submit_sm(tail)
        assert pdu.esm_class == EsmClass.UDHI and pdu.data_coding == 8
        assert pdu.short_message == bytes((5, 0, 3, 1, 3, seq)) + f.seg.payloads[seq - 1]
        assert pdu.tlvs == {}
    following = flight(LONG)
    WireFormat(ConcatMethod.UDH, rotor).prepare(following)
    assert following.reference == 2  # the next long message to the same number gets another


def test_a_failover_to_a_sar_carrier_keeps_the_reference():
    rotor = ReferenceRotor()
    f = flight(LONG)
    WireFormat(ConcatMethod.UDH, rotor).prepare(f)
    udh_wire, reference = f.wire, f.reference
    WireFormat(ConcatMethod.SAR, rotor).prepare(f)
    assert f.reference == reference and f.concat is ConcatMethod.SAR and f.wire != udh_wire
    for seq, tail in enumerate(f.wire, 1):
        pdu = submit_sm(tail)
        assert pdu.esm_class == 0
        assert pdu.short_message == f.seg.payloads[seq - 1]
        assert pdu.tlvs == {Tag.SAR_MSG_REF_NUM: reference, Tag.SAR_TOTAL_SEGMENTS: 3, Tag.SAR_SEGMENT_SEQNUM: seq}
    WireFormat(ConcatMethod.UDH, rotor).prepare(f)  # and back again
    assert f.wire == udh_wire
    assert rotor.next(PHONE) == 2  # failovers took no new reference


def test_preparing_again_for_the_same_method_changes_nothing():
    rotor = ReferenceRotor()
    f = flight(LONG)
    WireFormat(ConcatMethod.SAR, rotor).prepare(f)
    wire = f.wire
    WireFormat(ConcatMethod.SAR, rotor).prepare(f)  # another carrier with the same method
    assert f.wire is wire and f.reference == 1


def test_payload_sends_one_part_carrying_every_segment():
    f = flight(LONG)
    WireFormat(ConcatMethod.PAYLOAD, ReferenceRotor()).prepare(f)
    assert f.parts == 1 and f.record.segments == 3
    [tail] = f.wire
    pdu = submit_sm(tail)
    assert (pdu.esm_class, pdu.short_message, pdu.data_coding) == (0, b"", 8)
    assert pdu.tlvs == {Tag.MESSAGE_PAYLOAD: LONG.encode("utf-16-be")}


TEXT = st.one_of(
    st.text(alphabet=st.sampled_from("aZ09 @€{}é\n"), min_size=1, max_size=400),  # GSM-7, escapes too
    st.text(alphabet=st.sampled_from("aZ09 @€{}é长😀\n"), min_size=1, max_size=400),
)


@settings(max_examples=150, deadline=None)
@given(TEXT, st.sampled_from(Scheme), st.sampled_from(ConcatMethod))
def test_every_method_carries_exactly_the_text(text, scheme, method):
    """Whatever the split, the parts read back in order give the segments' bytes, and the text."""
    seg = segment(text, scheme)
    f = flight(text, seg=seg)
    WireFormat(method, ReferenceRotor()).prepare(f)
    pdus = [submit_sm(tail) for tail in f.wire]
    assert all(p.data_coding == seg.data_coding for p in pdus)
    if method is ConcatMethod.PAYLOAD:
        assert len(pdus) == 1
        data = pdus[0].tlvs[Tag.MESSAGE_PAYLOAD]
    elif seg.segments == 1:
        assert len(pdus) == 1 and pdus[0].esm_class == 0 and pdus[0].tlvs == {}
        data = pdus[0].short_message
    elif method is ConcatMethod.UDH:
        assert [p.short_message[:6] for p in pdus] == [
            bytes((5, 0, 3, f.reference & 0xFF, seg.segments, i)) for i in range(1, seg.segments + 1)]
        data = b"".join(p.short_message[6:] for p in pdus)
    else:
        assert [p.tlvs[Tag.SAR_SEGMENT_SEQNUM] for p in pdus] == list(range(1, seg.segments + 1))
        assert {(p.tlvs[Tag.SAR_MSG_REF_NUM], p.tlvs[Tag.SAR_TOTAL_SEGMENTS]) for p in pdus} == {
            (f.reference, seg.segments)}
        data = b"".join(p.short_message for p in pdus)
    assert data == seg.payload
    decoded = data.decode("utf-16-be") if seg.data_coding == 8 else gsm7.decode(data)
    assert decoded == text
    if method is not ConcatMethod.PAYLOAD:  # each part fits one SMS: 140 octets, or 160 septets
        for p in pdus:
            header = 6 if p.esm_class & EsmClass.UDHI else 0
            body = len(p.short_message) - header
            assert header + body <= 140 if seg.data_coding == 8 else -(-header * 8 // 7) + body <= 160


# -- vendor-specific TLVs ----------------------------------------------------------------------------------
DLT = bytes.fromhex("1400" "0013") + b"1201159543060917386" + bytes.fromhex("1401" "0003" "00ff00")


def with_tlvs(f: InFlight, block: bytes | None) -> InFlight:
    f.record.tlvs = block
    return f


@pytest.mark.parametrize("method", list(ConcatMethod))
def test_every_part_ends_with_the_messages_vendor_tlvs_as_given(method):
    plain, own = flight(LONG), with_tlvs(flight(LONG), DLT)
    WireFormat(method, ReferenceRotor()).prepare(plain)
    WireFormat(method, ReferenceRotor()).prepare(own)  # the same reference as `plain`
    assert own.parts == plain.parts == (1 if method is ConcatMethod.PAYLOAD else 3)
    for plain_tail, tail in zip(plain.wire, own.wire):
        assert tail == plain_tail + DLT  # after the engine's own TLVs, octet for octet
        pdu = submit_sm(tail)
        assert (pdu.tlvs[0x1400], pdu.tlvs[0x1401]) == (b"1201159543060917386", b"\x00\xff\x00")


def test_a_carriers_defaults_go_on_every_message_and_the_messages_own_tag_wins():
    carrier = WireFormat(ConcatMethod.SAR, ReferenceRotor(), {0x1400: b"carrier", 0x1500: b"\x01"})
    plain, own = flight(LONG), with_tlvs(flight(LONG), DLT)
    carrier.prepare(plain)
    carrier.prepare(own)
    for tail in plain.wire:
        assert [(t, v) for t, v in submit_sm(tail).tlvs.items() if t >= 0x1400] == [(0x1400, b"carrier"),
                                                                                    (0x1500, b"\x01")]
    for tail in own.wire:
        assert tail.endswith(bytes.fromhex("1500000101") + DLT)
        assert [t for t in submit_sm(tail).tlvs if t >= 0x1400] == [0x1500, 0x1400, 0x1401]


def test_the_batch_cache_keeps_messages_with_other_tlvs_apart():
    seg = segment("Your code is 1234", Scheme.DOMESTIC)
    a, b, c = flight(seg.text, seg=seg), with_tlvs(flight(seg.text, seg=seg), DLT), flight(seg.text, seg=seg)
    cache: dict = {}
    wire = WireFormat(ConcatMethod.UDH, ReferenceRotor())
    for f in (a, b, c):
        wire.prepare(f, cache)
    assert a.wire is c.wire and b.wire == [a.wire[0] + DLT] and len(cache) == 2
    # another carrier with the same method but its own defaults does not take the cached body
    other = WireFormat(ConcatMethod.UDH, ReferenceRotor(), {0x1500: b"x"})
    d = flight(seg.text, seg=seg)
    other.prepare(d, cache)
    assert d.wire == [a.wire[0] + bytes.fromhex("1500000178")]


def test_a_failover_to_a_carrier_with_other_defaults_encodes_its_tlvs():
    rotor = ReferenceRotor()
    f = with_tlvs(flight(LONG), DLT)
    WireFormat(ConcatMethod.UDH, rotor).prepare(f)
    first = f.wire
    WireFormat(ConcatMethod.UDH, rotor).prepare(f)  # same method, same (no) defaults: kept
    assert f.wire is first
    WireFormat(ConcatMethod.UDH, rotor, {0x1500: b"x"}).prepare(f)
    assert f.wire == [tail[: -len(DLT)] + bytes.fromhex("1500000178") + DLT for tail in first]
    assert f.reference == 1  # the same reference: the parts still reassemble
