"""The simulated SMSC over real sockets: binds, fates and receipts, throttling, window, queries, storage, MO."""

from __future__ import annotations

import asyncio
import struct

import pytest
from structlog.testing import capture_logs

from carriers.config import Delays, FateRule, FateShares, Latency, MessageIds, MoReplies
from carriers.esme import EsmeClient
from smsengine.smpp.concatenation import parse_udh, udh
from smsengine.smpp.codec import decode_pdu, encode_pdu
from smsengine.smpp.constants import CommandStatus, EsmClass, MessageState, Tag
from smsengine.smpp.pdu import (
    BindReceiver,
    CancelSm,
    DeliverSm,
    DistributionList,
    QuerySm,
    SmeDestination,
    SubmitMulti,
    SubmitSm,
)
from smsengine.smpp.receipt import parse_receipt
from tests.carriers.carrier_harness import PASSWORD, SYSTEM_ID, bound, make_profile, running
from tests.support.polling import eventually

S = CommandStatus
FATE_PREFIXES = {
    "empty": "86130",
    "powered_off": "86131",
    "out_of_service": "86132",
    "inbox_full": "86133",
    "poor_reception": "86134",
    "blocked": "86135",
    "invalid_destination": "86136",
}
EXPECTED = {  # fate -> (stat, err, message_state)
    "delivered": ("DELIVRD", "000", MessageState.DELIVERED),
    "empty": ("UNDELIV", "001", MessageState.UNDELIVERABLE),
    "powered_off": ("DELIVRD", "000", MessageState.DELIVERED),
    "out_of_service": ("UNDELIV", "013", MessageState.UNDELIVERABLE),
    "inbox_full": ("UNDELIV", "020", MessageState.UNDELIVERABLE),
    "poor_reception": ("DELIVRD", "000", MessageState.DELIVERED),
    "blocked": ("UNDELIV", "011", MessageState.UNDELIVERABLE),
    "sensitive": ("REJECTD", "069", MessageState.REJECTED),
}


def submit(destination: str, text: bytes = b"hello", **fields: object) -> SubmitSm:
    fields.setdefault("registered_delivery", 1)
    fields.setdefault("source_addr", "smsengine")
    return SubmitSm(destination_addr=destination, short_message=text, **fields)  # type: ignore[arg-type]


async def receipts(client: EsmeClient, count: int, timeout: float = 5.0) -> list[DeliverSm]:
    return [await client.next_delivery(timeout) for _ in range(count)]


async def wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    await eventually(condition, timeout, interval=0.01)


# ---- binds ----


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [
        (SYSTEM_ID, PASSWORD, S.ESME_ROK),
        (SYSTEM_ID, "wrong", S.ESME_RINVPASWD),
        ("stranger", PASSWORD, S.ESME_RINVSYSID),
    ],
)
@pytest.mark.parametrize("mode", ["transmitter", "receiver", "transceiver"])
async def test_bind_checks_credentials(mode: str, system_id: str, password: str, status: int) -> None:
    async with running(make_profile()) as server:
        client = await EsmeClient.connect("127.0.0.1", server.port)
        resp = await client.bind(mode, system_id, password, check=False)  # type: ignore[arg-type]
        client.close()
    assert resp.command_status == status
    assert server.counters.binds == (1 if status == 0 else 0)
    assert server.counters.bind_failures == (0 if status == 0 else 1)


async def raw_exchange(port: int, pdus: list) -> list:  # type: ignore[type-arg]
    """Write PDUs without a client-side session (which would refuse to send them), read one answer each."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    for pdu in pdus:
        writer.write(encode_pdu(pdu))
        header = await asyncio.wait_for(reader.readexactly(16), 5)
        body = await reader.readexactly(struct.unpack(">I", header[:4])[0] - 16)
        answers.append(decode_pdu(header + body))
    writer.close()
    return answers


async def test_submit_needs_a_transmitting_bind() -> None:
    async with running(make_profile()) as server:
        (unbound,) = await raw_exchange(server.port, [submit("8613800138000", sequence_number=1)])
        bind, on_receiver = await raw_exchange(
            server.port,
            [
                BindReceiver(sequence_number=1, system_id=SYSTEM_ID, password=PASSWORD),
                submit("8613800138000", sequence_number=2),
            ],
        )
    assert unbound.command_status == S.ESME_RINVBNDSTS
    assert bind.command_status == 0
    assert on_receiver.command_status == S.ESME_RINVBNDSTS
    assert server.counters.accepted == 0


async def test_unknown_command_gets_generic_nack() -> None:
    async with running(make_profile()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(struct.pack(">IIII", 16, 0x00000777, 0, 42))
        header = await asyncio.wait_for(reader.readexactly(16), 5)
        writer.close()
    length, command_id, status, seq = struct.unpack(">IIII", header)
    assert (command_id, status, seq) == (0x80000000, S.ESME_RINVCMDID, 42)
    assert server.counters.generic_nacks == 1


async def test_unbind_is_answered_and_closes() -> None:
    async with running(make_profile()) as server:
        async with bound(server) as client:
            await client.unbind()
            await asyncio.wait_for(client.closed.wait(), 5)
        await wait_for(lambda: server.counters.active_binds == 0)
    assert server.counters.unbinds == 1


# ---- fates and receipts ----


async def test_every_fate_ends_in_its_receipt() -> None:
    rules = [FateRule(fate=fate, prefix=prefix) for fate, prefix in FATE_PREFIXES.items()]
    profile = make_profile(rules=rules, sensitive_words=["casino"])
    async with running(profile) as server, bound(server) as client:
        numbers = {fate: prefix + "0012345" for fate, prefix in FATE_PREFIXES.items()}
        numbers["delivered"] = "8613800138000"
        invalid = await client.request(submit(numbers.pop("invalid_destination")))
        resps = {fate: await client.request(submit(number)) for fate, number in numbers.items()}
        resps["sensitive"] = await client.request(submit("8613800138001", b"Win at the CASINO tonight"))
        got = {d.tlvs[Tag.RECEIPTED_MESSAGE_ID]: d for d in await receipts(client, len(resps))}
    assert invalid.command_status == S.ESME_RINVDSTADR
    assert all(r.command_status == 0 for r in resps.values())
    assert len({r.message_id for r in resps.values()}) == len(resps)
    for fate, resp in resps.items():
        deliver = got[resp.message_id]
        receipt = parse_receipt(deliver.short_message.decode())
        stat, err, state = EXPECTED[fate]
        assert deliver.esm_class == EsmClass.DELIVERY_RECEIPT, fate
        assert (receipt.id, receipt.stat, receipt.err) == (resp.message_id, stat, err), fate
        assert deliver.tlvs[Tag.MESSAGE_STATE] == state, fate
        assert len(receipt.submit_date) == 10 and len(receipt.done_date) == 10
    assert server.counters.fates["sensitive"] == 1
    assert sum(server.counters.receipts.values()) == len(resps)


async def test_a_submit_whose_receipt_cannot_be_written_is_dropped_and_the_others_arrive() -> None:
    loop = asyncio.get_running_loop()
    failures: list[dict] = []  # type: ignore[type-arg]
    loop.set_exception_handler(lambda _, context: failures.append(context))
    try:
        with capture_logs() as logs:
            async with running(make_profile()) as server, bound(server) as client:
                # non-ASCII source_addr: accepted as sent (latin-1 on the wire), but a receipt is ASCII
                bad = client.send(submit("8613800138000", source_addr="caf\xe9"))
                good = [client.send(submit(f"86138006{i:05d}")) for i in range(5)]
                bad_id = (await bad).message_id
                good_ids = [(await f).message_id for f in good]
                got = await receipts(client, 5)
                await asyncio.sleep(0.05)  # room for a wrongly sent sixth
    finally:
        loop.set_exception_handler(None)
    assert sorted(d.tlvs[Tag.RECEIPTED_MESSAGE_ID] for d in got) == sorted(good_ids)
    assert client.delivered.empty()
    assert server.counters.unwritable == 1 and server.counters.accepted == 6
    (line,) = [entry for entry in logs if entry["event"] == "carrier.delivery_dropped"]
    assert line["log_level"] == "warning" and line["message_id"] == bad_id and "UnicodeEncodeError" in line["reason"]
    assert failures == []


async def test_powered_off_past_validity_expires() -> None:
    profile = make_profile(
        rules=[FateRule(fate="powered_off", prefix="86")],
        delays=Delays(regular=(1.0, 1.0), powered_off=(50.0, 50.0), validity=20.0),
    )
    async with running(profile) as server, bound(server) as client:
        resp = await client.request(submit("8613800138000"))
        (deliver,) = await receipts(client, 1)
    receipt = parse_receipt(deliver.short_message.decode())
    assert (receipt.id, receipt.stat, receipt.err) == (resp.message_id, "EXPIRED", "027")
    assert deliver.tlvs[Tag.MESSAGE_STATE] == MessageState.EXPIRED


async def test_registered_delivery_decides_whether_a_receipt_is_sent() -> None:
    profile = make_profile(rules=[FateRule(fate="empty", prefix="86130")])
    async with running(profile) as server, bound(server) as client:
        await client.request(submit("8613800138000", registered_delivery=0))
        await client.request(submit("8613800138001", registered_delivery=2))  # on failure only: delivered
        failed = await client.request(submit("8613000138002", registered_delivery=2))
        always = await client.request(submit("8613800138003", registered_delivery=1))
        got = await receipts(client, 2)
        await asyncio.sleep(0.05)
    assert sorted(d.tlvs[Tag.RECEIPTED_MESSAGE_ID] for d in got) == sorted([failed.message_id, always.message_id])
    assert client.delivered.empty()


async def test_same_seed_replays_the_same_fates() -> None:
    shares = FateShares(empty=0.2, powered_off=0.1, out_of_service=0.1, inbox_full=0.05, blocked=0.1)
    numbers = [f"86139{i:08d}" for i in range(120)]

    async def outcomes(seed: int) -> dict[str, tuple[str, str]]:
        profile = make_profile(seed=seed, fates=shares, delays=Delays(regular=(1.0, 5.0), powered_off=(1.0, 30.0)))
        async with running(profile) as server, bound(server) as client:
            futures = [client.send(submit(n)) for n in numbers]
            ids = {(await f).message_id: n for f, n in zip(futures, numbers)}
            result = {}
            for deliver in await receipts(client, len(numbers)):
                receipt = parse_receipt(deliver.short_message.decode())
                result[ids[receipt.id]] = (receipt.stat, receipt.err)
            return result

    first, again, other = await outcomes(11), await outcomes(11), await outcomes(12)
    assert first == again
    assert first != other
    assert {stat for stat, _ in first.values()} >= {"DELIVRD", "UNDELIV"}


async def test_each_segment_gets_its_own_id_and_receipt() -> None:
    async with running(make_profile()) as server, bound(server) as client:
        udh_parts = [
            await client.request(submit("8613800138000", udh(7, 3, i) + b"part %d" % i, esm_class=0x40))
            for i in (1, 2, 3)
        ]
        sar_parts = [
            await client.request(
                submit(
                    "8613800138000",
                    b"sar %d" % i,
                    tlvs={Tag.SAR_MSG_REF_NUM: 9, Tag.SAR_TOTAL_SEGMENTS: 2, Tag.SAR_SEGMENT_SEQNUM: i},
                )
            )
            for i in (1, 2)
        ]
        payload = await client.request(submit("8613800138000", b"", tlvs={Tag.MESSAGE_PAYLOAD: b"x" * 400}))
        got = await receipts(client, 6)
    ids = [r.message_id for r in (*udh_parts, *sar_parts, payload)]
    assert len(set(ids)) == 6
    assert sorted(d.tlvs[Tag.RECEIPTED_MESSAGE_ID] for d in got) == sorted(ids)
    texts = {parse_receipt(d.short_message.decode()).text for d in got}
    assert {"part 1", "part 3", "sar 2", "x" * 20} <= texts  # the UDH is not part of the text


async def test_receipt_ids_can_use_another_form_than_the_response() -> None:
    profile = make_profile(message_ids=MessageIds(resp="hex", receipt="decimal"))
    async with running(profile) as server, bound(server) as client:
        resp = await client.request(submit("8613800138000"))
        (deliver,) = await receipts(client, 1)
    receipt = parse_receipt(deliver.short_message.decode())
    assert receipt.id == str(int(resp.message_id, 16)) == deliver.tlvs[Tag.RECEIPTED_MESSAGE_ID]
    assert resp.message_id != receipt.id


async def test_submit_multi_answers_per_destination() -> None:
    async with running(make_profile()) as server, bound(server) as client:
        resp = await client.request(
            SubmitMulti(
                source_addr="smsengine",
                destinations=[
                    SmeDestination(1, 1, "8613800138000"),
                    SmeDestination(1, 1, "12"),
                    DistributionList("friends"),
                    SmeDestination(1, 1, "8613800138001"),
                ],
                registered_delivery=1,
                short_message=b"to many",
            )
        )
        got = await receipts(client, 2)
    assert resp.command_status == 0 and resp.message_id
    assert sorted((u.address, u.error_status_code) for u in resp.unsuccess_smes) == [
        ("12", S.ESME_RINVDSTADR),
        ("friends", S.ESME_RINVDLNAME),
    ]
    assert sorted(d.source_addr for d in got) == ["8613800138000", "8613800138001"]


# ---- limits ----


async def test_throughput_cap_throttles_beyond_the_rate() -> None:
    profile = make_profile(throughput_per_s=20.0, throughput_burst=5.0)
    async with running(profile) as server, bound(server) as client:
        futures = [client.send(submit(f"86138001{i:05d}", registered_delivery=0)) for i in range(60)]
        statuses = [(await f).command_status for f in futures]
    accepted = statuses.count(0)
    assert statuses.count(S.ESME_RTHROTTLED) == 60 - accepted
    assert 5 <= accepted < 20  # the burst, plus what refilled while the 60 were being answered
    assert server.counters.throttled == 60 - accepted


async def test_window_limits_unanswered_submits_per_bind() -> None:
    profile = make_profile(window=4, latency=Latency(kind="fixed", ms=150.0))
    async with running(profile) as server, bound(server) as client:
        futures = [client.send(submit(f"86138002{i:05d}", registered_delivery=0)) for i in range(10)]
        statuses = [(await f).command_status for f in futures]
    assert statuses.count(0) == 4
    assert statuses.count(S.ESME_RTHROTTLED) == 6


async def test_fault_rates_answer_queue_full_and_system_error() -> None:
    profile = make_profile(queue_full_rate=0.3, system_error_rate=0.3, seed=4)
    async with running(profile) as server, bound(server) as client:
        futures = [client.send(submit(f"86138003{i:05d}", registered_delivery=0)) for i in range(200)]
        statuses = [(await f).command_status for f in futures]
    assert 30 < statuses.count(S.ESME_RMSGQFUL) < 90
    assert 20 < statuses.count(S.ESME_RSYSERR) < 80
    assert server.counters.rejected[S.ESME_RMSGQFUL] == statuses.count(S.ESME_RMSGQFUL)


async def test_drop_rate_kills_connections() -> None:
    async with running(make_profile(drop_per_pdu=1.0)) as server:
        client = await EsmeClient.connect("127.0.0.1", server.port)
        with pytest.raises((ConnectionError, asyncio.TimeoutError)):
            await client.bind("transceiver", SYSTEM_ID, PASSWORD)
        await asyncio.wait_for(client.closed.wait(), 5)
    assert server.counters.drops == 1


# ---- query, cancel, storage, keep-alive ----


async def test_query_sm_reports_state_and_final_date() -> None:
    profile = make_profile(rules=[FateRule(fate="poor_reception", prefix="86134")], time_scale=0.01)
    async with running(profile) as server, bound(server) as client:
        slow = await client.request(submit("8613400000001"))  # final after 30 s * 0.01
        fast = await client.request(submit("8613800000001"))
        (deliver,) = await receipts(client, 1)
        pending = await client.request(QuerySm(message_id=slow.message_id, source_addr="smsengine"))
        done = await client.request(QuerySm(message_id=fast.message_id, source_addr="smsengine"))
        unknown = await client.request(QuerySm(message_id="ffffffffff", source_addr="smsengine"))
    assert deliver.tlvs[Tag.RECEIPTED_MESSAGE_ID] == fast.message_id
    assert (pending.message_state, pending.final_date) == (MessageState.ENROUTE, "")
    assert done.message_state == MessageState.DELIVERED and len(done.final_date) == 16
    assert unknown.command_status == S.ESME_RQUERYFAIL


async def test_cancel_stops_the_receipt() -> None:
    profile = make_profile(rules=[FateRule(fate="poor_reception", prefix="86134")], time_scale=0.01)
    async with running(profile) as server, bound(server) as client:
        resp = await client.request(submit("8613400000001"))
        cancelled = await client.request(CancelSm(message_id=resp.message_id, source_addr="smsengine"))
        query = await client.request(QuerySm(message_id=resp.message_id, source_addr="smsengine"))
        again = await client.request(CancelSm(message_id=resp.message_id, source_addr="smsengine"))
        await asyncio.sleep(0.4)  # past the moment the receipt would have been due
    assert cancelled.command_status == 0
    assert query.message_state == MessageState.DELETED
    assert again.command_status == S.ESME_RCANCELFAIL
    assert client.delivered.empty()


async def test_receipts_wait_for_a_receiver_and_arrive_on_rebind() -> None:
    async with running(make_profile()) as server:
        async with bound(server, "transmitter") as tx:
            ids = [(await tx.request(submit(f"86138004{i:05d}"))).message_id for i in range(5)]
            await wait_for(lambda: server.counters.stored == 5)
            assert tx.delivered.empty()
        async with bound(server, "receiver") as rx:
            got = await receipts(rx, 5)
    assert sorted(d.tlvs[Tag.RECEIPTED_MESSAGE_ID] for d in got) == sorted(ids)
    assert server.counters.stored == 0


async def test_unacknowledged_receipts_are_resent_after_a_reconnect() -> None:
    async with running(make_profile()) as server:
        refusing = await EsmeClient.connect("127.0.0.1", server.port, deliver_status=S.ESME_RX_T_APPN)
        await refusing.bind("transceiver", SYSTEM_ID, PASSWORD)
        resp = await refusing.request(submit("8613800138000"))
        await wait_for(lambda: server.counters.receipts["DELIVRD"] >= 1)
        refusing.close()
        async with bound(server, "receiver") as rx:
            (deliver,) = await receipts(rx, 1)
    assert deliver.tlvs[Tag.RECEIPTED_MESSAGE_ID] == resp.message_id


async def test_receipts_round_robin_over_receivers() -> None:
    async with running(make_profile()) as server:
        async with bound(server, "receiver") as a, bound(server, "receiver") as b, bound(server, "transmitter") as tx:
            for i in range(10):
                await tx.request(submit(f"86138005{i:05d}"))
            await wait_for(lambda: a.delivered.qsize() + b.delivered.qsize() == 10)
    assert a.delivered.qsize() == 5 and b.delivered.qsize() == 5


async def test_idle_bind_is_probed_with_enquire_link() -> None:
    async with running(make_profile(enquire_link_s=0.2)) as server, bound(server) as client:
        await wait_for(lambda: client.enquire_links_answered >= 1, timeout=5.0)
    assert client.enquire_links_answered >= 1


# ---- mobile-originated replies ----


async def test_delivered_recipients_reply_with_unsubscribe_keywords() -> None:
    profile = make_profile(mo=MoReplies(share=1.0, delay=(1.0, 1.0), mix={"TD": 1.0}))
    async with running(profile) as server, bound(server) as client:
        await client.request(submit("8613800138000", source_addr="10690001"))
        got = await receipts(client, 2)
    (mo,) = [d for d in got if d.esm_class == 0]
    assert (mo.source_addr, mo.destination_addr, mo.short_message) == ("8613800138000", "10690001", b"TD")
    assert server.counters.mo_sent == 1


async def test_long_replies_arrive_as_concatenated_parts() -> None:
    text = "Please stop sending me these messages, I never asked for them. " * 4
    profile = make_profile(mo=MoReplies(share=1.0, delay=(1.0, 1.0), mix={text: 1.0}))
    async with running(profile) as server, bound(server) as client:
        await client.request(submit("8613800138000", registered_delivery=0))
        parts = [parse_udh(d.short_message) for d in await receipts(client, 2)]
    assert all(p is not None for p in parts)
    assert [p[2] for p in sorted(parts, key=lambda p: p[2])] == [1, 2]  # type: ignore[index]
    body = b"".join(p[3] for p in sorted(parts, key=lambda p: p[2]))  # type: ignore[index]
    assert body.decode("latin-1") == text


async def test_mo_replies_only_once_per_concatenated_message() -> None:
    profile = make_profile(mo=MoReplies(share=1.0, delay=(1.0, 1.0), mix={"N": 1.0}))
    async with running(profile) as server, bound(server) as client:
        for i in (1, 2):
            await client.request(submit("8613800138000", udh(3, 2, i) + b"half", esm_class=0x40, registered_delivery=0))
        (mo,) = await receipts(client, 1)
        await asyncio.sleep(0.05)
    assert mo.short_message == b"N"
    assert client.delivered.empty()

