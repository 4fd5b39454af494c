"""Vendor-specific TLVs: the bounds a caller's and a config's are decoded against, their wire form,
and how a carrier's defaults and a message's own combine."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsengine.smpp.codec import encode_tlvs
from smsengine.smpp.vendor_tlvs import (
    MAX_VENDOR_TLVS,
    MAX_VENDOR_VALUE,
    VENDOR_TAG_MAX,
    VENDOR_TAG_MIN,
    VendorTlv,
    VendorTlvs,
    encode_vendor_tlvs,
    repeated_tag,
    tlv_tags,
    vendor_values,
    with_defaults,
)

TAGS = st.integers(VENDOR_TAG_MIN, VENDOR_TAG_MAX)
VALUES = st.binary(max_size=MAX_VENDOR_VALUE)
DISTINCT = st.dictionaries(TAGS, VALUES, max_size=MAX_VENDOR_TLVS)


def tlvs_of(values: dict[int, bytes]) -> list[VendorTlv]:
    return [VendorTlv(tag, value.hex()) for tag, value in values.items()]


def decode(raw: object) -> list[VendorTlv]:
    return msgspec.convert(raw, VendorTlvs)


def test_the_wire_form_is_tag_length_value_in_the_order_given():
    tlvs = [VendorTlv(0x1401, "00ff"), VendorTlv(0x1400, "31323334"), VendorTlv(0x3FFF, "")]
    assert encode_vendor_tlvs(tlvs) == bytes.fromhex("1401000200ff" "1400000431323334" "3fff0000")
    assert encode_vendor_tlvs([]) is None


@pytest.mark.parametrize("raw", [
    [{"tag": VENDOR_TAG_MIN - 1, "value_hex": ""}],
    [{"tag": VENDOR_TAG_MAX + 1, "value_hex": ""}],
    [{"tag": 0x0424, "value_hex": "00"}],  # message_payload: the engine's own
    [{"tag": VENDOR_TAG_MIN, "value_hex": "0"}],
    [{"tag": VENDOR_TAG_MIN, "value_hex": "0g"}],
    [{"tag": VENDOR_TAG_MIN, "value_hex": "00" * (MAX_VENDOR_VALUE + 1)}],
    [{"tag": VENDOR_TAG_MIN, "value_hex": "00", "extra": 1}],
    [{"tag": VENDOR_TAG_MIN + i, "value_hex": "00"} for i in range(MAX_VENDOR_TLVS + 1)],
])
def test_out_of_bounds_tlvs_do_not_decode(raw):
    with pytest.raises(msgspec.ValidationError):
        decode(raw)


def test_the_bounds_themselves_decode():
    widest = [{"tag": VENDOR_TAG_MAX - i, "value_hex": "Ab" * MAX_VENDOR_VALUE} for i in range(MAX_VENDOR_TLVS)]
    assert len(decode(widest)) == MAX_VENDOR_TLVS
    assert decode([{"tag": VENDOR_TAG_MIN, "value_hex": ""}]) == [VendorTlv(VENDOR_TAG_MIN, "")]


@given(st.lists(TAGS, max_size=MAX_VENDOR_TLVS))
def test_repeated_tag_names_the_first_repeat(tags):
    found = repeated_tag([VendorTlv(tag, "") for tag in tags])
    firsts = [i for i, tag in enumerate(tags) if tag in tags[:i]]
    assert found == (firsts[0] if firsts else None)


@given(DISTINCT)
def test_the_wire_form_reads_back_tag_by_tag(values):
    block = encode_vendor_tlvs(tlvs_of(values))
    assert block == (encode_tlvs(values) if values else None)
    assert tlv_tags(block or b"") == list(values)
    assert vendor_values(tlvs_of(values)) == values


@given(DISTINCT, DISTINCT)
def test_a_messages_own_tag_replaces_the_carriers_and_nothing_else_changes(defaults, own):
    block = encode_vendor_tlvs(tlvs_of(own))
    merged = with_defaults(block, defaults)
    kept = {tag: value for tag, value in defaults.items() if tag not in own}
    # the carrier's that the message does not give, then the message's own, octet for octet
    assert merged == encode_tlvs(kept) + (block or b"")
    assert sorted(tlv_tags(merged)) == sorted(set(defaults) | set(own))
