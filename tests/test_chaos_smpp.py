"""Chaos over SMPP (issue 8), the quick versions of benchmarks/chaos_smpp.py: a simulator under
protocol fuzz keeps serving a well-behaved client and lets go of every hostile connection; the
engine against a hostile SMSC keeps its other carrier, ends every message within its deadline and
fails on nothing the SMSC sends.

The tests at the end pin, one each, the bugs the campaigns found (fixed since): a peer that reads
nothing, a receipt repeated while parked, an answer read after an unbind, requests read before a
broken frame."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from carriers.config import Account as CarrierAccount
from carriers.esme import EsmeClient
from carriers.group import SimulatorGroup
from smsengine.config import DispatchConfig, RouteConfig, RouteTarget
from smsengine.engine.pool import MAX_PARKED_ACKS
from smsengine.server import Server
from smsengine.smpp.codec import encode_pdu
from smsengine.smpp.constants import CommandId
from smsengine.smpp.pdu import BindTransceiver, EnquireLink
from tests.carriers.carrier_harness import make_profile, running
from tests.support.hostile_smpp import (
    MESSAGE_ROWS,
    MISCHIEF_WEIGHTS,
    Account,
    Attack,
    Garbage,
    HostileSmsc,
    MessageRow,
    Mischief,
    Payloads,
    fuzz_smsc,
    judge_messages,
)
from tests.support.polling import eventually
from tests.support.rig import Client, db_rows, engine_config, fast_profile, start_server

SEED = 8
GOOD = Account("good", "goodpass")
FUZZER = Account("fuzzer", "fuzzpass")
MiB = 1024 * 1024



@pytest.fixture
def logs():
    """Log events as dicts: nothing is rendered (a traceback rendered per hostile PDU would turn
    a bug into a stall) and the test can count them."""
    with capture_logs() as captured:
        yield captured


@pytest.fixture
async def loop_errors():
    """What reaches the event loop's exception handler: a protocol callback or timer that raised."""
    loop = asyncio.get_running_loop()
    errors: list[dict] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    yield errors
    loop.set_exception_handler(None)


@pytest.fixture(scope="module")
def payloads() -> Payloads:
    return Payloads(SEED, count=60)


# ---- the simulator under SMPP fuzz ---------------------------------------------------------------


def fuzz_profile():
    return make_profile(accounts=[CarrierAccount(*GOOD), CarrierAccount(*FUZZER)], bind_timeout_s=1.0,
                        bind_failure_delay_s=0.1)


async def test_a_simulator_under_smpp_fuzz_keeps_serving_its_good_client(payloads, logs, loop_errors):
    kinds = tuple(Attack)
    async with running(fuzz_profile()) as server:
        result = await fuzz_smsc("127.0.0.1", server.port, good=GOOD, hostile=FUZZER, payloads=payloads,
                                 seed=SEED, seconds=8.0, kinds=kinds, rate=100.0)
        good = result.good
        await good.wait_receipts(5.0)
        # every hostile connection is gone: hung up, or closed by the simulator at its bind deadline
        await eventually(lambda: len(server.connections) == 1, 5.0,
                         lambda: f"{len(server.connections)} connections open")
        fresh = await EsmeClient.connect("127.0.0.1", server.port)
        fresh_bind = await fresh.bind("transceiver", GOOD.system_id, GOOD.password, check=False)
        fresh.close()
        await good.close()
        counters = server.counters.snapshot()
    attacks = {kind: tally.summary() for kind, tally in result.attacks.items()}

    assert loop_errors == []
    assert good.submitted > 400 and good.lost == 0 and good.answered == good.submitted
    assert set(good.statuses) == {"ESME_ROK"} and not good.bind_lost
    assert good.receipts == good.issued and len(good.issued) == good.submitted
    assert fresh_bind.command_status == 0  # the lockouts fell on the attackers' addresses only
    assert all(a["connections"] > 0 and a["malformed_answers"] == 0 for a in attacks.values()), attacks
    huge = attacks[Attack.HUGE_LENGTH]
    assert huge["closed_by_smsc"] == huge["connections"] == huge["answers"]["generic_nack ESME_RINVCMDLEN"]
    assert set(attacks[Attack.UNKNOWN_COMMAND]["answers"]) <= {"generic_nack ESME_RINVCMDID",
                                                               "bind_transceiver_resp ESME_ROK"}
    assert set(attacks[Attack.UNSOLICITED]["answers"]) <= {"bind_transceiver_resp ESME_ROK"}  # never answered
    assert "bind_transceiver_resp ESME_ROK" not in attacks[Attack.WRONG_PASSWORD]["answers"]
    assert not any(label.endswith("ESME_ROK") and not label.startswith("enquire_link_resp")
                   for label in attacks[Attack.BEFORE_BIND]["answers"])
    assert not any(label.endswith("ESME_ROK") for label in attacks[Attack.RANDOM_BYTES]["answers"])
    # lockouts need 10 refused binds from one address within a minute: the full campaign reaches
    # them (benchmarks/chaos_smpp.py reports them), a short run may not
    assert counters["bind_timeouts"] > 0
    assert not [event for event in logs if event["log_level"] in ("error", "critical")]


# ---- the engine against a hostile SMSC ------------------------------------------------------------


def engine_against(tmp: Path, hostile: HostileSmsc, ports: dict[str, int], validity_s: float):
    targets = [RouteTarget("hostile"), *(RouteTarget(name) for name in ports)]
    return engine_config(
        tmp, {"hostile": hostile.port, **ports}, routes=[RouteConfig("+", targets)],
        carrier_changes={"hostile": dict(response_timeout_s=0.5, enquire_link_s=1.0)},
        dispatch=DispatchConfig(validity_s=validity_s, expiry_sweep_s=0.2, recovery_hold_s=1.0),
    )


async def test_the_engine_against_a_hostile_smsc_keeps_its_good_carrier_and_ends_every_message(tmp_path, logs):
    validity_s = 6.0
    weights = dict(MISCHIEF_WEIGHTS)
    garbage = tuple(Garbage)
    hostile = await HostileSmsc(SEED, weights=weights, garbage=garbage, overdue_s=4.0).start()
    simulators = await SimulatorGroup([fast_profile("good")]).start()
    server = await start_server(engine_against(tmp_path, hostile, simulators.ports, validity_s), tmp_path)
    engine = server.engine
    accepted: list[str] = []
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
            client = Client(http)
            for i in range(16):
                _, body = await client.send([f"+86138{i:04d}{j:04d}" for j in range(20)])
                accepted += [r["message_id"] for r in body["results"] if r["code"] == 0]
                await asyncio.sleep(0.25)
            stats = engine.dispatcher.stats
            await eventually(lambda: not stats.open, validity_s + 5.0, lambda: f"{stats.open} open")
            async with http.get("/healthz") as resp:
                health = resp.status
        await engine.store.flush()
        rows = [MessageRow(*row) for row in db_rows(engine, MESSAGE_ROWS)]
        await asyncio.sleep(1.0)  # deliveries of the last moments get their answers
        overdue_now = hostile.overdue_now()
        pools = engine.pools
        upkeep_ended = [t.get_name() for p in pools.values() for t in p._tasks if t.done()]
        buffers = [b.transport.get_write_buffer_size() for p in pools.values() for b in p.binds if b.transport]
        parked_acks = max(len(p._parked_acks) for p in pools.values())
        parked_receipts = engine.dispatcher.correlator.parked()
    finally:
        await server.stop(drain_timeout=1.0)
        await hostile.close()
        await simulators.close()
    verdict = judge_messages(rows, good="good", deadline_s=validity_s + 1.5,
                             accepted_by_hostile=hostile.tally.accepted_numbers)
    smsc = hostile.tally.summary()

    assert health == 200 and upkeep_ended == []  # the engine, and every bind's upkeep task, lived on
    assert verdict["messages"] == len(accepted) == 320
    assert verdict["not_final"] == verdict["final_after_deadline"] == 0, verdict
    assert verdict["good_carrier_not_delivered"] == 0, verdict
    assert verdict["accepted_by_hostile_reported_never_accepted"] == 0, verdict
    assert verdict["outcomes"].get("good delivered 0", 0) > 100
    assert pools["good"].stats.reconnects == pools["good"].stats.bind_failures == 0  # its bind never dropped
    assert pools["hostile"].stats.reconnects > 0  # the hostile one did, again and again
    assert len(smsc["mischief"]) >= 10 and sum(smsc["garbage"].values()) > 100
    assert pools["hostile"].stats.handler_errors == 0
    assert not [e for e in logs if e["event"] in ("carrier.handler_error", "carrier.bind_upkeep_error")]
    assert smsc["malformed_from_esme"] == 0
    assert overdue_now == 0 and smsc["overdue_deliveries"] == {}  # every deliver_sm was answered
    assert max(buffers, default=0) < MiB and parked_acks < MAX_PARKED_ACKS and parked_receipts < 100_000


# ---- the bugs the campaigns found -----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def engine_with_only(tmp: Path, hostile: HostileSmsc, validity_s: float = 30.0) -> AsyncIterator[Server]:
    config = engine_config(tmp, {"hostile": hostile.port},
                           dispatch=DispatchConfig(validity_s=validity_s, expiry_sweep_s=0.2))
    server = await start_server(config, tmp)
    try:
        yield server
    finally:
        await server.stop(drain_timeout=1.0)
        await hostile.close()


ENQUIRE_FLOOD = b"".join(encode_pdu(EnquireLink(sequence_number=i + 2)) for i in range(4000))


async def flood_until_buffered(send: Callable[[bytes], Awaitable[None]], buffered: Callable[[], int]) -> int:
    """Send enquire_link, reading none of the answers, until the peer holds 2 MiB of answers for
    us, stops taking them (back-pressure) or 6 s pass; returns what it holds then."""
    deadline = time.monotonic() + 6.0
    while time.monotonic() < deadline and buffered() < 2 * MiB:
        try:
            await asyncio.wait_for(send(ENQUIRE_FLOOD), 0.5)
        except asyncio.TimeoutError:
            break
        await asyncio.sleep(0.01)
    return buffered()


async def test_the_simulator_stops_reading_a_client_that_reads_nothing(logs):
    async with running(make_profile()) as server:
        sock = socket.create_connection(("127.0.0.1", server.port))
        # a small receive buffer, so the kernel does not absorb megabytes before the simulator notices
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, encode_pdu(BindTransceiver(sequence_number=1, system_id="smsengine",
                                                                 password="secret")))
        await eventually(lambda: server.counters.active_binds == 1, 5.0)
        transport = next(iter(server.connections)).transport
        buffered = await flood_until_buffered(lambda data: loop.sock_sendall(sock, data),
                                              transport.get_write_buffer_size)
        sock.close()
    assert buffered < MiB


async def test_the_engine_stops_reading_an_smsc_that_reads_nothing(tmp_path, logs):
    hostile = await HostileSmsc(SEED, weights={Mischief.HONEST: 1}, garbage=(), bind_mischief=0.0).start()
    async with engine_with_only(tmp_path, hostile) as server:
        connection = hostile.bound()[0]
        connection.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        connection.transport.pause_reading()

        async def send(data: bytes) -> None:
            connection.write(data)

        bind = server.engine.pools["hostile"].binds[0]
        buffered = await flood_until_buffered(send, bind.transport.get_write_buffer_size)
    assert buffered < MiB


async def test_the_engine_answers_a_receipt_for_an_unknown_id_that_comes_twice(tmp_path, logs):
    hostile = await HostileSmsc(SEED, weights={Mischief.HONEST: 1}, garbage=(Garbage.DUPLICATE,),
                                garbage_every_s=0.2, overdue_s=3.0, bind_mischief=0.0).start()
    async with engine_with_only(tmp_path, hostile):
        await asyncio.sleep(1.5)
        hostile.garbage_kinds = ()  # no more; parked answers are due 2 s after their receipt
        await asyncio.sleep(3.5)
        sent = hostile.tally.garbage[Garbage.DUPLICATE.value]
        overdue = hostile.overdue_now()
    assert sent > 0 and overdue == 0


async def test_the_engine_records_a_submit_answer_read_right_after_an_unbind(tmp_path, logs):
    hostile = await HostileSmsc(SEED, weights={Mischief.UNBIND_THEN_ANSWER: 1}, garbage=(),
                                bind_mischief=0.0).start()
    async with engine_with_only(tmp_path, hostile) as server:
        engine = server.engine
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
            _, body = await Client(http).send(["+8613812345678"])
        message_id = int(body["results"][0]["message_id"])
        await eventually(lambda: "8613812345678" in hostile.tally.accepted_numbers, 5.0)
        await asyncio.sleep(1.0)
        flight = engine.dispatcher.inflight.get(message_id)
        recorded = flight is None or bool(flight.submitted)
        waiting = any(job.inflight.record.id == message_id for job in engine.pools["hostile"].queue)
    assert recorded or waiting, "the carrier's answer was dropped and the message is on no queue"


async def test_requests_read_before_a_broken_frame_are_no_handler_errors(tmp_path, logs):
    hostile = await HostileSmsc(SEED, weights={Mischief.HONEST: 1}, garbage=(), bind_mischief=0.0).start()
    async with engine_with_only(tmp_path, hostile) as server:
        pool = server.engine.pools["hostile"]
        before = pool.stats.reconnects
        links = b"".join(encode_pdu(EnquireLink(sequence_number=i + 1)) for i in range(3))
        broken = int(8).to_bytes(4, "big") + int(CommandId.SUBMIT_SM_RESP).to_bytes(4, "big")
        hostile.bound()[0].write(links + broken)
        await eventually(lambda: pool.stats.reconnects > before, 5.0)
        errors = pool.stats.handler_errors
    assert errors == 0
