"""The PDU codec: golden bytes from the SMPP 3.4 layouts, round trips, typed errors, TLVs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.smpp.pdu_strategies import any_pdu, pdus_of, tlvs

from smsengine.smpp import codec
from smsengine.smpp.codec import (
    FramingError,
    MalformedPduError,
    PduEncodeError,
    PduError,
    UnknownCommandError,
    _decode_general,
    _encode_general,
    decode_frame,
    decode_pdu,
    encode_pdu,
    encode_tlvs,
    submit_sm_body,
    submit_sm_head,
    submit_sm_tail,
)
from smsengine.smpp.constants import (
    HEADER_SIZE,
    CommandId,
    CommandStatus,
    MessageState,
    Tag,
    status_name,
    tag_name,
)
from smsengine.smpp.pdu import (
    PDU_CLASSES,
    BindTransmitter,
    DeliverSm,
    DeliverSmResp,
    DistributionList,
    EnquireLink,
    GenericNack,
    NetworkErrorCode,
    QuerySm,
    SmeDestination,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    UnsuccessSme,
    response_to,
)

S = CommandStatus


def hexbytes(*parts: str) -> bytes:
    return bytes.fromhex("".join(parts).replace(" ", ""))


# ---- golden vectors, laid out field by field as in SMPP 3.4 §4 ----

ENQUIRE_LINK = hexbytes("00000010 00000015 00000000 00000001")

BIND_TRANSMITTER = hexbytes(
    "0000002F 00000002 00000000 00000001",
    "534D5050335445535400",  # system_id "SMPP3TEST"
    "7365637265743038 00",  # password "secret08"
    "5355424D495431 00",  # system_type "SUBMIT1"
    "34",  # interface_version 3.4
    "01 01",  # addr_ton international, addr_npi ISDN
    "00",  # address_range ""
)

SUBMIT_SM = hexbytes(
    "0000003E 00000004 00000000 00000002",
    "00",  # service_type ""
    "01 01 343437373030393030313233 00",  # source 447700900123
    "01 01 343437373030393030343536 00",  # destination 447700900456
    "00 00 00",  # esm_class, protocol_id, priority_flag
    "00 00",  # schedule_delivery_time, validity_period
    "01 00 00 00",  # registered_delivery, replace_if_present, data_coding, sm_default_msg_id
    "05 48656C6C6F",  # sm_length 5, "Hello"
)

RECEIPT_DELIVER_SM = hexbytes(
    "0000003A 00000005 00000000 0000002A",
    "00",
    "01 01 3836313338 00",  # source 86138
    "05 00 41636D65 00",  # destination "Acme"
    "04 00 00",  # esm_class: SMSC delivery receipt
    "00 00",
    "00 00 00 00",
    "03 696433",  # short_message "id3"
    "001E 0004 61626300",  # receipted_message_id "abc"
    "0427 0001 02",  # message_state DELIVERED
)


def test_enquire_link_golden():
    assert encode_pdu(EnquireLink(sequence_number=1)) == ENQUIRE_LINK
    assert decode_pdu(ENQUIRE_LINK) == EnquireLink(sequence_number=1)


def test_bind_transmitter_golden():
    pdu = BindTransmitter(1, 0, {}, "SMPP3TEST", "secret08", "SUBMIT1", 0x34, 1, 1, "")
    assert encode_pdu(pdu) == BIND_TRANSMITTER
    assert decode_pdu(BIND_TRANSMITTER) == pdu


def test_submit_sm_golden():
    pdu = SubmitSm(
        sequence_number=2,
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="447700900123",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="447700900456",
        registered_delivery=1,
        short_message=b"Hello",
    )
    assert encode_pdu(pdu) == SUBMIT_SM
    assert decode_pdu(SUBMIT_SM) == pdu


def test_receipt_deliver_sm_golden_with_tlvs():
    pdu = decode_pdu(RECEIPT_DELIVER_SM)
    assert isinstance(pdu, DeliverSm)
    assert pdu.sequence_number == 0x2A and pdu.esm_class == 0x04
    assert pdu.source_addr == "86138" and pdu.destination_addr == "Acme" and pdu.dest_addr_ton == 5
    assert pdu.tlvs == {Tag.RECEIPTED_MESSAGE_ID: "abc", Tag.MESSAGE_STATE: MessageState.DELIVERED}
    assert encode_pdu(pdu) == RECEIPT_DELIVER_SM


def test_error_response_has_no_body():
    """SMPP 3.4 §4.4.2: submit_sm_resp carries no message_id when command_status is non-zero."""
    wire = hexbytes("00000010 80000004 00000058 00000007")
    assert encode_pdu(SubmitSmResp(7, S.ESME_RTHROTTLED)) == wire
    assert decode_pdu(wire) == SubmitSmResp(7, S.ESME_RTHROTTLED)
    assert encode_pdu(SubmitSmResp(7, 0, {}, "")) == hexbytes("00000011 80000004 00000000 00000007 00")


def test_generic_nack_golden():
    wire = hexbytes("00000010 80000000 00000003 00000009")
    assert encode_pdu(GenericNack(9, S.ESME_RINVCMDID)) == wire
    assert decode_pdu(wire) == GenericNack(9, S.ESME_RINVCMDID)


def test_submit_multi_with_both_destination_kinds_and_unsuccess_list():
    multi = SubmitMulti(
        sequence_number=3,
        source_addr="Acme",
        destinations=[SmeDestination(1, 1, "8613800138000"), DistributionList("vip")],
        short_message=b"hi",
    )
    wire = encode_pdu(multi)
    assert wire[16 + 1 + 2 + 5 :].startswith(b"\x02\x01\x01\x018613800138000\x00\x02vip\x00")
    assert decode_pdu(wire) == multi
    resp = SubmitMultiResp(3, 0, {}, "m1", [UnsuccessSme(1, 1, "86138", S.ESME_RINVDSTADR)])
    assert encode_pdu(resp).endswith(b"m1\x00\x01\x01\x0186138\x00\x00\x00\x00\x0b")
    assert decode_pdu(encode_pdu(resp)) == resp


# ---- round trips over every PDU type ----


@settings(max_examples=600, deadline=None)
@given(any_pdu)
def test_every_pdu_round_trips(pdu):
    wire = encode_pdu(pdu)
    assert int.from_bytes(wire[:4], "big") == len(wire)
    assert int.from_bytes(wire[4:8], "big") == pdu.command_id
    decoded = decode_pdu(wire)
    assert decoded == pdu
    assert encode_pdu(decoded) == wire


@pytest.mark.parametrize("command_id", sorted(PDU_CLASSES), ids=lambda c: CommandId(c).name)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_each_type_round_trips(command_id, data):
    pdu = data.draw(pdus_of(PDU_CLASSES[command_id]))
    assert decode_pdu(encode_pdu(pdu)) == pdu


FAST_PATH_TYPES = [SubmitSm, DeliverSm, SubmitSmResp, DeliverSmResp]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FAST_PATH_TYPES).flatmap(pdus_of))
def test_fast_paths_agree_with_the_general_codec(pdu):
    wire = encode_pdu(pdu)
    assert wire == _encode_general(pdu)
    assert decode_frame(wire, 0, len(wire)) == _decode_general(type(pdu), wire, 16, len(wire), pdu.sequence_number, pdu.command_status)


def test_decode_frame_reads_inside_a_larger_buffer():
    buffer = b"junk" + SUBMIT_SM + ENQUIRE_LINK
    assert decode_frame(buffer, 4, 4 + len(SUBMIT_SM)) == decode_pdu(SUBMIT_SM)
    assert decode_frame(buffer, 4 + len(SUBMIT_SM), len(buffer)) == EnquireLink(sequence_number=1)


# ---- TLVs ----


def test_known_tlvs_decode_to_typed_values():
    pdu = DeliverSm(
        sequence_number=1,
        tlvs={
            Tag.SAR_MSG_REF_NUM: 0xBEEF,
            Tag.SAR_TOTAL_SEGMENTS: 3,
            Tag.SAR_SEGMENT_SEQNUM: 2,
            Tag.MESSAGE_PAYLOAD: b"\x00long payload",
            Tag.RECEIPTED_MESSAGE_ID: "7f3a2b1c",
            Tag.NETWORK_ERROR_CODE: NetworkErrorCode(1, 0x0102),
            Tag.QOS_TIME_TO_LIVE: 86400,
            Tag.USER_MESSAGE_REFERENCE: 513,
            Tag.SOURCE_PORT: 2948,
        },
    )
    wire = encode_pdu(pdu)
    assert b"\x02\x0c\x00\x02\xbe\xef" in wire  # sar_msg_ref_num is 2 octets
    assert b"\x02\x0e\x00\x01\x03" in wire  # sar_total_segments is 1 octet
    assert b"\x04\x23\x00\x03\x01\x01\x02" in wire  # network_error_code: type + 2-octet code
    assert b"\x00\x1e\x00\x097f3a2b1c\x00" in wire  # receipted_message_id is a c-string
    assert decode_pdu(wire).tlvs == pdu.tlvs


def test_unknown_tlvs_pass_through_byte_identical():
    vendor = hexbytes("1401 0003 ABCDEF", "3FFF 0000", "1402 0002 0000")
    wire = with_tail(SUBMIT_SM, vendor)
    pdu = decode_pdu(wire)
    assert pdu.tlvs == {0x1401: b"\xab\xcd\xef", 0x3FFF: b"", 0x1402: b"\x00\x00"}
    assert encode_pdu(pdu) == wire


def test_receipted_message_id_without_nul_is_tolerated():
    wire = with_tail(encode_pdu(DeliverSm(1)), hexbytes("001E 0003 616263"))
    assert decode_pdu(wire).tlvs == {Tag.RECEIPTED_MESSAGE_ID: "abc"}


def with_tail(wire: bytes, tail: bytes) -> bytes:
    """`wire` with bytes appended and command_length fixed up."""
    out = wire + tail
    return len(out).to_bytes(4, "big") + out[4:]


@settings(max_examples=200, deadline=None)
@given(tlvs)
def test_tlv_block_round_trips(values):
    assert decode_pdu(with_tail(encode_pdu(EnquireLink(1)), encode_tlvs(values))).tlvs == values


def test_tag_and_status_names():
    assert tag_name(0x020C) == "sar_msg_ref_num"
    assert tag_name(0x1401) == "0x1401"
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0xC2) == "ESME_RINVPARLEN"  # the 3.4 name wins over the 5.0 alias
    assert status_name(0x401) == "0x00000401"
    assert CommandStatus.ESME_RINVTLVLEN is CommandStatus.ESME_RINVPARLEN


# ---- typed errors ----


def error_of(wire: bytes, max_pdu_size: int = 65536) -> PduError:
    with pytest.raises(PduError) as caught:
        decode_pdu(wire, max_pdu_size)
    return caught.value


def test_command_length_errors_are_framing_errors():
    short = hexbytes("0000000C 00000015 00000000 00000001")
    error = error_of(short)
    assert isinstance(error, FramingError) and error.status == S.ESME_RINVCMDLEN
    assert error.sequence_number == 1
    big = hexbytes("00010001 00000015 00000000 00000002")
    assert isinstance(error_of(big + bytes(0x10001 - 16)), FramingError)
    assert isinstance(error_of(ENQUIRE_LINK + b"x"), FramingError)  # length disagrees with the bytes
    assert isinstance(error_of(b"\x00\x00"), FramingError)
    assert isinstance(error_of(SUBMIT_SM, max_pdu_size=32), FramingError)


def test_unknown_command_id():
    error = error_of(hexbytes("00000010 00000099 00000000 00000005"))
    assert isinstance(error, UnknownCommandError)
    assert (error.status, error.sequence_number, error.command_id) == (S.ESME_RINVCMDID, 5, 0x99)


def submit_sm_with(source_addr: bytes = b"447700900123", destination_addr: bytes = b"447700900456") -> bytes:
    body = b"\x00\x01\x01" + source_addr + b"\x00\x01\x01" + destination_addr + b"\x00" + bytes(5) + b"\x01\x00\x00\x00\x02hi"
    return (16 + len(body)).to_bytes(4, "big") + hexbytes("00000004 00000000 0000000B") + body


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        (submit_sm_with(source_addr=b"1" * 21), S.ESME_RINVSRCADR),
        (submit_sm_with(destination_addr=b"2" * 25), S.ESME_RINVDSTADR),
        (with_tail(SUBMIT_SM[:20], b""), S.ESME_RINVCMDLEN),  # cut inside source_addr
        (with_tail(SUBMIT_SM[:-3], b""), S.ESME_RINVCMDLEN),  # short_message shorter than sm_length
        (with_tail(SUBMIT_SM, b"\x02\x0c\x00"), S.ESME_RINVOPTPARSTREAM),  # 3 stray bytes
        (with_tail(SUBMIT_SM, hexbytes("0424 0010 41")), S.ESME_RINVPARLEN),  # TLV runs past the end
        (with_tail(SUBMIT_SM, hexbytes("020C 0001 07")), S.ESME_RINVPARLEN),  # sar_msg_ref_num must be 2 octets
        (with_tail(SUBMIT_SM, hexbytes("0423 0002 0101")), S.ESME_RINVPARLEN),  # network_error_code is 3
        (with_tail(hexbytes("00000000 80000004 00000000 00000001"), b"x" * 70), S.ESME_RINVMSGID),
        (with_tail(BIND_TRANSMITTER[:16], b"A" * 16 + b"\x00pw\x00\x00" + b"\x34\x00\x00\x00"), S.ESME_RINVSYSID),
        (with_tail(BIND_TRANSMITTER[:16], b"sys\x00password9\x00\x00\x34\x00\x00\x00"), S.ESME_RINVPASWD),
    ],
)
def test_malformed_bodies_carry_the_right_status(wire, status):
    error = error_of(wire)
    assert isinstance(error, MalformedPduError)
    assert error.status == status, error
    assert error.sequence_number == int.from_bytes(wire[12:16], "big")
    assert error.command_id == int.from_bytes(wire[4:8], "big")


def test_sm_length_255_is_invalid_message_length():
    wire = bytearray(submit_sm_with())
    wire[-3] = 255
    assert error_of(with_tail(bytes(wire), b"x" * 253)).status == S.ESME_RINVMSGLEN


def test_submit_multi_bad_dest_flag():
    wire = encode_pdu(SubmitMulti(1, destinations=[DistributionList("x")]))
    broken = bytearray(wire)
    broken[16 + 1 + 2 + 1 + 1] = 7  # the dest_flag of the first destination
    assert error_of(bytes(broken)).status == S.ESME_RINVDESTFLAG


@pytest.mark.parametrize(
    "pdu",
    [
        SubmitSm(1, source_addr="1" * 21),
        SubmitSm(1, destination_addr="86\x00138"),
        SubmitSm(1, short_message=b"x" * 255),
        SubmitSm(1, source_addr="€uro"),  # not latin-1
        SubmitSm(1, esm_class=256),
        SubmitSmResp(1, 0, {}, "m" * 65),
        BindTransmitter(1, system_id="s" * 16),
        DeliverSm(1, tlvs={Tag.MESSAGE_STATE: "two"}),
        DeliverSm(1, tlvs={0x1401: 5}),  # a vendor tag's width is unknown: give bytes
        DeliverSm(1, tlvs={Tag.SAR_TOTAL_SEGMENTS: 256}),
    ],
)
def test_unencodable_pdus_raise_pdu_encode_error(pdu):
    with pytest.raises(PduEncodeError):
        encode_pdu(pdu)


def test_response_to_pairs_request_and_response():
    resp = response_to(SubmitSm(41), message_id="abc")
    assert resp == SubmitSmResp(41, 0, {}, "abc")
    assert response_to(EnquireLink(3), S.ESME_RSYSERR).command_id == CommandId.ENQUIRE_LINK_RESP
    with pytest.raises(ValueError):
        response_to(resp)


def test_submit_sm_head_and_tail_assemble_the_encoded_pdu():
    """The engine's pre-encoded submit_sm path produces exactly the codec's bytes."""
    for service, tlvs, sm, esm in (
        ("", {}, b"hello", 0),
        ("MKT", {0x020C: 0x1234, 0x020E: 3, 0x020F: 1}, "中".encode("utf-16-be") * 60, 0),
        ("", {}, bytes([5, 0, 3, 7, 2, 1]) + b"x" * 153, 0x40),
        ("", {0x0424: b"payload" * 100}, b"", 0),
    ):
        pdu = SubmitSm(sequence_number=9, service_type=service, source_addr_ton=5, source_addr="smsengine",
                       dest_addr_ton=1, dest_addr_npi=1, destination_addr="8613800138000", esm_class=esm,
                       registered_delivery=1, data_coding=8, short_message=sm, tlvs=tlvs)
        head = submit_sm_head(service, 5, 0, "smsengine", 1, 1)
        body = submit_sm_body(head, "8613800138000", submit_sm_tail(esm, 1, 8, sm, tlvs))
        assert body == encode_pdu(pdu)[HEADER_SIZE:]


addresses = st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=20)
destinations = st.text(st.characters(min_codepoint=1, max_codepoint=0x7F), max_size=20)  # ASCII


@settings(max_examples=300, deadline=None)
@given(
    st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=5),
    u8s := st.integers(0, 0xFF),
    u8s,
    addresses,
    u8s,
    u8s,
    destinations,
    u8s,
    u8s,
    u8s,
    st.binary(max_size=254),
    tlvs,
)
def test_submit_sm_body_equals_the_encoded_pdu(service, src_ton, src_npi, source, dst_ton, dst_npi, destination,
                                               esm, registered, coding, sm, tlv_values):
    pdu = SubmitSm(sequence_number=1, service_type=service, source_addr_ton=src_ton, source_addr_npi=src_npi,
                   source_addr=source, dest_addr_ton=dst_ton, dest_addr_npi=dst_npi, destination_addr=destination,
                   esm_class=esm, registered_delivery=registered, data_coding=coding, short_message=sm,
                   tlvs=tlv_values)
    head = submit_sm_head(service, src_ton, src_npi, source, dst_ton, dst_npi)
    tail = submit_sm_tail(esm, registered, coding, sm, tlv_values)
    assert submit_sm_body(head, destination, tail) == encode_pdu(pdu)[HEADER_SIZE:]


@pytest.mark.parametrize("destination", ["1" * 21, "8613\x00800138000", "€86138", "é86138", "\ud800"])
def test_submit_sm_body_refuses_what_destination_addr_cannot_carry(destination):
    head = submit_sm_head("", 5, 0, "Acme", 1, 1)
    with pytest.raises(PduEncodeError):
        submit_sm_body(head, destination, submit_sm_tail(0, 1, 0, b"hi", {}))


# ---- the fast paths hand over what they cannot do, and nothing else ----


def test_a_value_smpp_cannot_carry_is_an_encode_error_on_either_path():
    for pdu in (SubmitSm(1, esm_class=256), SubmitSm(1, source_addr="€"), QuerySm(1, source_addr_ton=256)):
        with pytest.raises(PduEncodeError):
            encode_pdu(pdu)


def test_a_field_of_the_wrong_type_is_a_bug_not_an_encode_error():
    with pytest.raises(AttributeError):
        encode_pdu(SubmitSm(1, source_addr=8613800138000))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_pdu(QuerySm(1, source_addr_ton="1"))  # type: ignore[arg-type]


def test_a_bug_in_a_fast_decoder_is_not_taken_for_a_malformed_pdu(monkeypatch):
    """Only the fast path's designed hand-overs fall back to the general decoder; a TypeError
    (here injected into the submit_sm fast decoder) surfaces instead of being decoded around."""
    wire = encode_pdu(SubmitSm(1, source_addr="Acme", destination_addr="8613800138000", short_message=b"hi"))

    def broken(cls, data, p, end, seq, status):
        raise TypeError("a bug")

    monkeypatch.setitem(codec._DECODERS, CommandId.SUBMIT_SM, (broken, SubmitSm))
    with pytest.raises(TypeError, match="a bug"):
        decode_pdu(wire)
    # while its designed hand-over (no NUL within a field's size) still ends in the general decoder
    monkeypatch.setitem(codec._DECODERS, CommandId.SUBMIT_SM, (lambda *args: b"".index(b"\0"), SubmitSm))
    assert decode_pdu(wire).destination_addr == "8613800138000"
