"""Delivery receipts as the simulator writes them: deliver_sm, esm_class 0x04, appendix-B text, TLVs."""

from __future__ import annotations

import struct
from datetime import datetime

from smsengine.smpp.constants import EsmClass, Tag
from smsengine.smpp.pdu import DeliverSm, NetworkErrorCode
from smsengine.smpp.receipt import format_receipt

from carriers.fates import Outcome
from carriers.messages import MessageRecord
from carriers.message_ids import MessageIdMaker

# GSM 03.38 septets that print as themselves in ASCII; everything else shows as '?' in the text: preview.
_GSM_PREVIEW = bytes(
    b if (0x20 <= b < 0x7F and b not in b"$@[\\]^_`{|}~") else 0x3F for b in range(256)
)
GSM_NETWORK = 3  # network_error_code network type: GSM (SMPP 3.4 §5.3.2.31)
# Tags as plain ints for struct packing; TLV values as raw bytes (the codec writes bytes verbatim).
_RECEIPTED_MESSAGE_ID = int(Tag.RECEIPTED_MESSAGE_ID)
_MESSAGE_STATE = int(Tag.MESSAGE_STATE)
_NETWORK_ERROR_CODE = int(Tag.NETWORK_ERROR_CODE)
_TLV = struct.Struct(">HH")
_NET_ERR = struct.Struct(">HHBH")
_STATE_HEAD = _TLV.pack(_MESSAGE_STATE, 1)
# esm_class, protocol_id, priority_flag, schedule_delivery_time, validity_period,
# registered_delivery, replace_if_present_flag, data_coding, sm_default_msg_id
_RECEIPT_FIXED = b"\0" + bytes((int(EsmClass.DELIVERY_RECEIPT), 0, 0)) + b"\0\0" + bytes((0, 0, 0, 0))


def preview_text(preview: bytes, data_coding: int) -> str:
    """The first 20 characters of a message, ASCII only, for the receipt's `text:` field."""
    if data_coding == 0x08:
        text = preview[:40].decode("utf-16-be", "replace")
        return text[:20].encode("ascii", "replace").decode("ascii")
    return preview[:20].translate(_GSM_PREVIEW).decode("ascii")


# A load test sends the same few texts many times: their previews are made once (a twentieth of
# the simulator's time per receipt, benchmarks/e2e_bench.py), at most this many kept.
_PREVIEWS_KEPT = 4096


class ReceiptTemplate:
    """What every receipt of one outcome and (submit minute, done minute) shares, already encoded:
    the text around the id (`head`, `middle`, their length `fixed`) and the TLVs after the id (`tail`)."""

    __slots__ = ("head", "middle", "fixed", "tail")

    def __init__(self, head: str, middle: str, outcome: Outcome) -> None:
        self.head = head.encode("ascii")
        self.middle = middle.encode("ascii")
        self.fixed = len(self.head) + len(self.middle)
        tail = b"\0" + _STATE_HEAD + outcome.state_byte
        if outcome.err:
            tail += _NET_ERR.pack(_NETWORK_ERROR_CODE, 3, GSM_NETWORK, outcome.err)
        self.tail = tail


class ReceiptWriter:
    """Builds the receipt deliver_sm for a record whose fate just became final."""

    __slots__ = ("ids", "_minutes", "_templates", "_previews")

    def __init__(self, ids: MessageIdMaker) -> None:
        self.ids = ids
        self._minutes: dict[int, datetime] = {}
        self._templates: dict[tuple, ReceiptTemplate] = {}
        self._previews: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})  # [UCS2?]: content -> preview

    def _preview(self, preview: bytes, data_coding: int) -> bytes:
        """preview_text, ASCII-encoded, made once per content (keyed by the bytes alone: no tuple per receipt)."""
        previews = self._previews[data_coding == 0x08]
        text = previews.get(preview)
        if text is None:
            if len(previews) >= _PREVIEWS_KEPT:
                previews.clear()
            text = previews[preview] = preview_text(preview, data_coding).encode("ascii")
        return text

    def _minute(self, wall: float) -> datetime:
        minute = int(wall) // 60
        moment = self._minutes.get(minute)
        if moment is None:
            if len(self._minutes) > 256:
                self._minutes.clear()
            moment = self._minutes[minute] = datetime.fromtimestamp(minute * 60)
        return moment

    def _template(self, outcome: Outcome, submitted_wall: float, done_wall: float) -> ReceiptTemplate:
        """format_receipt's output around the id and the text, per (outcome, submit minute, done minute).

        Receipt dates have minute resolution, so consecutive receipts share everything but the id and
        the text; formatting once per minute keeps the appendix-B text exactly the formatter's."""
        key = (outcome, int(submitted_wall) // 60, int(done_wall) // 60)
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) > 1024:
                self._templates.clear()
            text = format_receipt(
                "\0",
                outcome.stat,
                self._minute(submitted_wall),
                self._minute(done_wall),
                err=outcome.err,
                text="\1",
            )
            head, rest = text.split("\0")
            template = self._templates[key] = ReceiptTemplate(head, rest.split("\1")[0], outcome)
        return template

    def receipt_body(self, record: MessageRecord, done_wall: float) -> bytes:
        """The encoded body of `receipt(...)`'s deliver_sm, written directly from pre-encoded pieces:
        on the simulator's hottest path this costs a third of building the PDU and encoding it (same
        bytes; tested). Only the id, the addresses and the preview differ between receipts."""
        receipt_id = self.ids.receipt(record.number) if self.ids.differs else record.resp_id
        template = self._template(record.outcome, record.submitted_wall, done_wall)
        rid = receipt_id.encode("ascii")
        preview = self._preview(record.preview, record.data_coding)
        return b"".join((
            b"\0\x01\x01", record.destination.encode("ascii"), b"\0\0\0", record.source.encode("ascii"),
            _RECEIPT_FIXED, bytes((template.fixed + len(rid) + len(preview),)), template.head, rid, template.middle,
            preview, _TLV.pack(_RECEIPTED_MESSAGE_ID, len(rid) + 1), rid, template.tail,
        ))

    def receipt(self, record: MessageRecord, done_wall: float) -> DeliverSm:
        outcome = record.outcome
        receipt_id = self.ids.receipt(record.number) if self.ids.differs else record.resp_id
        template = self._template(outcome, record.submitted_wall, done_wall)
        text = template.head.decode() + receipt_id + template.middle.decode() + preview_text(record.preview, record.data_coding)
        tlvs: dict = {_RECEIPTED_MESSAGE_ID: receipt_id.encode("ascii") + b"\0", _MESSAGE_STATE: outcome.state_byte}
        if outcome.err:
            tlvs[_NETWORK_ERROR_CODE] = NetworkErrorCode(GSM_NETWORK, outcome.err)
        # Positional fields (wire order): this runs once per receipt.
        return DeliverSm(
            0, 0, tlvs, "", 1, 1, record.destination, 0, 0, record.source,
            EsmClass.DELIVERY_RECEIPT, 0, 0, "", "", 0, 0, 0, 0, text.encode("ascii"),
        )  # fmt: skip

