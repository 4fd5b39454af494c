"""Concatenation of long messages on the wire: UDH, SAR TLVs or one message_payload, and reading them back."""

from __future__ import annotations

import enum
import zlib
from collections.abc import Sequence
from typing import Any

from smsengine.smpp.constants import EsmClass, Tag

# Plain ints: they are dict keys and bit masks on the per-message path.
_UDHI = int(EsmClass.UDHI)
_SAR_MSG_REF_NUM = int(Tag.SAR_MSG_REF_NUM)
_SAR_TOTAL_SEGMENTS = int(Tag.SAR_TOTAL_SEGMENTS)
_SAR_SEGMENT_SEQNUM = int(Tag.SAR_SEGMENT_SEQNUM)
_MESSAGE_PAYLOAD = int(Tag.MESSAGE_PAYLOAD)


class ConcatMethod(enum.Enum):
    UDH = "udh"  # 6-byte header, IEI 0x00 with an 8-bit reference, esm_class UDHI
    SAR = "sar"  # sar_* TLVs with a 16-bit reference
    PAYLOAD = "payload"  # the whole message in one message_payload TLV; the SMSC splits


class WirePart:
    """What one submit_sm carries for one part of a message."""

    __slots__ = ("short_message", "esm_class", "tlvs")

    def __init__(self, short_message: bytes, esm_class: int, tlvs: dict[int, int | bytes]) -> None:
        self.short_message = short_message
        self.esm_class = esm_class
        self.tlvs = tlvs

    def __repr__(self) -> str:
        return f"WirePart({self.short_message!r}, esm_class={self.esm_class:#x}, tlvs={self.tlvs})"


# (reference, total, sequence) of one part of a concatenated message
PartNumber = tuple[int, int, int]


def udh(reference: int, total: int, sequence: int) -> bytes:
    """The 6-byte concatenation UDH (IEI 0x00, 8-bit reference) of part `sequence` of `total`."""
    return bytes((0x05, 0x00, 0x03, reference & 0xFF, total, sequence))


def parse_udh(short_message: bytes) -> tuple[int, int, int, bytes] | None:
    """(reference, total, sequence, body) from a concatenation UDH (8- or 16-bit reference)."""
    if len(short_message) < 1:
        return None
    header_len = short_message[0]
    if header_len + 1 > len(short_message):
        return None
    header = short_message[1 : header_len + 1]
    body = short_message[header_len + 1 :]
    pos = 0
    while pos + 2 <= len(header):
        iei, length = header[pos], header[pos + 1]
        value = header[pos + 2 : pos + 2 + length]
        if len(value) != length:
            return None
        if iei == 0x00 and length == 3:
            return value[0], value[1], value[2], body
        if iei == 0x08 and length == 4:
            return (value[0] << 8) | value[1], value[2], value[3], body
        pos += 2 + length
    return None


def wire_parts(payloads: Sequence[bytes], method: ConcatMethod, reference: int) -> list[WirePart]:
    """The submit_sm payloads for a message already split into `payloads` (one per segment).
    A single-part message needs no header; PAYLOAD sends them joined in one message_payload TLV."""
    total = len(payloads)
    if method is ConcatMethod.PAYLOAD:
        return [WirePart(b"", 0, {_MESSAGE_PAYLOAD: b"".join(payloads)})]
    if total == 1:
        return [WirePart(payloads[0], 0, {})]
    if method is ConcatMethod.UDH:
        ref = reference & 0xFF
        return [WirePart(udh(ref, total, i) + p, _UDHI, {}) for i, p in enumerate(payloads, 1)]
    ref16 = reference & 0xFFFF
    return [
        WirePart(p, 0, {_SAR_MSG_REF_NUM: ref16, _SAR_TOTAL_SEGMENTS: total, _SAR_SEGMENT_SEQNUM: i})
        for i, p in enumerate(payloads, 1)
    ]


def parse_part(short_message: bytes, esm_class: int, tlvs: dict[int, Any]) -> tuple[bytes, PartNumber | None]:
    """(content without any UDH, (reference, total, sequence) or None) of one received submit_sm or
    deliver_sm: the inverse of `wire_parts`, for UDH, SAR TLVs or message_payload."""
    if esm_class & _UDHI:
        parsed = parse_udh(short_message)
        if parsed is not None:
            return parsed[3], (parsed[0], parsed[1], parsed[2])
    if tlvs:
        payload = tlvs.get(_MESSAGE_PAYLOAD)
        if payload is not None and not short_message:
            short_message = payload
        total = tlvs.get(_SAR_TOTAL_SEGMENTS)
        if total is not None:
            return short_message, (tlvs.get(_SAR_MSG_REF_NUM, 0), total, tlvs.get(_SAR_SEGMENT_SEQNUM, 1))
    return short_message, None


class ReferenceRotor:
    """Concatenation references that rotate per destination, in bounded memory.

    Destinations hash into a fixed table of counters: two consecutive long messages to the same
    number always get different references, whatever else shares the slot, and memory does not
    grow with the number of destinations. crc32 keeps it reproducible across runs."""

    __slots__ = ("_counters", "_mask")

    def __init__(self, slots: int = 4096) -> None:
        if slots & (slots - 1):
            raise ValueError("slots must be a power of two")
        self._counters = [0] * slots
        self._mask = slots - 1

    def next(self, destination: str) -> int:
        slot = zlib.crc32(destination.encode()) & self._mask
        value = (self._counters[slot] + 1) & 0xFFFF
        self._counters[slot] = value
        return value
