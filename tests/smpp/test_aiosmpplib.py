"""Cross-check with aiosmpplib (an independent SMPP client): its bytes decode with our codec and vice versa."""

from __future__ import annotations

import aiosmpplib as aio
import pytest
from aiosmpplib.state import MESSAGE_STATE, RECEIPTED_MESSAGE_ID, SAR_MSG_REF_NUM, SAR_SEGMENT_SEQNUM, SAR_TOTAL_SEGMENTS

from smsengine.smpp.codec import decode_pdu, encode_pdu
from smsengine.smpp.constants import DataCoding, EsmClass, MessageState, Tag, is_delivery_receipt
from smsengine.smpp.pdu import (
    BindTransceiver,
    BindTransceiverResp,
    DeliverSm,
    EnquireLink,
    GenericNack,
    SubmitSm,
    SubmitSmResp,
    Unbind,
)
from smsengine.smpp.receipt import parse_receipt

ACME = aio.PhoneNumber("Acme", aio.TON.ALPHANUMERIC, aio.NPI.UNKNOWN)
MOBILE = aio.PhoneNumber("8613800138000", aio.TON.INTERNATIONAL, aio.NPI.ISDN)


def aio_decode(wire: bytes):
    header = aio.SmppMessage.parse_header(wire)
    cls = {
        aio.SmppCommand.SUBMIT_SM: aio.SubmitSm,
        aio.SmppCommand.DELIVER_SM: aio.DeliverSm,
        aio.SmppCommand.SUBMIT_SM_RESP: aio.SubmitSmResp,
        aio.SmppCommand.BIND_TRANSCEIVER: aio.BindTransceiver,
    }[header.smpp_command]
    return cls.from_pdu(wire, header, "gsm0338")


@pytest.mark.parametrize(
    ("theirs", "ours"),
    [
        (aio.EnquireLink(sequence_num=1), EnquireLink(1)),
        (aio.Unbind(sequence_num=8), Unbind(8)),
        (aio.GenericNack(sequence_num=3, command_status=aio.SmppCommandStatus.ESME_RINVCMDID), GenericNack(3, 3)),
        (
            aio.BindTransceiver(sequence_num=2, system_id="acme", password="secret", system_type="sms"),
            BindTransceiver(2, 0, {}, "acme", "secret", "sms", 0x34, 0, 0, ""),
        ),
        (
            aio.BindTransceiverResp(sequence_num=2, system_id="sim", sc_interface_version=0x34),
            BindTransceiverResp(2, 0, {Tag.SC_INTERFACE_VERSION: 0x34}, "sim"),
        ),
        (aio.SubmitSmResp(sequence_num=5, message_id="7f3a2b1c"), SubmitSmResp(5, 0, {}, "7f3a2b1c")),
    ],
)
def test_same_bytes_both_ways(theirs, ours):
    wire = theirs.pdu()
    assert decode_pdu(wire) == ours
    assert encode_pdu(ours) == wire


def test_their_submit_sm_with_sar_tlvs():
    theirs = aio.SubmitSm(
        sequence_num=9,
        short_message="Hello",
        source=ACME,
        destination=MOBILE,
        optional_params=[
            aio.OptionalParam(SAR_MSG_REF_NUM, 0x1234),
            aio.OptionalParam(SAR_TOTAL_SEGMENTS, 2),
            aio.OptionalParam(SAR_SEGMENT_SEQNUM, 1),
        ],
    )
    wire = theirs.pdu()
    ours = decode_pdu(wire)
    assert isinstance(ours, SubmitSm)
    assert (ours.source_addr, ours.source_addr_ton, ours.destination_addr, ours.dest_addr_ton, ours.dest_addr_npi) == (
        "Acme",
        5,
        "8613800138000",
        1,
        1,
    )
    assert ours.short_message == b"Hello" and ours.registered_delivery == 1
    assert ours.tlvs == {Tag.SAR_MSG_REF_NUM: 0x1234, Tag.SAR_TOTAL_SEGMENTS: 2, Tag.SAR_SEGMENT_SEQNUM: 1}
    assert encode_pdu(ours) == wire


def test_their_ucs2_submit_sm_keeps_the_raw_octets():
    text = "您的验证码是123456"
    wire = aio.SubmitSm(sequence_num=4, short_message=text, source=ACME, destination=MOBILE, encoding="ucs2").pdu()
    ours = decode_pdu(wire)
    assert ours.data_coding == DataCoding.UCS2
    assert ours.short_message.decode("utf-16-be") == text


def test_their_receipt_deliver_sm():
    receipt_text = "id:7f3a2b1c sub:001 dlvrd:001 submit date:2611220101 done date:2611220102 stat:DELIVRD err:000 text:Hi"
    theirs = aio.DeliverSm(
        sequence_num=11,
        short_message=receipt_text,
        source=MOBILE,
        destination=ACME,
        esm_class=EsmClass.DELIVERY_RECEIPT,
        optional_params=[aio.OptionalParam(RECEIPTED_MESSAGE_ID, "7f3a2b1c"), aio.OptionalParam(MESSAGE_STATE, 2)],
    )
    ours = decode_pdu(theirs.pdu())
    assert isinstance(ours, DeliverSm) and is_delivery_receipt(ours.esm_class)
    assert ours.tlvs == {Tag.RECEIPTED_MESSAGE_ID: "7f3a2b1c", Tag.MESSAGE_STATE: MessageState.DELIVERED}
    receipt = parse_receipt(ours.short_message.decode("ascii"))
    assert (receipt.id, receipt.stat, receipt.text) == ("7f3a2b1c", "DELIVRD", "Hi")


def test_they_read_our_submit_sm_and_receipt():
    ours = SubmitSm(
        sequence_number=21,
        source_addr_ton=5,
        source_addr="Acme",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr="8613800138000",
        registered_delivery=1,
        short_message=b"Your code is 1234",
        tlvs={Tag.USER_MESSAGE_REFERENCE: 77},
    )
    theirs = aio_decode(encode_pdu(ours))
    assert theirs.sequence_num == 21
    assert (theirs.source.number, theirs.destination.number, theirs.destination.ton) == ("Acme", "8613800138000", 1)
    assert theirs.short_message == "Your code is 1234"
    assert [(p.tag, p.value) for p in theirs.optional_params] == [(Tag.USER_MESSAGE_REFERENCE, 77)]

    receipt = DeliverSm(
        sequence_number=22,
        esm_class=EsmClass.DELIVERY_RECEIPT,
        source_addr="8613800138000",
        destination_addr="Acme",
        short_message=b"id:abc sub:001 dlvrd:001 submit date:2611220101 done date:2611220102 stat:DELIVRD err:000 text:x",
        tlvs={Tag.RECEIPTED_MESSAGE_ID: "abc", Tag.MESSAGE_STATE: MessageState.DELIVERED},
    )
    theirs = aio_decode(encode_pdu(receipt))
    assert theirs.is_receipt()
    parsed = theirs.parse_receipt()
    assert parsed["id"] == "abc" and parsed["stat"] == "DELIVRD"
    assert aio_decode(encode_pdu(SubmitSmResp(23, 0, {}, "m-1"))).message_id == "m-1"
