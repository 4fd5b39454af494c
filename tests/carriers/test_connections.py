"""Who may connect and bind, over real sockets: bind deadline, idle limit, connection cap, failed-bind
delay and lockout, and PDUs pipelined behind a bind."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import structlog
from structlog.testing import capture_logs

from carriers.esme import EsmeClient
from smsengine.smpp.codec import encode_pdu
from smsengine.smpp.constants import CommandId, CommandStatus
from smsengine.smpp.pdu import BindReceiver, BindTransceiver, BindTransmitter, EnquireLink, SubmitSm
from tests.carriers.carrier_harness import PASSWORD, SYSTEM_ID, RawPeer, bound, make_profile, running
from tests.support.polling import eventually

S = CommandStatus


def submit(sequence_number: int, destination: str = "8613800138000") -> SubmitSm:
    return SubmitSm(sequence_number=sequence_number, source_addr="smsengine", destination_addr=destination)


def bind(cls: type = BindTransceiver, sequence_number: int = 1, password: str = PASSWORD) -> Any:
    return cls(sequence_number=sequence_number, system_id=SYSTEM_ID, password=password)


# ---- deadlines and the cap ----


async def test_a_connection_that_never_binds_is_closed_at_the_bind_deadline() -> None:
    async with running(make_profile(bind_timeout_s=0.2)) as server:
        silent = await RawPeer.connect(server.port)
        prompt = await RawPeer.connect(server.port)
        prompt.write(bind())
        assert (await prompt.read_pdu()).command_status == 0  # type: ignore[union-attr]
        assert await silent.closed_by_peer()
        prompt.write(EnquireLink(sequence_number=2))
        still_there = await prompt.read_pdu()
        prompt.close()
    assert still_there is not None and still_there.command_id == CommandId.ENQUIRE_LINK_RESP
    assert server.counters.bind_timeouts == 1


async def test_a_silent_bound_connection_is_closed_and_a_talking_one_is_kept() -> None:
    async with running(make_profile(idle_timeout_s=0.5, enquire_link_s=30.0)) as server:
        async with bound(server) as silent, bound(server) as talker:

            async def keep_talking() -> None:
                while not silent.closed.is_set():
                    await talker.request(EnquireLink())
                    await asyncio.sleep(0.05)

            await asyncio.wait_for(keep_talking(), 5)
            talker_open = talker.transport is not None
        await eventually(lambda: server.counters.active_binds == 0, 5)
    assert talker_open
    assert server.counters.idle_closes == 1


async def test_connections_beyond_the_cap_are_closed_at_once() -> None:
    async with running(make_profile(max_connections=2)) as server:
        first, second = await RawPeer.connect(server.port), await RawPeer.connect(server.port)
        await eventually(lambda: len(server.connections) == 2, 5)
        extra = await RawPeer.connect(server.port)
        assert await extra.closed_by_peer()
        first.close()
        await eventually(lambda: len(server.connections) == 1, 5)
        async with bound(server) as client:  # room again
            resp = await client.request(EnquireLink())
        second.close()
    assert resp.command_status == 0
    assert server.counters.connections_refused == 1


# ---- failed binds ----


async def test_a_refused_bind_is_answered_after_the_configured_delay() -> None:
    """Ordering instead of a clock: with a delay, the enquire_link sent after the bad bind is
    answered before it; without one, the bind's answer comes first."""

    async def answers(delay: float) -> list[int]:
        async with running(make_profile(bind_failure_delay_s=delay)) as server:
            peer = await RawPeer.connect(server.port)
            peer.write(bind(password="wrong"), EnquireLink(sequence_number=2))
            got = [await peer.read_pdu(), await peer.read_pdu()]
            peer.close()
        return [pdu.command_id for pdu in got]  # type: ignore[union-attr]

    assert await answers(0.2) == [CommandId.ENQUIRE_LINK_RESP, CommandId.BIND_TRANSCEIVER_RESP]
    assert await answers(0.0) == [CommandId.BIND_TRANSCEIVER_RESP, CommandId.ENQUIRE_LINK_RESP]


async def test_a_second_bind_while_a_refusal_is_held_back_closes_the_connection() -> None:
    async with running(make_profile(bind_failure_delay_s=5.0)) as server:
        peer = await RawPeer.connect(server.port)
        peer.write(bind(password="wrong"), bind(sequence_number=2, password="wrong2"))
        assert await peer.closed_by_peer()
    assert server.counters.bind_failures == 1


async def test_too_many_failed_binds_lock_the_address_out_and_spare_others() -> None:
    profile = make_profile(bind_failures_max=3, bind_failure_window_s=60.0, bind_lockout_s=60.0)
    async with running(profile) as server:
        async with bound(server) as early:  # bound before the guessing starts: unaffected
            guesser = await EsmeClient.connect("127.0.0.1", server.port)
            guesses = [(await guesser.bind("transceiver", SYSTEM_ID, f"guess{i}", check=False)).command_status
                       for i in range(3)]
            right_but_locked = await guesser.bind("transceiver", SYSTEM_ID, PASSWORD, check=False)
            guesser.close()
            elsewhere = await RawPeer.connect(server.port, source="127.0.0.2")
            elsewhere.write(bind())
            other_address = await elsewhere.read_pdu()
            elsewhere.close()
            still_working = await early.request(SubmitSm(source_addr="x", destination_addr="8613800138000"))
    assert guesses == [S.ESME_RINVPASWD] * 3
    assert right_but_locked.command_status == S.ESME_RBINDFAIL
    assert other_address is not None and other_address.command_status == 0
    assert still_working.command_status == 0
    assert (server.counters.bind_failures, server.counters.bind_lockouts) == (3, 1)


# ---- PDUs pipelined behind a bind ----


async def test_a_submit_in_the_same_write_as_the_bind_is_judged_after_it() -> None:
    async with running(make_profile()) as server:
        peer = await RawPeer.connect(server.port)
        peer.write(bind(BindTransmitter), submit(2), submit(3, "8613800138001"))
        answers = [await peer.read_pdu() for _ in range(3)]
        peer.close()
    assert [(a.command_id, a.command_status) for a in answers] == [  # type: ignore[union-attr]
        (CommandId.BIND_TRANSMITTER_RESP, 0),
        (CommandId.SUBMIT_SM_RESP, 0),
        (CommandId.SUBMIT_SM_RESP, 0),
    ]
    assert server.counters.accepted == 2


async def test_a_bind_and_submit_split_across_reads_at_odd_places_are_reassembled() -> None:
    data = b"".join(encode_pdu(pdu) for pdu in (bind(BindTransmitter), submit(2), submit(3, "8613800138001")))
    cuts = [0, 3, 17, len(encode_pdu(bind(BindTransmitter))) + 5, len(data) - 2, len(data)]
    async with running(make_profile()) as server:
        peer = await RawPeer.connect(server.port)
        for start, end in zip(cuts, cuts[1:]):
            peer.write(data[start:end])
            await peer.writer.drain()
            await asyncio.sleep(0.01)  # separate reads, most likely; the answers must not depend on it
        answers = [await peer.read_pdu() for _ in range(3)]
        peer.close()
    assert [a.command_status for a in answers] == [0, 0, 0]  # type: ignore[union-attr]
    assert server.counters.accepted == 2


async def test_a_submit_behind_a_receiver_bind_is_still_refused() -> None:
    async with running(make_profile()) as server:
        peer = await RawPeer.connect(server.port)
        peer.write(bind(BindReceiver), submit(2))
        answers = [await peer.read_pdu() for _ in range(2)]
        peer.close()
    assert [a.command_status for a in answers] == [0, S.ESME_RINVBNDSTS]  # type: ignore[union-attr]


async def test_a_pipelined_second_bind_is_refused_and_active_binds_do_not_drift() -> None:
    async with running(make_profile()) as server:
        peers, answers = [], []
        for _ in range(3):
            peer = await RawPeer.connect(server.port)
            peer.write(bind(), bind(sequence_number=2), bind(BindTransmitter, sequence_number=3))
            answers.append([await peer.read_pdu() for _ in range(3)])
            peers.append(peer)
        during = server.counters.active_binds
        for peer in peers:
            peer.close()
        await eventually(lambda: server.counters.active_binds == 0 and not server.connections, 5)
    for got in answers:
        assert [a.command_status for a in got] == [0, S.ESME_RALYBND, S.ESME_RALYBND]  # type: ignore[union-attr]
    assert during == 3
    assert server.counters.binds == 3


async def test_a_bad_command_length_behind_a_bind_gets_generic_nack_and_close_without_traceback() -> None:
    loop = asyncio.get_running_loop()
    failures: list[dict] = []  # type: ignore[type-arg]
    loop.set_exception_handler(lambda _, context: failures.append(context))
    broken = struct.pack(">IIII", 8, 0x00000004, 0, 9)  # command_length 8 < 16
    try:
        with capture_logs() as logs:
            async with running(make_profile()) as server:
                before_bind = await RawPeer.connect(server.port)
                before_bind.write(bind(), broken)
                first = [await before_bind.read_pdu(), await before_bind.read_pdu()]
                assert await before_bind.closed_by_peer()
                async with bound(server) as client:  # and once bound: a good submit, then the bad frame
                    unanswered = loop.create_future()
                    pdu = SubmitSm(source_addr="x", destination_addr="8613800138000")
                    client.transport.write(client.session.send(pdu, unanswered) + broken)  # type: ignore[union-attr]
                    await asyncio.wait_for(client.closed.wait(), 5)
                await eventually(lambda: not server.connections, 5)
    finally:
        loop.set_exception_handler(None)
    bind_resp, nack = first
    assert bind_resp is not None and bind_resp.command_status == 0
    assert nack is not None and (nack.command_id, nack.command_status) == (CommandId.GENERIC_NACK, S.ESME_RINVCMDLEN)
    assert failures == []
    bad = [entry for entry in logs if entry["event"] == "carrier.bad_pdu"]
    assert len(bad) == 2  # one line per broken connection
    assert not any("exc_info" in entry or entry["log_level"] in ("error", "critical") for entry in logs)
    assert server.counters.generic_nacks == 2
    assert unanswered.exception() is not None  # read with the broken frame: not answered, see _dispatch
    assert server.counters.accepted == 0
    assert server.counters.active_binds == 0


def test_structlog_capture_reaches_the_carrier_logger() -> None:
    """The log assertions above rely on capture_logs seeing the module-level carrier logger."""
    with capture_logs() as logs:
        structlog.get_logger("carriers").info("probe")
    assert [entry["event"] for entry in logs] == ["probe"]
