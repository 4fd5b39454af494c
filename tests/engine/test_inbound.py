"""What a carrier's deliver_sm means: receipt fields, and replies joined from their parts. Every
PDU goes through the codec (encoded, then decoded) as it would arrive on a bind."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsengine.domain import gsm7
from smsengine.engine.inbound import ReplyAssembler, is_reply, receipt_fields
from smsengine.smpp.codec import decode_pdu, encode_pdu
from smsengine.smpp.constants import EsmClass, MessageState, Tag
from smsengine.smpp.pdu import DeliverSm
from smsengine.smpp.receipt import format_receipt

RECEIPT = int(EsmClass.DELIVERY_RECEIPT)
UDHI = int(EsmClass.UDHI)
WHEN = datetime(2024, 5, 1, 12, 30)
NUMBER = "8613800000001"


def arrived(**fields) -> DeliverSm:
    """A deliver_sm as it comes off the wire."""
    fields.setdefault("sequence_number", 1)
    fields.setdefault("source_addr", NUMBER)
    pdu = decode_pdu(encode_pdu(DeliverSm(**fields)))
    assert isinstance(pdu, DeliverSm)
    return pdu


def receipt_pdu(text: str = "", **fields) -> DeliverSm:
    return arrived(esm_class=RECEIPT, short_message=text.encode("latin-1"), **fields)


# -- receipts ------------------------------------------------------------------------------------------------
def test_a_text_receipt_gives_id_stat_and_err():
    text = format_receipt("0A1B2C", "UNDELIV", WHEN, WHEN, err=13, text="hello")
    assert receipt_fields(receipt_pdu(text)) == ("0A1B2C", "UNDELIV", "013")


@pytest.mark.parametrize("tail", ["\x00", "\x00\x00garbage stat:EXPIRED"])
def test_a_receipt_text_ending_in_a_c_strings_nul_reads_as_the_text_before_it(tail):
    """Some SMSCs end the text with a NUL: err is "013", not "013\\0" (which would reach the
    remark, the statistics and the callbacks), and nothing after the NUL counts."""
    text = format_receipt("0A1B2C", "UNDELIV", WHEN, WHEN, err=13, text="hello")
    assert receipt_fields(receipt_pdu(text + tail)) == ("0A1B2C", "UNDELIV", "013")


def test_a_receipt_without_err_reports_no_error():
    pdu = receipt_pdu("id:77 sub:001 dlvrd:001 submit date:2405011230 done date:2405011231 stat:DELIVRD")
    assert receipt_fields(pdu) == ("77", "DELIVRD", "000")


@pytest.mark.parametrize("state, stat", [
    (MessageState.DELIVERED, "DELIVRD"),
    (MessageState.UNDELIVERABLE, "UNDELIV"),
    (MessageState.EXPIRED, "EXPIRED"),
    (MessageState.REJECTED, "REJECTD"),
    (99, "UNKNOWN"),  # outside SMPP 3.4
])
def test_a_tlv_only_receipt_gives_id_and_state(state, stat):
    pdu = receipt_pdu(tlvs={Tag.RECEIPTED_MESSAGE_ID: "abc-123", Tag.MESSAGE_STATE: state})
    assert pdu.short_message == b""
    assert receipt_fields(pdu) == ("abc-123", stat, "000")


def test_the_tlv_id_wins_over_the_text_and_the_text_stat_over_the_tlv_state():
    text = format_receipt("255", "DELIVRD", WHEN, WHEN)
    pdu = receipt_pdu(text, tlvs={Tag.RECEIPTED_MESSAGE_ID: "ff", Tag.MESSAGE_STATE: MessageState.EXPIRED})
    assert receipt_fields(pdu) == ("ff", "DELIVRD", "000")


def test_a_text_receipt_missing_its_stat_takes_the_tlv_state():
    pdu = receipt_pdu("id:9 sub:001 dlvrd:000", tlvs={Tag.MESSAGE_STATE: MessageState.DELETED})
    assert receipt_fields(pdu) == ("9", "DELETED", "000")


@pytest.mark.parametrize("pdu", [
    arrived(esm_class=0, short_message=format_receipt("1", "DELIVRD", WHEN, WHEN).encode()),  # a reply
    arrived(esm_class=int(EsmClass.DELIVERY_ACK), short_message=b"id:1 stat:DELIVRD"),
    arrived(esm_class=int(EsmClass.INTERMEDIATE_NOTIFICATION), short_message=b"id:1 stat:ENROUTE"),
    receipt_pdu("stat:DELIVRD err:000"),  # no id
    receipt_pdu("id:5 sub:001 dlvrd:001"),  # no state
    receipt_pdu(tlvs={Tag.RECEIPTED_MESSAGE_ID: "5"}),
    receipt_pdu(tlvs={Tag.MESSAGE_STATE: MessageState.DELIVERED}),
], ids=["reply", "sme-ack", "intermediate", "no-id", "no-stat", "tlv-id-only", "tlv-state-only"])
def test_what_is_not_a_usable_receipt_gives_none(pdu):
    assert receipt_fields(pdu) is None


def test_is_reply_only_for_plain_mobile_originated_messages():
    assert is_reply(arrived(esm_class=0, short_message=b"hi"))
    assert is_reply(arrived(esm_class=UDHI, short_message=b"\x05\x00\x03\x01\x02\x01hi"))
    assert not is_reply(receipt_pdu("id:1 stat:DELIVRD"))
    assert not is_reply(arrived(esm_class=int(EsmClass.DELIVERY_ACK)))


IDS = st.text(alphabet="0123456789abcdefABCDEF-", min_size=1, max_size=40)
STATS = st.sampled_from(["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED", "UNKNOWN"])


PRINTABLE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20)


@given(IDS, STATS, st.integers(0, 999), PRINTABLE)
def test_any_formatted_receipt_reads_back(message_id, stat, err, body):
    text = format_receipt(message_id, stat, WHEN, WHEN, err=err, text=body)
    assert receipt_fields(receipt_pdu(text)) == (message_id, stat, f"{err:03d}")


# -- replies -------------------------------------------------------------------------------------------------
def gsm(text: str) -> bytes:
    return gsm7.encode(text)


def ucs2(text: str) -> bytes:
    return text.encode("utf-16-be")


def udh_parts(chunks: list[bytes], ref: int, source: str = NUMBER, data_coding: int = 8,
              wide_ref: bool = False) -> list[DeliverSm]:
    total = len(chunks)
    if wide_ref:  # IEI 0x08: 16-bit reference
        headers = [bytes((6, 8, 4, ref >> 8, ref & 0xFF, total, i)) for i in range(1, total + 1)]
    else:
        headers = [bytes((5, 0, 3, ref, total, i)) for i in range(1, total + 1)]
    return [arrived(esm_class=UDHI, source_addr=source, data_coding=data_coding, short_message=h + c)
            for h, c in zip(headers, chunks)]


def sar_parts(chunks: list[bytes], ref: int, source: str = NUMBER, data_coding: int = 8) -> list[DeliverSm]:
    total = len(chunks)
    return [
        arrived(source_addr=source, data_coding=data_coding, short_message=c,
                tlvs={Tag.SAR_MSG_REF_NUM: ref, Tag.SAR_TOTAL_SEGMENTS: total, Tag.SAR_SEGMENT_SEQNUM: i})
        for i, c in enumerate(chunks, 1)
    ]


def assemble(assembler: ReplyAssembler, pdus: list[DeliverSm]) -> list[str | None]:
    return [assembler.text(p) for p in pdus]


@pytest.mark.parametrize("data_coding, data, text", [
    (0, gsm("Yes @ 5€ {ok}"), "Yes @ 5€ {ok}"),
    (8, ucs2("好的，谢谢 😀"), "好的，谢谢 😀"),
], ids=["gsm", "ucs2"])
def test_a_single_part_reply_is_its_text(data_coding, data, text):
    assembler = ReplyAssembler()
    assert assembler.text(arrived(data_coding=data_coding, short_message=data)) == text
    assert assembler.pending() == 0


def test_a_reply_in_message_payload_is_its_text():
    pdu = arrived(data_coding=8, tlvs={Tag.MESSAGE_PAYLOAD: ucs2("长" * 100)})
    assert ReplyAssembler().text(pdu) == "长" * 100


WHOLE = "第一部分" * 10 + "第二部分" * 10 + "第三部分" * 5
CHUNKS = [ucs2(WHOLE[:40]), ucs2(WHOLE[40:80]), ucs2(WHOLE[80:])]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))), ids=str)
@pytest.mark.parametrize("build", [
    lambda: udh_parts(CHUNKS, ref=42),
    lambda: udh_parts(CHUNKS, ref=0x1234, wide_ref=True),
    lambda: sar_parts(CHUNKS, ref=0x1234),
], ids=["udh", "udh16", "sar"])
def test_three_parts_in_any_order_join_to_the_same_text(build, order):
    assembler = ReplyAssembler()
    parts = build()
    results = assemble(assembler, [parts[i] for i in order])
    assert results == [None, None, WHOLE]
    assert assembler.pending() == 0


def test_gsm_parts_join_too():
    text = "Hello there, " * 20
    chunks = [gsm(text[i:i + 153]) for i in range(0, len(text), 153)]
    assembler = ReplyAssembler()
    results = assemble(assembler, udh_parts(chunks, ref=7, data_coding=0))
    assert results[:-1] == [None] * (len(chunks) - 1) and results[-1] == text


def test_interleaved_replies_from_different_numbers_and_refs_do_not_mix():
    a = udh_parts([ucs2("甲一"), ucs2("甲二"), ucs2("甲三")], ref=9, source="8613800000001")
    b = udh_parts([ucs2("乙一"), ucs2("乙二"), ucs2("乙三")], ref=9, source="8613800000002")  # same ref
    c = sar_parts([ucs2("丙一"), ucs2("丙二")], ref=10, source="8613800000001")  # same number
    d = udh_parts([ucs2("丁一"), ucs2("丁二")], ref=11, source="8613800000001")
    assembler = ReplyAssembler()
    arrivals = [a[2], b[0], c[1], d[0], a[0], b[2], d[1], c[0], b[1], a[1]]
    texts = [t for t in assemble(assembler, arrivals) if t is not None]
    assert texts == ["丁一丁二", "丙一丙二", "乙一乙二乙三", "甲一甲二甲三"]
    assert assembler.pending() == 0


def test_a_repeated_part_does_not_complete_a_message():
    parts = udh_parts(CHUNKS, ref=1)
    assembler = ReplyAssembler()
    assert assemble(assembler, [parts[0], parts[0], parts[1], parts[1]]) == [None] * 4
    assert assembler.text(parts[2]) == WHOLE


def test_the_pending_bound_drops_the_oldest_incomplete_reply():
    assembler = ReplyAssembler(max_pending=2)
    first = udh_parts([ucs2("一"), ucs2("二")], ref=1)
    second = udh_parts([ucs2("三"), ucs2("四")], ref=2)
    third = udh_parts([ucs2("五"), ucs2("六")], ref=3)
    assert assemble(assembler, [first[0], second[0], third[0]]) == [None] * 3
    assert assembler.pending() == 2 and assembler.dropped == 1
    assert assembler.text(second[1]) == "三四"
    assert assembler.text(third[1]) == "五六"
    assert assembler.text(first[1]) is None  # its first part was dropped: it cannot complete
    assert assembler.pending() == 1


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 255), st.integers(2, 4), st.integers(1, 4)), max_size=80),
    st.integers(1, 5),
)
def test_pending_never_exceeds_its_bound(parts, bound):
    assembler = ReplyAssembler(max_pending=bound)
    for source, ref, total, seq in parts:
        if seq <= total:
            assembler.text(udh_parts([ucs2("x")] * total, ref=ref, source=f"86138{source:08d}")[seq - 1])
        assert assembler.pending() <= bound


@given(
    st.text(alphabet=st.sampled_from("abc 好的谢"), min_size=2, max_size=200),
    st.data(),
    st.sampled_from(["udh", "sar"]),
)
def test_any_split_in_any_order_joins_back(text, data, method):
    cuts = sorted(data.draw(st.sets(st.integers(1, len(text) - 1), min_size=1, max_size=5)))
    bounds = [0, *cuts, len(text)]
    chunks = [ucs2(text[a:b]) for a, b in zip(bounds, bounds[1:])]
    ref = data.draw(st.integers(0, 255))
    parts = udh_parts(chunks, ref) if method == "udh" else sar_parts(chunks, ref)
    order = data.draw(st.permutations(parts))
    results = assemble(ReplyAssembler(), order)
    assert results == [None] * (len(parts) - 1) + [text]


@pytest.mark.parametrize("data_coding, whole, cut", [
    (8, ucs2("a😀b"), 4),  # the surrogate pair of 😀 split between parts
    (0, gsm("price 5€"), 8),  # the escape of € ends part 1, its code starts part 2
], ids=["ucs2-surrogate", "gsm-escape"])
def test_a_character_split_between_parts_survives(data_coding, whole, cut):
    parts = udh_parts([whole[:cut], whole[cut:]], ref=5, data_coding=data_coding)
    expected = whole.decode("utf-16-be") if data_coding == 8 else gsm7.decode(whole)
    assert assemble(ReplyAssembler(), parts) == [None, expected]


@pytest.mark.parametrize("build", [lambda: udh_parts(CHUNKS, ref=42), lambda: sar_parts(CHUNKS, ref=0x1234)],
                         ids=["udh", "sar"])
def test_a_reply_whose_parts_stop_coming_expires_with_what_arrived_in_order(build):
    parts = build()
    assembler = ReplyAssembler()
    assert assembler.text(parts[2], now=10.0) is None
    assert assembler.text(parts[0], now=11.0) is None  # part 2 never comes
    late = udh_parts([ucs2("后来"), ucs2("的")], ref=5, source="8613800000009")
    assert assembler.text(late[0], now=50.0) is None
    assert assembler.expire(now=70.0, timeout=60.0) == []  # exactly at the timeout: not yet
    assert assembler.expire(now=70.5, timeout=60.0) == [(NUMBER, WHOLE[:40] + WHOLE[80:])]
    assert assembler.pending() == 1  # the later one waits its own time
    assert assembler.expire(now=110.5, timeout=60.0) == [("8613800000009", "后来")]
    assert assembler.pending() == 0
