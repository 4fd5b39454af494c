"""Message-id normalisation: the id of a submit_sm_resp and of its receipt must meet on one key."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsengine.smpp.message_id import CarrierIdFormats, IdForm, MessageIdFormat, normalise_message_id

HEX = MessageIdFormat(IdForm.HEX)
DECIMAL = MessageIdFormat(IdForm.DECIMAL)


@pytest.mark.parametrize(
    ("raw", "fmt", "key"),
    [
        ("80000000", MessageIdFormat(IdForm.HEX_TO_DECIMAL), "2147483648"),
        ("2147483648", DECIMAL, "2147483648"),
        ("00012345", DECIMAL, "12345"),
        ("0000", DECIMAL, "0"),
        ("7F3A2B1C", HEX, "7f3a2b1c"),
        ("007f3a2b1c", HEX, "7f3a2b1c"),
        ("255", MessageIdFormat(IdForm.DECIMAL_TO_HEX), "ff"),
        ("AbC", MessageIdFormat(), "AbC"),
        ("AbC", MessageIdFormat(case_fold=True), "abc"),
        ("000AbC", MessageIdFormat(strip_leading_zeros=True), "AbC"),
        ("000", MessageIdFormat(strip_leading_zeros=True), "0"),
        (" 42 ", DECIMAL, "42"),
        ("12ab", DECIMAL, "12ab"),  # not decimal after all: kept as an opaque id
        ("xyz", HEX, "xyz"),
        ("", HEX, ""),
        ("9" * 5000, DECIMAL, "9" * 5000),  # no giant int() conversion
    ],
)
def test_table(raw, fmt, key):
    assert normalise_message_id(raw, fmt) == key


hex_resp_decimal_receipt = CarrierIdFormats(
    submit_resp=MessageIdFormat(IdForm.HEX_TO_DECIMAL), receipt=MessageIdFormat(IdForm.DECIMAL)
)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**128), st.integers(0, 4), st.booleans(), st.integers(0, 3))
def test_hex_resp_meets_decimal_receipt(number, zeros, upper, receipt_zeros):
    resp_id = "0" * zeros + format(number, "X" if upper else "x")
    receipt_id = "0" * receipt_zeros + str(number)
    assert hex_resp_decimal_receipt.resp_key(resp_id) == hex_resp_decimal_receipt.receipt_key(receipt_id)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64), st.integers(0, 2**64))
def test_different_numbers_never_collide(a, b):
    assert (hex_resp_decimal_receipt.resp_key(format(a, "x")) == hex_resp_decimal_receipt.receipt_key(str(b))) == (a == b)


@settings(max_examples=200, deadline=None)
@given(st.text("0123456789abcdefABCDEF", min_size=1, max_size=32))
def test_hex_on_both_sides_ignores_case_and_leading_zeros(raw):
    formats = CarrierIdFormats(submit_resp=HEX, receipt=HEX)
    assert formats.resp_key(raw.upper()) == formats.receipt_key("00" + raw.lower())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=64), st.sampled_from(list(IdForm)), st.booleans(), st.booleans())
def test_normalising_is_idempotent_for_canonical_forms(raw, form, strip, fold):
    fmt = MessageIdFormat(form, strip, fold)
    key = normalise_message_id(raw, fmt)
    if form in (IdForm.AS_IS, IdForm.HEX, IdForm.DECIMAL):
        assert normalise_message_id(key, fmt) == key
