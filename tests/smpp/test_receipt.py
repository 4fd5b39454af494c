"""Delivery receipt text: the carrier variants file, extra variants, formatting, stat -> outcome."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsengine.smpp.constants import MessageState
from smsengine.smpp.receipt import (
    _STANDARD,
    STAT_FOR_STATE,
    STATE_FOR_STAT,
    Outcome,
    Receipt,
    format_receipt,
    message_state_outcome,
    parse_receipt,
    parse_receipt_date,
    receipt_status,
    scan_receipt,
    stat_outcome,
)

VARIANTS = [
    json.loads(line)
    for line in (Path(__file__).resolve().parents[1] / "data" / "receipt_variants.jsonl").read_text().splitlines()
    if line.strip()
]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v["note"] for v in VARIANTS])
def test_carrier_variants(variant):
    receipt = parse_receipt(variant["text"])
    for field in ("id", "stat", "err", "submit_date", "done_date"):
        assert getattr(receipt, field) == variant[field], field
    assert scan_receipt(variant["text"]) == receipt


def test_text_is_everything_after_the_text_key():
    by_note = {v["note"]: parse_receipt(v["text"]) for v in VARIANTS}
    assert by_note["the SMPP 3.4 appendix B layout"].text == "Hello there"
    assert by_note["text that itself contains stat: and err:"].text == "your stat:UNDELIV err:999 joke"
    assert by_note["empty text"].text == ""
    assert by_note["sub, dlvrd and text missing"].sub == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "id:42 sub:001 dlvrd:001 submit date:2611220101 done date:2611220102 stat:DELIVERED err:000",
            Receipt("42", "001", "001", "2611220101", "2611220102", "DELIVERED", "000", ""),
        ),
        (  # vendor fields before text are skipped
            "id:42 sub:001 dlvrd:000 submit date:2611220101 done date:2611220102 stat:UNDELIV err:0A1 imsi:460001 mccmnc:46000 text:abc",
            Receipt("42", "001", "000", "2611220101", "2611220102", "UNDELIV", "0A1", "abc"),
        ),
        (  # lower-case stat, key with a space before its value
            "id: 99 stat:delivrd err:000",
            Receipt(id="99", stat="DELIVRD", err="000"),
        ),
        (  # "context:" is not "text:"
            "id:5 context:x stat:EXPIRED err:004",
            Receipt(id="5", stat="EXPIRED", err="004"),
        ),
        (  # joined date keys, a text with trailing spaces kept verbatim
            "id:7 submitdate:2611220101 donedate:2611220102 stat:REJECTD err:069 text:hi  ",
            Receipt(id="7", submit_date="2611220101", done_date="2611220102", stat="REJECTD", err="069", text="hi  "),
        ),
        ("", Receipt()),
    ],
)
def test_more_variants(text, expected):
    assert parse_receipt(text) == expected


KEYS = ["id", "sub", "dlvrd", "submit date", "done date", "stat", "err"]


@st.composite
def standard_looking_receipts(draw) -> str:
    """The standard key order with odd case, odd separators and odd values: near the fast pattern's edge."""
    clean = draw(st.booleans())
    values = st.text("0123456789aZ:_", max_size=6) if clean else st.text("0aZ:_ \t", max_size=5)
    separators = st.sampled_from([" ", "  "] if clean else [" ", "  ", "\t", "\n"])
    text = ""
    for key in KEYS:
        key = draw(st.sampled_from([key, key.upper(), key.title(), key.replace(" ", "_")]))
        text += key + ":" + draw(values) + draw(separators)
    if draw(st.booleans()):
        text += draw(st.sampled_from(["text:", "Text:", "TEXT:"])) + draw(st.text(max_size=10))
    else:
        text = text.rstrip(" ")
    return text if clean else text[: draw(st.integers(0, len(text)))]


@settings(max_examples=400, deadline=None)
@given(standard_looking_receipts())
def test_standard_pattern_and_scanner_agree(text):
    assert parse_receipt(text) == scan_receipt(text)


def _status_as_parsed(text: str) -> tuple[str, str, str]:
    receipt = parse_receipt(text)
    return receipt.id, receipt.stat, receipt.err


@pytest.mark.parametrize("variant", VARIANTS, ids=[v["note"] for v in VARIANTS])
def test_the_status_shortcut_reads_the_carrier_variants_as_the_parser_does(variant):
    status = receipt_status(variant["text"])
    if status is not None:  # None: not the standard layout, the parser's scanner reads it
        assert status == _status_as_parsed(variant["text"])


@settings(max_examples=400, deadline=None)
@given(st.one_of(standard_looking_receipts(), st.text(st.characters(max_codepoint=0xFF), max_size=120)))
def test_the_status_shortcut_agrees_with_the_parser(text):
    status = receipt_status(text)
    assert (status is None) == (_STANDARD.fullmatch(text) is None)
    if status is not None:
        assert status == _status_as_parsed(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parser_never_raises(text):
    assert isinstance(parse_receipt(text), Receipt)


ids = st.text("0123456789abcdefABCDEF", min_size=1, max_size=40)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)


@settings(max_examples=200, deadline=None)
@given(ids, st.sampled_from(sorted(STATE_FOR_STAT)), moments, moments, st.integers(0, 999), st.text(max_size=40), st.booleans())
def test_format_then_parse(message_id, stat, submitted, done, err, text, seconds):
    formatted = format_receipt(message_id, stat, submitted, done, err=err, text=text, seconds=seconds)
    receipt = parse_receipt(formatted)
    assert scan_receipt(formatted) == receipt
    assert receipt.id == message_id and receipt.stat == stat and receipt.err == f"{err:03d}"
    assert receipt.text == text[:20]
    assert receipt.submit_datetime() == (submitted if seconds else submitted.replace(second=0))
    assert receipt.done_datetime() == (done if seconds else done.replace(second=0))


def test_standard_format():
    text = format_receipt(
        "0123456789", "DELIVRD", datetime(2026, 11, 22, 1, 1), datetime(2026, 11, 22, 1, 2), text="Hello there, this is long"
    )
    assert text == (
        "id:0123456789 sub:001 dlvrd:001 submit date:2611220101 done date:2611220102"
        " stat:DELIVRD err:000 text:Hello there, this is"
    )
    assert " dlvrd:000 " in format_receipt("1", "UNDELIV", datetime(2026, 1, 1), datetime(2026, 1, 1), err="001")


def test_dates():
    assert parse_receipt_date("2611220101") == datetime(2026, 11, 22, 1, 1)
    assert parse_receipt_date("261122010155") == datetime(2026, 11, 22, 1, 1, 55)
    assert parse_receipt_date("2613220101") is None  # month 13
    assert parse_receipt_date("26112201") is None
    assert parse_receipt_date("") is None


@pytest.mark.parametrize(
    ("stat", "outcome"),
    [
        ("DELIVRD", Outcome.DELIVERED),
        ("delivered", Outcome.DELIVERED),
        ("UNDELIV", Outcome.FAILED),
        ("REJECTD", Outcome.FAILED),
        ("DELETED", Outcome.FAILED),
        ("UNKNOWN", Outcome.FAILED),
        ("EXPIRED", Outcome.EXPIRED),
        ("ENROUTE", Outcome.PENDING),
        ("ACCEPTD", Outcome.PENDING),
        ("GIBBERISH", Outcome.FAILED),
    ],
)
def test_stat_outcomes(stat, outcome):
    assert stat_outcome(stat) is outcome
    assert outcome.is_final == (outcome is not Outcome.PENDING)


def test_message_state_outcomes_match_stats():
    assert message_state_outcome(MessageState.DELIVERED) is Outcome.DELIVERED
    assert message_state_outcome(MessageState.EXPIRED) is Outcome.EXPIRED
    assert message_state_outcome(MessageState.ENROUTE) is Outcome.PENDING
    assert message_state_outcome(MessageState.ACCEPTED) is Outcome.PENDING
    for state in (MessageState.DELETED, MessageState.UNDELIVERABLE, MessageState.UNKNOWN, MessageState.REJECTED, 0, 99):
        assert message_state_outcome(state) is Outcome.FAILED
    for state, stat in STAT_FOR_STATE.items():
        assert STATE_FOR_STAT[stat] is state
        assert message_state_outcome(state) is stat_outcome(stat)
