"""The carrier pool against a scriptable SMSC on 127.0.0.1: what it sends through the window,
and what it reports to the dispatcher (`LinkEvents`, recorded here) for each answer it hears."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import msgspec
import pytest

from smsengine.config import CarrierConfig
from smsengine.domain.text import Scheme, segment
from smsengine.engine.jobs import InFlight, Job
from smsengine.engine.pool import CarrierPool
from smsengine.engine.records import MessageRecord
from smsengine.smpp import PeerError, Response, Role, Session
from smsengine.smpp.concatenation import ReferenceRotor
from smsengine.smpp.constants import CommandStatus, EsmClass, MessageState, Tag
from smsengine.smpp.message_id import CarrierIdFormats, IdForm, MessageIdFormat
from smsengine.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    EnquireLink,
    Pdu,
    SubmitSm,
    Unbind,
    response_to,
)
from smsengine.smpp.receipt import format_receipt
from tests.support.polling import eventually

S = CommandStatus
VENDOR_THROTTLE, VENDOR_TRANSIENT, VENDOR_OTHER = 0x401, 0x402, 0x403
THROTTLE_PAUSE = 0.1


# -- the SMSC ------------------------------------------------------------------------------------------------
class Conn:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.session = Session(Role.SMSC)
        self.writer = writer
        self.bind: type[Pdu] | None = None
        self.max_unanswered = 0  # submit_sm received and not yet answered, at most

    def send(self, pdu: Pdu) -> None:
        self.writer.write(self.session.send(pdu))

    @property
    def receives(self) -> bool:
        return self.bind in (BindTransceiver, BindReceiver)


class Smsc:
    """Binds with `bind_status`; answers submit_sm with the next status scripted for its
    destination (0 when none is left), or holds every answer while `hold` is set. Message ids are
    upper-case hex with leading zeros; receipts are written with the same number in decimal."""

    def __init__(self) -> None:
        self.conns: list[Conn] = []
        self.binds = 0
        self.bind_status = 0
        self.script: dict[str, list[int]] = {}
        self.hold = False
        self.mute = False  # hung: reads everything, answers nothing
        self.held: list[tuple[Conn, SubmitSm]] = []
        self.submits: list[tuple[float, Conn, SubmitSm]] = []  # (arrival, connection, pdu)
        self.answers: list[tuple[str, int, str]] = []  # (destination, status, message id)
        self.acks: list[int] = []  # command_status of the deliver_sm_resp we got
        self.errors: list[PeerError] = []
        self._numbers = itertools.count(160)

    async def start(self) -> Smsc:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self.server.close()
        for conn in list(self.conns):
            conn.writer.transport.abort()
        await self.server.wait_closed()

    @property
    def destinations(self) -> list[str]:
        return [pdu.destination_addr for _, _, pdu in self.submits]

    def receiver(self) -> Conn:
        return next(c for c in self.conns if c.receives)

    def release(self) -> None:
        held, self.held = self.held, []
        for conn, pdu in held:
            if not conn.writer.is_closing():
                self._answer(conn, pdu)

    def drop(self) -> None:
        """The network loses every connection."""
        for conn in list(self.conns):
            conn.writer.transport.abort()

    def deliver(self, **fields: Any) -> None:
        self.receiver().send(DeliverSm(**fields))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(writer)
        self.conns.append(conn)
        try:
            while data := await reader.read(65536):
                for event in conn.session.receive_data(data):
                    self._on(conn, event)
                conn.max_unanswered = max(conn.max_unanswered, conn.session.unanswered_count)
        except ConnectionError:
            pass
        finally:
            self.conns.remove(conn)
            writer.close()

    def _on(self, conn: Conn, event: object) -> None:
        if self.mute:
            return
        if isinstance(event, (BindTransceiver, BindTransmitter, BindReceiver)):
            conn.send(response_to(event, self.bind_status, system_id="smsc"))
            if not self.bind_status:
                self.binds += 1
                conn.bind = type(event)
        elif isinstance(event, SubmitSm):
            self.submits.append((time.monotonic(), conn, event))
            if self.hold:
                self.held.append((conn, event))
            else:
                self._answer(conn, event)
        elif isinstance(event, (EnquireLink, Unbind)):
            conn.send(response_to(event))
        elif isinstance(event, Response):
            self.acks.append(event.pdu.command_status)
        elif isinstance(event, PeerError):
            self.errors.append(event)

    def _answer(self, conn: Conn, pdu: SubmitSm) -> None:
        statuses = self.script.get(pdu.destination_addr)
        status = statuses.pop(0) if statuses else 0
        message_id = f"{next(self._numbers):08X}" if not status else ""
        self.answers.append((pdu.destination_addr, status, message_id))
        conn.send(response_to(pdu, status, message_id=message_id))


# -- the dispatcher's side of the seam -------------------------------------------------------------------------
class RecordingEvents:
    """LinkEvents that only record, in arrival order."""

    def __init__(self) -> None:
        self.log: list[tuple] = []
        self.destinations: list[str] = []  # of each receipt, in order
        self.parks: set[str] = set()  # receipt keys to answer as parked

    def submitted(self, carrier: str, job: Job, message_id: str, key: str) -> None:
        self.log.append(("submitted", carrier, job, message_id, key))

    def refused(self, carrier: str, job: Job, status: int, transient: bool) -> None:
        self.log.append(("refused", carrier, job, status, transient))

    def unanswered(self, carrier: str, job: Job, reason: str) -> None:
        self.log.append(("unanswered", carrier, job, reason))

    def stranded(self, carrier: str, jobs: list[Job]) -> None:
        self.log.append(("stranded", carrier, list(jobs)))

    def receipt(self, carrier: str, key: str, destination: str, stat: str, err: str) -> bool:
        self.log.append(("receipt", carrier, key, stat, err))
        self.destinations.append(destination)
        return key not in self.parks  # False: parked, as the dispatcher answers before the resp


    def throttled_too_long(self, carrier: str, job: Job, waited: float) -> None:
        self.log.append(("throttled_too_long", carrier, job))

    def reply(self, carrier: str, phone: str, text: str, complete: bool) -> None:
        self.log.append(("reply", carrier, phone, text) if complete else ("incomplete_reply", carrier, phone, text))

    def link_up(self, carrier: str) -> None:
        self.log.append(("link_up", carrier))

    def of(self, kind: str) -> list[tuple]:
        return [e[1:] for e in self.log if e[0] == kind]


def carrier_config(port: int, **changes: Any) -> CarrierConfig:
    base = CarrierConfig(
        name="x", port=port, window=8, response_timeout_s=2.0, throttle_pause_s=THROTTLE_PAUSE,
        reconnect_min_s=0.05, reconnect_max_s=0.2, marketing_service_type="MKT",
        message_ids=CarrierIdFormats(submit_resp=MessageIdFormat(form=IdForm.HEX),
                                     receipt=MessageIdFormat(form=IdForm.DECIMAL_TO_HEX)),
        throttle_statuses=[VENDOR_THROTTLE], transient_statuses=[VENDOR_TRANSIENT],
    )
    return msgspec.structs.replace(base, **changes)


class Running:
    def __init__(self, smsc: Smsc, pool: CarrierPool, events: RecordingEvents) -> None:
        self.smsc, self.pool, self.events = smsc, pool, events

    def submit(self, *jobs: Job) -> list[Job]:
        self.pool.submit_many(jobs)
        return list(jobs)


@contextlib.asynccontextmanager
async def running(smsc: Smsc | None = None, *, wait_up: bool = True, events: RecordingEvents | None = None,
                  when_durable: Callable[[Callable[[], None]], None] | None = None,
                  **changes: Any) -> AsyncIterator[Running]:
    """A pool bound to `smsc` (a fresh one by default) reporting to `events`; `when_durable`: the
    store's seam, e.g. a list's append, whose callbacks the test runs as a commit would."""
    smsc = smsc or await Smsc().start()
    events = events or RecordingEvents()
    pool = CarrierPool(carrier_config(smsc.port, **changes), events, ReferenceRotor(), when_durable)
    pool.start()
    try:
        if wait_up:
            await eventually(lambda: pool.up, 5.0)
        yield Running(smsc, pool, events)
        assert smsc.errors == []  # the pool never sent anything the SMSC could not take
    finally:
        await pool.stop()
        await smsc.close()


_ids = itertools.count(1)


def job_for(pool: CarrierPool, n: int, text: str = "hello", type: str = "regular") -> Job:
    """A one-part message to number n, prepared for this pool, as the dispatcher would hand it."""
    seg = segment(text, Scheme.DOMESTIC)
    record = MessageRecord(id=next(_ids), app_id="app", phone=f"+86138{n:08d}", content=text, type=type,
                           chars=seg.chars, segments=seg.segments, data_coding=seg.data_coding, created_at=0.0)
    flight = InFlight(record, seg)
    pool.prepare(flight)
    return Job(flight, 1)


def dest(n: int) -> str:
    return f"86138{n:08d}"


def count(events: RecordingEvents, kind: str, n: int):
    return lambda: len(events.of(kind)) >= n


# -- binding ---------------------------------------------------------------------------------------------------
async def test_the_pool_binds_and_is_up():
    async with running(binds=2) as run:
        await eventually(lambda: run.pool.binds_up() == 2)
        assert run.smsc.binds == 2 and run.pool.up
        assert {c.bind for c in run.smsc.conns} == {BindTransceiver}


async def test_a_refused_bind_is_retried_until_the_smsc_accepts():
    smsc = await Smsc().start()
    smsc.bind_status = S.ESME_RBINDFAIL
    async with running(smsc, wait_up=False) as run:
        await eventually(lambda: run.pool.stats.bind_failures >= 2)
        assert not run.pool.up and smsc.binds == 0
        smsc.bind_status = 0
        await eventually(lambda: run.pool.up)
        assert smsc.binds == 1 and run.pool.stats.reconnects >= 2


async def test_transmitter_and_receiver_binds_submit_on_one_and_hear_on_the_other():
    async with running(bind_mode="transmitter_receiver") as run:
        await eventually(lambda: run.smsc.binds == 2 and any(c.receives for c in run.smsc.conns))
        job = run.submit(job_for(run.pool, 1))[0]
        await eventually(count(run.events, "submitted", 1))
        [(_, conn, _)] = run.smsc.submits
        assert conn.bind is BindTransmitter
        run.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT), short_message=b"id:160 stat:DELIVRD err:000")
        await eventually(count(run.events, "receipt", 1))
        assert run.events.of("submitted")[0][1] is job
        assert run.events.of("receipt") == [("x", "a0", "DELIVRD", "000")]


# -- submitting ------------------------------------------------------------------------------------------------
async def test_jobs_go_out_and_come_back_as_submitted_with_normalised_keys():
    async with running() as run:
        jobs = run.submit(*(job_for(run.pool, n) for n in range(3)), job_for(run.pool, 3, type="marketing"))
        await eventually(count(run.events, "submitted", 4))
        by_dest = {d: mid for d, status, mid in run.smsc.answers}
        for carrier, job, message_id, key in run.events.of("submitted"):
            assert carrier == "x"
            assert message_id == by_dest[job.inflight.record.phone[1:]]  # as the carrier wrote it: "000000A0"
            assert key == format(int(message_id, 16), "x")  # its key: "a0"
        assert sorted(e[1].inflight.record.id for e in run.events.of("submitted")) == sorted(
            j.inflight.record.id for j in jobs)
        pdus = {pdu.destination_addr: pdu for _, _, pdu in run.smsc.submits}
        assert sorted(pdus) == [dest(n) for n in range(4)]
        regular, marketing = pdus[dest(0)], pdus[dest(3)]
        assert (regular.service_type, marketing.service_type) == ("", "MKT")
        assert (regular.source_addr, regular.registered_delivery, regular.data_coding) == ("smsengine", 1, 8)
        assert regular.short_message == "hello".encode("utf-16-be")
        assert [e[0] for e in run.events.log] == ["submitted"] * 4


async def test_jobs_of_a_final_message_are_not_sent():
    async with running() as run:
        done, wanted = job_for(run.pool, 1), job_for(run.pool, 2)
        done.inflight.final = True
        run.submit(done, wanted)
        await eventually(count(run.events, "submitted", 1))
        assert run.smsc.destinations == [dest(2)]


async def test_the_window_bounds_what_is_outstanding_on_each_bind():
    window = 3
    async with running(binds=2, window=window) as run:
        await eventually(lambda: run.pool.binds_up() == 2)
        run.smsc.hold = True
        run.submit(*(job_for(run.pool, n) for n in range(15)))
        await eventually(lambda: len(run.smsc.held) == 2 * window)
        assert len(run.smsc.submits) == 2 * window  # both windows full, the rest queued
        assert run.pool.window_used() == 2 * window and len(run.pool.queue) == 15 - 2 * window
        while len(run.events.of("submitted")) < 15:  # answer all that is held, wait for the refill
            run.smsc.release()
            await eventually(lambda: run.smsc.held or len(run.events.of("submitted")) >= 15)
        assert sorted(run.smsc.destinations) == sorted(dest(n) for n in range(15))
        assert max(c.max_unanswered for c in run.smsc.conns) == window  # filled, never beyond
        assert all(c.max_unanswered >= 1 for c in run.smsc.conns)  # both binds carried traffic


@pytest.mark.parametrize("status", [S.ESME_RTHROTTLED, VENDOR_THROTTLE], ids=["throttled", "vendor"])
async def test_a_throttled_job_pauses_the_bind_and_goes_out_again_first(status):
    async with running(window=3) as run:
        run.smsc.script[dest(0)] = [status]
        jobs = run.submit(*(job_for(run.pool, n) for n in range(5)))
        await eventually(count(run.events, "submitted", 5))
        assert run.smsc.destinations == [dest(0), dest(1), dest(2), dest(0), dest(3), dest(4)]
        times = [at for at, _, pdu in run.smsc.submits if pdu.destination_addr == dest(0)]
        assert times[1] - times[0] >= THROTTLE_PAUSE * 0.9  # the bind waited out the pause
        submitted = [e[1] for e in run.events.of("submitted")]
        assert sorted(j.inflight.record.id for j in submitted) == sorted(j.inflight.record.id for j in jobs)
        assert [e[0] for e in run.events.log] == ["submitted"] * 5  # the throttle is not reported
        assert run.pool.stats.throttled == 1


async def test_a_part_throttled_past_its_budget_is_reported_and_not_resent():
    # budget 0: the second ESME_RTHROTTLED for the same part is past it (no clock is read by the test)
    async with running(throttle_budget_s=0.0) as run:
        run.smsc.script[dest(0)] = [S.ESME_RTHROTTLED] * 5
        [job] = run.submit(job_for(run.pool, 0))
        await eventually(count(run.events, "throttled_too_long", 1))
        assert run.events.of("throttled_too_long") == [("x", job)]
        assert run.smsc.destinations == [dest(0), dest(0)]  # the pool stopped resending it
        assert run.pool.stats.throttled == 2 and not run.pool.queue


async def test_errors_are_reported_as_refused_transient_or_not_per_config():
    cases = {
        1: (VENDOR_TRANSIENT, True),  # the carrier's own transient code
        2: (S.ESME_RINVDSTADR, False),
        3: (S.ESME_RSYSERR, True),
        4: (S.ESME_RSUBMITFAIL, True),
        5: (VENDOR_OTHER, False),  # unknown vendor code: fail at once
    }
    async with running() as run:
        for n, (status, _) in cases.items():
            run.smsc.script[dest(n)] = [status]
        jobs = {n: job_for(run.pool, n) for n in cases}
        run.submit(*jobs.values())
        await eventually(count(run.events, "refused", len(cases)))
        refused = {(job.inflight.record.phone[1:], status, transient)
                   for _, job, status, transient in run.events.of("refused")}
        assert refused == {(dest(n), status, transient) for n, (status, transient) in cases.items()}
        assert all(carrier == "x" for carrier, *_ in run.events.of("refused"))
        assert run.events.of("submitted") == [] and len(run.smsc.submits) == len(cases)  # no resend here


async def test_no_answer_in_time_is_reported_unanswered_and_a_late_answer_ignored():
    async with running(response_timeout_s=0.3) as run:
        run.smsc.hold = True
        [late] = run.submit(job_for(run.pool, 1))
        await eventually(count(run.events, "unanswered", 1), 3.0)
        assert run.events.of("unanswered") == [("x", late, "no submit_sm_resp in time")]
        run.smsc.hold = False
        run.smsc.release()  # the answer comes after all
        [prompt] = run.submit(job_for(run.pool, 2))
        await eventually(count(run.events, "submitted", 1))
        assert [e[1] for e in run.events.of("submitted")] == [prompt]


# -- what the carrier sends us -----------------------------------------------------------------------------------
async def test_receipts_arrive_with_normalised_keys_and_are_acknowledged():
    when = datetime(2024, 5, 1, 12, 0)
    async with running() as run:
        run.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                         short_message=format_receipt("160", "DELIVRD", when, when).encode())
        run.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                         tlvs={Tag.RECEIPTED_MESSAGE_ID: "0161", Tag.MESSAGE_STATE: MessageState.UNDELIVERABLE})
        run.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                         short_message=format_receipt("162", "UNDELIV", when, when, err=13).encode())
        await eventually(count(run.events, "receipt", 3))
        assert run.events.of("receipt") == [("x", "a0", "DELIVRD", "000"), ("x", "a1", "UNDELIV", "000"),
                                            ("x", "a2", "UNDELIV", "013")]
        await eventually(lambda: len(run.smsc.acks) == 3)
        assert run.smsc.acks == [0, 0, 0] and run.pool.stats.receipts == 3


async def test_a_receipt_names_the_number_it_reports_on_by_its_last_digits():
    when = datetime(2024, 5, 1, 12, 0)
    async with running() as run:
        for source in ("8613800138000", "13800138000", "", "SHOP"):
            run.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT), source_addr=source,
                             short_message=format_receipt("160", "DELIVRD", when, when).encode())
        await eventually(count(run.events, "receipt", 4))
        # two spellings of one number agree; no number (or a name) leaves only the id to go by
        assert run.events.destinations == ["00138000", "00138000", "", ""]


async def test_deliver_sm_is_answered_only_once_what_it_carried_is_durable():
    when = datetime(2024, 5, 1, 12, 0)
    commits: list = []  # the store's when_durable seam: callbacks the test runs as a commit would
    async with running(when_durable=commits.append) as run:
        smsc, events = run.smsc, run.events
        for mid in ("160", "161", "162"):
            smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                         short_message=format_receipt(mid, "DELIVRD", when, when).encode())
        await eventually(count(events, "receipt", 3))
        assert smsc.acks == [] and len(commits) == 1  # one wait for the commit covers all three
        commits.pop()()
        await eventually(lambda: len(smsc.acks) == 3)
        assert smsc.acks == [0, 0, 0]


async def test_a_parked_receipt_is_answered_once_its_submit_sm_resp_is_recorded_and_durable():
    when = datetime(2024, 5, 1, 12, 0)
    commits: list = []
    events = RecordingEvents()
    events.parks.add("a0")  # the receipt for id 160 (key a0) comes before its submit_sm_resp
    async with running(events=events, when_durable=commits.append) as run:
        smsc, pool = run.smsc, run.pool
        smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                     short_message=format_receipt("160", "DELIVRD", when, when).encode())
        await eventually(count(events, "receipt", 1))
        assert commits == [] and smsc.acks == []  # nothing of it is written yet: no answer
        pool.submit_many([job_for(pool, 1)])  # the SMSC answers it with id 160
        await eventually(count(events, "submitted", 1))
        assert len(commits) == 1 and smsc.acks == []  # now it waits for the commit of the resp
        commits.pop()()
        await eventually(lambda: smsc.acks == [0])


async def test_a_multipart_reply_arrives_once_as_one_text():
    whole = "请问明天" * 20 + "可以送到吗" * 10
    chunks = [whole[:67], whole[67:]]
    source = "8613900000001"
    async with running() as run:
        for i in (2, 1):
            run.smsc.deliver(source_addr=source, esm_class=int(EsmClass.UDHI), data_coding=8,
                             short_message=bytes((5, 0, 3, 77, 2, i)) + chunks[i - 1].encode("utf-16-be"))
        run.smsc.deliver(esm_class=int(EsmClass.INTERMEDIATE_NOTIFICATION), short_message=b"id:1 stat:ENROUTE")
        run.smsc.deliver(source_addr="8613900000002", short_message=b"ok")  # the sentinel
        await eventually(count(run.events, "reply", 2))
        assert run.events.log == [("reply", "x", "+8613900000001", whole), ("reply", "x", "+8613900000002", "ok")]
        await eventually(lambda: len(run.smsc.acks) == 4)
        assert run.pool.stats.replies == 2 and run.pool.replies.pending() == 0


class LookingUp(RecordingEvents):
    """A dispatcher that must look a reply's sender up before it can record it."""

    def __init__(self) -> None:
        super().__init__()
        self.recorded = asyncio.get_running_loop().create_future()

    def reply(self, carrier: str, phone: str, text: str, complete: bool):
        super().reply(carrier, phone, text, complete)
        return self.recorded


async def test_a_reply_is_answered_once_it_is_recorded_and_then_durable():
    commits: list = []
    events = LookingUp()
    async with running(events=events, when_durable=commits.append) as run:
        smsc = run.smsc
        smsc.deliver(source_addr="8613900000002", short_message=b"ok")
        await eventually(count(events, "reply", 1))
        await asyncio.sleep(0.2)
        assert commits == [] and smsc.acks == []  # its sender is being looked up: nothing recorded
        events.recorded.set_result(None)
        await eventually(lambda: len(commits) == 1)
        assert smsc.acks == []  # recorded, not yet committed
        commits.pop()()
        await eventually(lambda: smsc.acks == [0])


async def test_a_long_reply_missing_parts_is_reported_incomplete_after_the_timeout():
    async with running(reply_parts_timeout_s=0.05) as run:
        run.smsc.deliver(source_addr="8613900000001", esm_class=int(EsmClass.UDHI), data_coding=8,
                         short_message=bytes((5, 0, 3, 9, 3, 1)) + "第一".encode("utf-16-be"))
        await eventually(count(run.events, "incomplete_reply", 1), 5.0)
        assert run.events.of("incomplete_reply") == [("x", "+8613900000001", "第一")]
        assert run.events.of("reply") == [] and run.pool.replies.pending() == 0


# -- losing the connection -----------------------------------------------------------------------------------------
async def test_a_dropped_connection_strands_the_window_and_the_queue_and_the_pool_reconnects():
    async with running(window=3) as run:
        run.smsc.hold = True
        jobs = run.submit(*(job_for(run.pool, n) for n in range(5)))
        await eventually(lambda: len(run.smsc.held) == 3)
        run.smsc.drop()
        await eventually(count(run.events, "stranded", 1))
        [(carrier, stranded)] = run.events.of("stranded")
        assert carrier == "x"
        assert stranded == jobs  # the three in the window, then the two still queued
        assert len(run.pool.queue) == 0

        await eventually(lambda: run.pool.up and run.smsc.binds == 2)
        assert run.pool.stats.reconnects >= 1
        run.smsc.hold = False
        [again] = run.submit(job_for(run.pool, 9))
        await eventually(count(run.events, "submitted", 1))
        assert run.events.of("submitted")[0][1] is again
        assert run.events.of("stranded") == [(carrier, stranded)]


async def test_a_bug_handling_one_receipt_is_counted_and_the_bind_carries_on():
    """The safety net itself must not fail: the handler error is logged (not a TypeError from
    the logger), counted, and later PDUs on the same bind are handled."""
    when = datetime(2024, 5, 1, 12, 0)
    async with running() as run:
        handled = run.events.receipt

        def receipt(carrier: str, key: str, destination: str, stat: str, err: str) -> None:
            if key == "a0":
                raise RuntimeError("a bug in the dispatcher")
            handled(carrier, key, destination, stat, err)

        run.events.receipt = receipt  # type: ignore[method-assign]
        [bind] = run.pool.binds
        for mid in ("160", "161"):
            run.smsc.deliver(esm_class=int(EsmClass.DELIVERY_RECEIPT),
                             short_message=format_receipt(mid, "DELIVRD", when, when).encode())
        await eventually(count(run.events, "receipt", 1))
        assert run.events.of("receipt") == [("x", "a1", "DELIVRD", "000")]
        assert run.pool.stats.handler_errors == 1
        assert run.pool.binds == [bind] and bind.bound  # the same bind, still up


async def test_a_hung_smsc_is_noticed_within_two_response_timeouts():
    """Submits unanswered, then an enquire_link unanswered: the bind is closed and the pool is
    down, so routing and /healthz stop counting on it (without waiting for a quiet period)."""
    async with running(response_timeout_s=0.3, enquire_link_s=30.0) as run:
        run.smsc.mute = True
        [job] = run.submit(job_for(run.pool, 1))
        await eventually(lambda: not run.pool.up, 3.0)
        assert run.events.of("unanswered")[0] == ("x", job, "no submit_sm_resp in time")
        run.smsc.mute = False
        await eventually(lambda: run.pool.up, 5.0)  # and it comes back when the SMSC does
