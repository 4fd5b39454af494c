"""Receipts and replies due at once (no delay) go out in one batch per loop turn: same order, window and store as one by one."""

from __future__ import annotations

from carriers.config import Delays, MoReplies
from smsengine.smpp.constants import CommandId, Tag
from smsengine.smpp.pdu import BindTransceiver, DeliverSm, DeliverSmResp, Pdu, SubmitSm
from tests.carriers.carrier_harness import PASSWORD, SYSTEM_ID, RawPeer, bound, make_profile, running
from tests.support.polling import eventually

INSTANT = Delays(regular=(0.0, 0.0), marketing=(0.0, 0.0))


def submits(count: int, first: int = 1) -> list[SubmitSm]:
    return [
        SubmitSm(sequence_number=first + i, source_addr="10690001", destination_addr=f"86138006{i:05d}",
                 registered_delivery=1, short_message=b"hello")
        for i in range(count)
    ]


async def bound_peer(port: int) -> RawPeer:
    peer = await RawPeer.connect(port)
    peer.write(BindTransceiver(sequence_number=1, system_id=SYSTEM_ID, password=PASSWORD))
    resp = await peer.read_pdu()
    assert resp is not None and resp.command_status == 0
    return peer


async def read_pdus(peer: RawPeer, count: int) -> list[Pdu]:
    pdus = []
    for _ in range(count):
        pdu = await peer.read_pdu()
        assert pdu is not None, f"closed after {len(pdus)} of {count} PDUs"
        pdus.append(pdu)
    return pdus


def split(pdus: list[Pdu]) -> tuple[list[str], list[DeliverSm]]:
    """(submit_sm_resp message ids, deliver_sm) in arrival order."""
    ids = [p.message_id for p in pdus if p.command_id == CommandId.SUBMIT_SM_RESP]  # type: ignore[attr-defined]
    return ids, [p for p in pdus if type(p) is DeliverSm]


def receipted(delivers: list[DeliverSm]) -> list[str]:
    return [d.tlvs[Tag.RECEIPTED_MESSAGE_ID] for d in delivers]


async def test_receipts_due_at_once_arrive_in_submit_order() -> None:
    async with running(make_profile(time_scale=0.0, delays=INSTANT)) as server:
        peer = await bound_peer(server.port)
        peer.write(*submits(50))  # one write: accepted in one read, their receipts sent in one batch
        ids, delivers = split(await read_pdus(peer, 100))
        peer.close()
    assert len(ids) == 50 and receipted(delivers) == ids
    assert server.counters.receipts["DELIVRD"] == 50


async def test_a_batch_larger_than_the_deliver_window_waits_in_the_store_and_drains_in_order() -> None:
    async with running(make_profile(time_scale=0.0, delays=INSTANT, deliver_window=3)) as server:
        peer = await bound_peer(server.port)
        peer.write(*submits(10))
        ids, delivers = split(await read_pdus(peer, 13))  # 10 answers, and only a window's worth of receipts
        assert len(delivers) == 3 and server.counters.stored == 7
        while len(delivers) < 10:  # each acknowledgement lets one stored receipt out
            peer.write(DeliverSmResp(sequence_number=delivers[-1].sequence_number))
            delivers += split(await read_pdus(peer, 1))[1]
        peer.close()
    assert receipted(delivers) == ids
    assert server.counters.stored == 0 and server.counters.receipts["DELIVRD"] == 10


async def test_a_receipt_and_its_reply_due_together_keep_their_order() -> None:
    profile = make_profile(time_scale=0.0, delays=INSTANT, mo=MoReplies(share=1.0, delay=(0.0, 0.0), mix={"TD": 1.0}))
    async with running(profile) as server:
        peer = await bound_peer(server.port)
        peer.write(*submits(3))
        ids, delivers = split(await read_pdus(peer, 9))
        peer.close()
    # each message's receipt, then its reply: as when each was its own timer callback
    assert [(d.source_addr, d.short_message if d.esm_class == 0 else "receipt") for d in delivers] == [
        (f"86138006{i:05d}", kind) for i in range(3) for kind in ("receipt", b"TD")
    ]
    assert receipted([d for d in delivers if d.esm_class]) == ids
    assert server.counters.mo_sent == 3


async def test_receipts_due_at_once_round_robin_over_receivers() -> None:
    async with running(make_profile(time_scale=0.0, delays=INSTANT)) as server:
        async with bound(server, "transmitter") as tx, bound(server, "receiver") as a, bound(server, "receiver") as b:
            for i in range(10):
                await tx.request(SubmitSm(source_addr="x", destination_addr=f"86138007{i:05d}", registered_delivery=1))
            await eventually(lambda: a.delivered.qsize() + b.delivered.qsize() == 10, 5.0, interval=0.01)
    assert (a.delivered.qsize(), b.delivered.qsize()) == (5, 5)
