"""Delivery receipts as the simulator writes them: deliver_sm, esm_class 0x04, appendix-B text, TLVs."""

from __future__ import annotations

from datetime import datetime

from smsengine.smpp.constants import EsmClass, MessageState, Tag
from smsengine.smpp.pdu import DeliverSm, NetworkErrorCode
from smsengine.smpp.receipt import format_receipt

from carriers.messages import MessageRecord
from carriers.message_ids import MessageIdMaker

# GSM 03.38 septets that print as themselves in ASCII; everything else shows as '?' in the text: preview.
_GSM_PREVIEW = bytes(
    b if (0x20 <= b < 0x7F and b not in b"$@[\\]^_`{|}~") else 0x3F for b in range(256)
)
GSM_NETWORK = 3  # network_error_code network type: GSM (SMPP 3.4 §5.3.2.31)


def preview_text(preview: bytes, data_coding: int) -> str:
    """The first 20 characters of a message, ASCII only, for the receipt's `text:` field."""
    if data_coding == 0x08:
        text = preview[:40].decode("utf-16-be", "replace")
        return text[:20].encode("ascii", "replace").decode("ascii")
    return preview[:20].translate(_GSM_PREVIEW).decode("ascii")


class ReceiptWriter:
    """Builds the receipt deliver_sm for a record whose fate just became final."""

    __slots__ = ("ids", "_minutes")

    def __init__(self, ids: MessageIdMaker) -> None:
        self.ids = ids
        self._minutes: dict[int, datetime] = {}

    def _minute(self, wall: float) -> datetime:
        # Receipt dates have minute resolution; one datetime per minute instead of one per receipt.
        minute = int(wall) // 60
        moment = self._minutes.get(minute)
        if moment is None:
            if len(self._minutes) > 256:
                self._minutes.clear()
            moment = self._minutes[minute] = datetime.fromtimestamp(minute * 60)
        return moment

    def receipt(self, record: MessageRecord, done_wall: float, state: MessageState | None = None) -> DeliverSm:
        outcome = record.outcome
        receipt_id = self.ids.receipt(record.number) if self.ids.differs else record.resp_id
        state = outcome.state if state is None else state
        text = format_receipt(
            receipt_id,
            outcome.stat,
            self._minute(record.submitted_wall),
            self._minute(done_wall),
            err=outcome.err,
            text=preview_text(record.preview, record.data_coding),
        )
        tlvs: dict = {Tag.RECEIPTED_MESSAGE_ID: receipt_id, Tag.MESSAGE_STATE: int(state)}
        if outcome.err:
            tlvs[Tag.NETWORK_ERROR_CODE] = NetworkErrorCode(GSM_NETWORK, outcome.err)
        return DeliverSm(
            source_addr_ton=1,
            source_addr_npi=1,
            source_addr=record.destination,
            destination_addr=record.source,
            esm_class=EsmClass.DELIVERY_RECEIPT,
            short_message=text.encode("ascii"),
            tlvs=tlvs,
        )
