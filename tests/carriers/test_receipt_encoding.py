"""The simulator's directly written receipt bodies are byte-identical to encoding the PDU."""

import time

import pytest

from carriers.fates import OUTCOMES, Fate
from carriers.message_ids import MessageIdMaker
from carriers.messages import MessageRecord
from carriers.receipts import ReceiptWriter
from smsengine.smpp.codec import decode_pdu, encode_pdu
from smsengine.smpp.constants import HEADER_SIZE


@pytest.mark.parametrize("fate", list(OUTCOMES))
@pytest.mark.parametrize("data_coding, preview", [(0, b"Hello there, world! and more"), (8, "你好，世界".encode("utf-16-be"))])
def test_receipt_body_matches_the_encoded_pdu(fate, data_coding, preview):
    writer = ReceiptWriter(MessageIdMaker(1, "hex", "decimal"))
    record = MessageRecord(
        number=4242, resp_id="1092", system_id="smsengine", source="smsengine", destination="8613800138000",
        submitted_wall=time.time() - 5, final_at=0.0, outcome=OUTCOMES[fate], preview=preview,
        data_coding=data_coding, registered_delivery=1,
    )
    now = time.time()
    pdu = writer.receipt(record, now)
    assert writer.receipt_body(record, now) == encode_pdu(pdu)[HEADER_SIZE:]
    decoded = decode_pdu(encode_pdu(pdu))
    assert decoded.esm_class == 4 and decoded.short_message.startswith(b"id:")
