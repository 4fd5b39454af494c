"""Vendor-specific TLVs a sender adds to every submit_sm of a message (e.g. India's DLT entity and
template ids): the shape callers and carrier configs give them in, their bounds and wire form.

Only tags SMPP 3.4 leaves to SMSC vendors (0x1400–0x3FFF, §5.3.2) are taken, so no caller can
override a standard TLV the engine sets (sar_*, message_payload). Values are given as hex because
vendors disagree on what they hold (ASCII digits, a C-string with its NUL, a big-endian integer):
hex says exactly which octets go out, and they go out as given. A value is at most 255 octets and
a message carries at most 8 of them: bounds of this engine (SMPP allows 65,535), far above what
the vendor parameters in use need (DLT ids are 19 digits), and small enough that 8 of them never
push a submit_sm near an SMSC's PDU size limit.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Annotated

import msgspec

from smsengine.smpp.codec import encode_tlvs

VENDOR_TAG_MIN = 0x1400
VENDOR_TAG_MAX = 0x3FFF
MAX_VENDOR_VALUE = 255
MAX_VENDOR_TLVS = 8
_HEAD = struct.Struct(">HH")


class VendorTlv(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One vendor-specific TLV of every submit_sm of a message: its tag and its value as hex."""

    tag: Annotated[int, msgspec.Meta(
        ge=VENDOR_TAG_MIN, le=VENDOR_TAG_MAX,
        description="the TLV tag, in the vendor-specific range 0x1400-0x3FFF (5120-16383), e.g. 5120 (0x1400) for "
                    "India's DLT entity id")]
    value_hex: Annotated[str, msgspec.Meta(
        max_length=2 * MAX_VENDOR_VALUE, pattern="^(?:[0-9A-Fa-f]{2})*$",
        description="the value's octets as hex, sent exactly as given (no terminating NUL added), at most 255 "
                    "octets (510 hex digits)")]


VendorTlvs = Annotated[list[VendorTlv], msgspec.Meta(max_length=MAX_VENDOR_TLVS)]


def repeated_tag(tlvs: Sequence[VendorTlv]) -> int | None:
    """The index of the first TLV whose tag an earlier one already gave, None when all differ."""
    seen: set[int] = set()
    for i, tlv in enumerate(tlvs):
        if tlv.tag in seen:
            return i
        seen.add(tlv.tag)
    return None


def vendor_values(tlvs: Sequence[VendorTlv]) -> dict[int, bytes]:
    """The values by tag, in the order given (tags already checked distinct)."""
    return {tlv.tag: bytes.fromhex(tlv.value_hex) for tlv in tlvs}


def encode_vendor_tlvs(tlvs: Sequence[VendorTlv]) -> bytes | None:
    """Their wire form (tag, length, value each, in the order given); None for none."""
    return encode_tlvs(vendor_values(tlvs)) if tlvs else None


def tlv_tags(block: bytes) -> list[int]:
    """The tags of an encoded TLV block, in order."""
    tags = []
    p, end = 0, len(block)
    while p + 4 <= end:
        tag, length = _HEAD.unpack_from(block, p)
        tags.append(tag)
        p += 4 + length
    return tags


def with_defaults(block: bytes | None, defaults: dict[int, bytes]) -> bytes:
    """The vendor TLVs of one submit_sm: a carrier's `defaults` except the tags the message gives
    itself, then the message's own `block` (encoded) as it is."""
    if not defaults:
        return block or b""
    if block is None:
        return encode_tlvs(defaults)
    given = set(tlv_tags(block))
    return encode_tlvs({tag: value for tag, value in defaults.items() if tag not in given}) + block
