"""What a carrier's deliver_sm means: a delivery receipt, or (part of) a reply from a handset."""

from __future__ import annotations

from smsengine.domain import gsm7
from smsengine.smpp.concatenation import parse_part
from smsengine.smpp.constants import ESM_MESSAGE_TYPE_MASK, EsmClass, Tag
from smsengine.smpp.pdu import DeliverSm
from smsengine.smpp.receipt import STAT_FOR_STATE, receipt_status, scan_receipt

_UCS2 = 8
_RECEIPT = int(EsmClass.DELIVERY_RECEIPT)
_RECEIPTED_MESSAGE_ID = int(Tag.RECEIPTED_MESSAGE_ID)  # plain ints: an enum member costs a lookup per receipt
_MESSAGE_STATE = int(Tag.MESSAGE_STATE)


def receipt_fields(pdu: DeliverSm) -> tuple[str, str, str] | None:
    """(message id, stat, err) of a delivery receipt, from the receipt text or its TLVs; None
    when the PDU is not a receipt or names no id or state."""
    if pdu.esm_class & ESM_MESSAGE_TYPE_MASK != _RECEIPT:
        return None
    tlvs = pdu.tlvs
    raw = pdu.short_message
    nul = raw.find(0)
    if nul >= 0:  # some SMSCs end the text with a C string's NUL: what follows it is not text
        raw = raw[:nul]
    text = raw.decode("latin-1") if raw else ""
    fields = receipt_status(text) if text else None  # the usual layout, without building a Receipt
    if fields is not None:
        text_id, stat, err = fields
    elif text:
        receipt = scan_receipt(text)
        text_id, stat, err = receipt.id, receipt.stat, receipt.err
    else:
        text_id = stat = err = ""
    message_id = tlvs.get(_RECEIPTED_MESSAGE_ID) or text_id
    if not stat and _MESSAGE_STATE in tlvs:
        stat = STAT_FOR_STATE.get(tlvs[_MESSAGE_STATE], "UNKNOWN")  # type: ignore[call-overload]
    if not message_id or not stat:
        return None
    return str(message_id), stat, err or "000"


def is_reply(pdu: DeliverSm) -> bool:
    """A mobile-originated message (not a receipt, SME acknowledgement or intermediate notice)."""
    return not pdu.esm_class & ESM_MESSAGE_TYPE_MASK


class ReplyAssembler:
    """Texts of mobile-originated messages; long ones come in parts (UDH or SAR TLVs, in any
    order) and are joined once all have arrived. A message whose parts stop coming is handed out
    by `expire` with what arrived (incomplete). At most `max_pending` incomplete messages are
    kept: beyond that the oldest is dropped, so a flood of first parts cannot grow memory."""

    def __init__(self, max_pending: int = 10_000) -> None:
        self.max_pending = max_pending
        # (source_addr, ref, total) -> (parts by seq, data_coding, first part's time); insertion
        # order is arrival order of the first parts, so expiry looks at the front only
        self._parts: dict[tuple[str, int, int], tuple[dict[int, bytes], int, float]] = {}
        self.dropped = 0

    def pending(self) -> int:
        return len(self._parts)

    def text(self, pdu: DeliverSm, now: float = 0.0) -> str | None:
        """The whole text, or None while parts of a long message are missing."""
        data, number = parse_part(pdu.short_message, pdu.esm_class, pdu.tlvs)
        if not isinstance(data, bytes):
            data = b""
        if number is None or number[1] <= 1:
            return _decode(data, pdu.data_coding)
        ref, total, seq = number
        key = (pdu.source_addr, ref, total)
        entry = self._parts.get(key)
        if entry is None:
            if len(self._parts) >= self.max_pending:
                self._parts.pop(next(iter(self._parts)))
                self.dropped += 1
            entry = self._parts[key] = ({}, pdu.data_coding, now)
        parts = entry[0]
        parts[seq] = data
        if len(parts) < total:
            return None
        del self._parts[key]
        # decoded once joined: a character may be split between parts (a UCS-2 surrogate pair,
        # a GSM-7 escape and the character it escapes)
        return _decode(b"".join(parts[i] for i in sorted(parts)), pdu.data_coding)

    def expire(self, now: float, timeout: float) -> list[tuple[str, str]]:
        """(source_addr, text of the parts that arrived, in order) of every long message whose
        first part came more than `timeout` ago and that is still missing parts."""
        out = []
        pending = self._parts
        while pending:
            key = next(iter(pending))
            parts, data_coding, first = pending[key]
            if now - first <= timeout:
                break
            del pending[key]
            out.append((key[0], _decode(b"".join(parts[i] for i in sorted(parts)), data_coding)))
        return out


def _decode(data: bytes, data_coding: int) -> str:
    return data.decode("utf-16-be", "replace") if data_coding == _UCS2 else gsm7.decode(data)
