"""Third-party ESMEs against the simulator: PyPI smpplib (sync, in a thread) and aiosmpplib (asyncio)."""

from __future__ import annotations

import asyncio

import smpplib.client
import smpplib.consts
import smpplib.gsm
from aiosmpplib import ESME, AbstractHook, DeliverSm, PhoneNumber, SmppMessage, SubmitSm, SubmitSmResp

from tests.carriers.carrier_harness import PASSWORD, SYSTEM_ID, make_profile, running

LONG_UCS2 = "您好，这是一条很长的测试短信，用来检查长短信是否按段提交并且每一段都有自己的状态报告。" * 2


def smpplib_session(port: int) -> tuple[list[str], list[object]]:
    """Bind, submit a short GSM and a long UCS-2 message, read until every part has a receipt."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    receipts: list[object] = []
    ids: list[str] = []
    client.set_message_received_handler(lambda pdu: receipts.append(pdu))
    client.set_message_sent_handler(lambda pdu: ids.append(pdu.message_id.decode()))
    client.connect()
    try:
        client.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)
        sent = 0
        for text in ("Your code is 1234", LONG_UCS2):
            parts, coding, esm_class = smpplib.gsm.make_parts(text)
            sent += len(parts)
            for part in parts:
                client.send_message(
                    source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                    source_addr="smsengine",
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                    destination_addr="8613800138000",
                    short_message=part,
                    data_coding=coding,
                    esm_class=esm_class,
                    registered_delivery=True,
                )
        while len(receipts) < sent or len(ids) < sent:
            client.read_once()
        client.unbind()
    finally:
        client.disconnect()
    return ids, receipts


async def test_smpplib_submits_and_gets_receipts() -> None:
    async with running(make_profile()) as server:
        ids, receipts = await asyncio.to_thread(smpplib_session, server.port)
    assert len(ids) == 1 + 2  # the UCS-2 text needs two segments
    assert sorted(pdu.receipted_message_id.decode() for pdu in receipts) == sorted(ids)  # type: ignore[attr-defined]
    assert all(b"stat:DELIVRD" in pdu.short_message for pdu in receipts)  # type: ignore[attr-defined]
    assert server.counters.accepted == 3


class RecordingHook(AbstractHook):
    def __init__(self) -> None:
        self.responses: list[SubmitSmResp] = []
        self.receipts: list[DeliverSm] = []
        self.done = asyncio.Event()

    async def sending(self, smpp_message: SmppMessage, pdu: bytes, client_id: str) -> None:
        pass

    async def received(self, smpp_message: SmppMessage | None, pdu: bytes, client_id: str) -> None:
        if isinstance(smpp_message, SubmitSmResp):
            self.responses.append(smpp_message)
        elif isinstance(smpp_message, DeliverSm) and smpp_message.is_receipt():
            self.receipts.append(smpp_message)
            if len(self.receipts) >= 2:
                self.done.set()

    async def send_error(self, smpp_message: SmppMessage, error: Exception, client_id: str) -> None:
        pass


async def test_aiosmpplib_esme_submits_and_gets_receipts() -> None:
    async with running(make_profile()) as server:
        hook = RecordingHook()
        esme = ESME("127.0.0.1", server.port, SYSTEM_ID, PASSWORD, hook=hook, log_level="WARNING")
        for i in range(2):
            await esme.broker.enqueue(
                SubmitSm(
                    short_message=f"Test message {i}",
                    source=PhoneNumber("10690001"),
                    destination=PhoneNumber(f"861380013800{i}"),
                    log_id=f"id-{i}",
                )
            )
        task = asyncio.create_task(esme.start())
        try:
            await asyncio.wait_for(hook.done.wait(), 10)
        finally:
            await esme.stop()
            task.cancel()
    assert len(hook.responses) == 2 and all(r.command_status == 0 for r in hook.responses)
    assert sorted(r.parse_receipt()["stat"] for r in hook.receipts) == ["DELIVRD", "DELIVRD"]
    assert server.counters.receipts_acked == 2
