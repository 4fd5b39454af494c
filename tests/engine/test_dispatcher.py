"""The dispatcher driven through its seams: fake carriers (`Link`) it hands jobs to and that answer
it as a pool would (`LinkEvents`), a recording store and balances, a real router and replies, and
a clock the test moves. Retries are taken from the due-queue by the test, not by a task."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsengine.config import RouteConfig, RouteTarget
from smsengine.domain.errors import ErrorCode
from smsengine.domain.text import Scheme, segment
from smsengine.engine.dispatcher import FAILOVER_AFTER, Dispatcher
from smsengine.engine.jobs import InFlight, Job
from smsengine.engine.records import MessageFinal, MessageRecord, MessageStatus
from smsengine.engine.replies import Replies
from smsengine.engine.routing import Router
from smsengine.smpp.constants import CommandStatus

T0 = 1_000_000.0
MAINLAND = "+8613800000001"
AMERICA = "+15550000001"
NOWHERE = "+442071234567"
LONG = "长" * 150  # 3 parts of 67/67/16 characters
ROUTES = [
    RouteConfig(prefix="+86", targets=[RouteTarget("a"), RouteTarget("b")]),
    RouteConfig(prefix="+1", targets=[RouteTarget("c")]),
]
PERMANENT = CommandStatus.ESME_RINVDSTADR
TRANSIENT = CommandStatus.ESME_RSYSERR


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeLink:
    """A carrier as the dispatcher drives it (the `Link` seam). `one_pdu` encodes a message as a
    single PDU carrying every segment, as message_payload does; otherwise one PDU per segment."""

    def __init__(self, name: str, *, up: bool = True, max_retries: int = 3, retry_backoff_s: float = 1.0,
                 one_pdu: bool = False) -> None:
        self.name = name
        self.up = up
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.supports_query_sm = True
        self.one_pdu = one_pdu
        self.concat = "payload" if one_pdu else "udh"
        self.handed: list[tuple[Job, bool]] = []  # (job, front) since the last take()
        self.calls = 0  # submit_many calls
        self.prepared: list[InFlight] = []
        self.out_of_wire: list[tuple[int, int]] = []  # (seq, parts) of jobs the wire form lacks
        self.states: dict[str, tuple[str, str]] = {}  # query_sm answers by carrier message id
        self.discarded = 0  # discard_final calls

    def prepare(self, flight: InFlight, cache: dict | None = None) -> None:
        flight.carrier = self.name
        parts = 1 if self.one_pdu else flight.seg.segments
        flight.wire = [self.name.encode()] * parts
        flight.concat = self.concat
        flight.parts = parts
        self.prepared.append(flight)

    def can_take(self, flight: InFlight) -> bool:
        # as a pool: a message already split for one concatenation method stays on it
        return flight.concat is None or flight.concat == self.concat or flight.seg.segments == 1

    def submit_many(self, jobs: Iterable[Job], front: bool = False) -> None:
        self.calls += 1
        for job in jobs:
            # what a pool does with the job: send part `seq` of the wire form it prepared
            if job.inflight.wire is None or job.seq > len(job.inflight.wire):
                self.out_of_wire.append((job.seq, job.inflight.parts))
            self.handed.append((job, front))

    def take(self) -> list[tuple[Job, bool]]:
        handed, self.handed = self.handed, []
        return handed

    def resp_key(self, message_id: str) -> str:
        return message_id.lower()

    def discard_final(self) -> None:
        self.discarded += 1

    async def query_state(self, message_id: str) -> tuple[str, str] | None:
        return self.states.get(message_id)


class RecordingStore:
    """The DispatchStore seam: every write in call order."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def segment_submitted(self, message_id, seq, carrier, carrier_message_id, at) -> None:
        self.calls.append(("segment_submitted", message_id, seq, carrier, carrier_message_id, at))

    def segment_result(self, message_id, seq, stat, err, at) -> None:
        self.calls.append(("segment_result", message_id, seq, stat, err, at))

    def message_final(self, final: MessageFinal) -> int:
        self.calls.append(("message_final", final))
        return len(self.calls)

    def charge(self, app_id, segments) -> None:
        self.calls.append(("charge", app_id, segments))

    def of(self, kind: str) -> list:
        return [c[1:] if len(c) > 2 else c[1] for c in self.calls if c[0] == kind]

    @property
    def finals(self) -> list[MessageFinal]:
        return self.of("message_final")

    def charged(self, app_id: str = "app") -> int:
        return sum(n for a, n in self.of("charge") if a == app_id)


class RecordingBalances:
    def __init__(self) -> None:
        self.refunds: list[tuple[str, int]] = []

    def refund(self, app_id: str, segments: int) -> None:
        self.refunds.append((app_id, segments))

    def refunded(self, app_id: str = "app") -> int:
        return sum(n for a, n in self.refunds if a == app_id)


class RecordingReplyStore:
    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.senders: dict[str, str] = {}  # what the store knows of earlier sends (before a restart)
        self.lookups: list[tuple[str, float]] = []

    def add_reply(self, app_id, phone, text, carrier, received_at, complete=True) -> None:
        self.rows.append((app_id, phone, text, carrier, received_at) + (() if complete else ("incomplete",)))

    async def last_sender(self, phone: str, since: float) -> str | None:
        self.lookups.append((phone, since))
        return self.senders.get(phone)


class RecordingUnsubscriber:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def unsubscribe(self, app_id: str, phone: str) -> bool:
        self.calls.append((app_id, phone))
        return True


class Rig:
    _ids = itertools.count(1)

    def __init__(self, *links: FakeLink, routes: list[RouteConfig] = ROUTES) -> None:
        self.clock = FakeClock()
        self.store = RecordingStore()
        self.balances = RecordingBalances()
        self.reply_store = RecordingReplyStore()
        self.unsubscriber = RecordingUnsubscriber()
        self.links = {link.name: link for link in links}
        self.router = Router(routes, is_up=lambda name: name in self.links and self.links[name].up)
        self.replies = Replies(self.reply_store, self.unsubscriber, clock=self.clock)
        self.on_final: list[MessageFinal] = []
        self.dispatcher = Dispatcher(self.store, self.router, self.balances, self.replies, clock=self.clock,
                                     on_final=lambda final, _cursor: self.on_final.append(final))
        for link in links:
            self.dispatcher.attach(link)

    def send(self, text: str, *phones: str, app_id: str = "app", scheduled_at: float | None = None,
             done: dict | None = None) -> list[MessageRecord]:
        seg = segment(text, Scheme.DOMESTIC)
        records = [
            MessageRecord(id=next(self._ids), app_id=app_id, phone=phone, content=text, type="regular",
                          chars=seg.chars, segments=seg.segments, data_coding=seg.data_coding,
                          created_at=self.clock(), scheduled_at=scheduled_at)
            for phone in phones
        ]
        self.dispatcher.enqueue(records, seg, done)
        return records

    def one(self, text: str = "hello", phone: str = MAINLAND) -> tuple[MessageRecord, Job, str]:
        """Send one single-part message: its record, its job and the carrier it went to."""
        [record] = self.send(text, phone)
        [job] = self.jobs()
        return record, job, job.inflight.carrier

    def handed(self) -> list[tuple[str, Job, bool]]:
        """Jobs handed to any link since the last call: (link, job, front)."""
        return [(name, job, front) for name, link in self.links.items() for job, front in link.take()]

    def jobs(self) -> list[Job]:
        return [job for _, job, _ in self.handed()]

    def run_due(self) -> None:
        """What the due-queue's task does when it wakes: hand what is due to the dispatcher."""
        self.dispatcher.run_due(self.clock())

    def deliver(self, job: Job, carrier: str | None = None, stat: str = "DELIVRD", err: str = "000") -> None:
        """The carrier accepts the job and later reports it, as a pool would."""
        carrier = carrier or job.inflight.carrier
        cmid = f"M{job.inflight.record.id}-{job.seq}-{carrier}"
        self.dispatcher.submitted(carrier, job, cmid, cmid.lower())
        self.dispatcher.receipt(carrier, cmid.lower(), "", stat, err)


def other(name: str) -> str:
    return "b" if name == "a" else "a"


# -- one message, start to finish ----------------------------------------------------------------------
def test_one_message_is_submitted_charged_and_finished_by_its_receipt():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    [record] = rig.send("hello", MAINLAND)
    [(carrier, job, front)] = rig.handed()
    assert (job.inflight.record, job.seq, job.attempt, front) == (record, 1, 0, False)
    assert job.inflight.carrier == carrier
    assert rig.dispatcher.stats.open == 1

    rig.clock.advance(2.0)
    rig.dispatcher.submitted(carrier, job, "MSG-1", "msg-1")
    assert rig.store.calls == [
        ("segment_submitted", record.id, 1, carrier, "MSG-1", T0 + 2.0),
        ("charge", "app", 1),
    ]
    assert not rig.store.finals and rig.dispatcher.stats.open == 1

    rig.clock.advance(3.0)
    rig.dispatcher.receipt(carrier, "msg-1", "", "DELIVRD", "000")
    assert rig.store.of("segment_result") == [(record.id, 1, "DELIVRD", "000", T0 + 5.0)]
    [final] = rig.store.finals
    assert (final.message_id, final.app_id, final.phone) == (record.id, "app", MAINLAND)
    assert (final.status, final.code, final.carrier) == (MessageStatus.DELIVERED, 0, carrier)
    assert (final.submitted_at, final.final_at) == (T0 + 2.0, T0 + 5.0)
    assert "DELIVRD" in final.remark
    assert rig.on_final == [final]
    assert rig.balances.refunds == []

    stats = rig.dispatcher.stats
    assert (stats.segments_submitted, stats.finals, stats.open) == (1, {"delivered": 1}, 0)
    assert stats.take_latencies() == ([2.0], [5.0])
    assert rig.dispatcher.inflight == {}


def test_receipt_before_its_submit_sm_resp_is_parked_then_matched():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    record, job, carrier = rig.one()
    rig.dispatcher.receipt(carrier, "k-1", "", "UNDELIV", "001")
    assert rig.store.of("segment_result") == [] and rig.dispatcher.stats.open == 1

    rig.dispatcher.submitted(carrier, job, "K-1", "k-1")
    assert rig.store.of("segment_result") == [(record.id, 1, "UNDELIV", "001", T0)]
    [final] = rig.store.finals
    assert (final.status, final.code) == (MessageStatus.FAILED, ErrorCode.CARRIER_UNDELIVERED)
    assert "unknown or empty number" in final.remark
    assert rig.dispatcher.correlator.matched_early == 1


def test_a_receipt_matches_only_the_carrier_that_accepted_the_segment():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    _, job, carrier = rig.one()
    rig.dispatcher.submitted(carrier, job, "SAME", "same")
    rig.dispatcher.receipt(other(carrier), "same", "", "UNDELIV", "001")  # the other carrier's id space
    assert rig.store.finals == []
    rig.dispatcher.receipt(carrier, "same", "", "DELIVRD", "000")
    [final] = rig.store.finals
    assert final.status is MessageStatus.DELIVERED


def test_intermediate_receipts_and_repeated_answers_change_nothing():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    _, job, carrier = rig.one()
    rig.dispatcher.submitted(carrier, job, "X", "x")
    rig.dispatcher.submitted(carrier, job, "X", "x")  # a duplicated submit_sm_resp
    rig.dispatcher.receipt(carrier, "x", "", "ENROUTE", "000")
    rig.dispatcher.receipt(carrier, "x", "", "ACCEPTD", "000")
    assert rig.store.of("segment_result") == [] and rig.store.of("charge") == [("app", 1)]
    rig.dispatcher.receipt(carrier, "x", "", "EXPIRED", "027")
    rig.dispatcher.receipt(carrier, "x", "", "DELIVRD", "000")  # too late: the id was matched once
    [final] = rig.store.finals
    assert (final.status, final.code) == (MessageStatus.EXPIRED, ErrorCode.CARRIER_EXPIRED)
    assert rig.dispatcher.stats.segments_submitted == 1


def test_a_receipt_for_another_number_under_the_same_id_is_not_taken():
    """A restarted SMSC may issue an id again: the receipt's number decides which segment it is."""
    rig = Rig(FakeLink("a"), FakeLink("b"))
    first, job1, carrier = rig.one(phone="+8613800000001")
    rig.dispatcher.submitted(carrier, job1, "ID", "id")
    rig.dispatcher.receipt(carrier, "id", "00000002", "DELIVRD", "000")  # for +86...02, not ours
    assert rig.store.finals == [] and rig.dispatcher.correlator.mismatched == 1
    rig.dispatcher.receipt(carrier, "id", "00000001", "UNDELIV", "001")
    [final] = rig.store.finals
    assert (final.message_id, final.status) == (first.id, MessageStatus.FAILED)


def test_the_newest_registration_of_an_id_wins_and_a_parked_receipt_keeps_to_its_number():
    rig = Rig(FakeLink("a"))
    old, old_job, _ = rig.one(phone="+8613800000001")
    rig.dispatcher.submitted("a", old_job, "ID", "id")
    # the SMSC restarted and reports on its old message only now; then it issues the id again
    new, new_job, _ = rig.one(phone="+8613800000003")
    rig.dispatcher.submitted("a", new_job, "ID", "id")
    assert rig.dispatcher.correlator.superseded == 1
    rig.dispatcher.receipt("a", "id", "00000001", "DELIVRD", "000")  # the old number: parked, not matched
    assert rig.store.finals == [] and rig.dispatcher.correlator.parked() == 1
    rig.dispatcher.receipt("a", "id", "00000003", "UNDELIV", "001")
    [final] = rig.store.finals
    assert (final.message_id, final.status) == (new.id, MessageStatus.FAILED)
    # a later registration of the id for yet another number does not take the parked receipt
    third, third_job, _ = rig.one(phone="+8613800000005")
    rig.dispatcher.submitted("a", third_job, "ID", "id")
    assert [f.message_id for f in rig.store.finals] == [new.id]
    del old, third  # the old message ends by its deadline (test_messages_end_by_their_deadline)


def test_parked_receipts_are_bounded():
    rig = Rig(FakeLink("a"))
    limit = rig.dispatcher.settings.max_parked_receipts
    for i in range(limit + 50):
        rig.dispatcher.receipt("a", f"bogus{i}", "", "DELIVRD", "000")
    assert rig.dispatcher.correlator.parked() == limit
    assert rig.dispatcher.correlator.parked_dropped == 50


def test_an_unknown_stat_is_not_final():
    rig = Rig(FakeLink("a"))
    _, job, _ = rig.one()
    rig.dispatcher.submitted("a", job, "X", "x")
    rig.dispatcher.receipt("a", "x", "", "WHATEVER", "000")
    assert rig.store.finals == [] and rig.dispatcher.stats.open == 1
    rig.dispatcher.receipt("a", "x", "", "DELIVRD", "000")
    assert [f.status for f in rig.store.finals] == [MessageStatus.DELIVERED]


def test_messages_end_by_their_deadline():
    rig = Rig(FakeLink("a"), FakeLink("b", up=False), FakeLink("c", up=False))
    validity = rig.dispatcher.settings.validity_s
    sent, job, carrier = rig.one(phone="+8613800000001")
    rig.dispatcher.submitted(carrier, job, "S1", "s1")  # accepted, its receipt never comes
    rig.links["a"].up = False
    [stuck] = rig.send(LONG, "+8613800000002")  # no carrier up: never submitted
    [early] = rig.send("hi", "+15550000009")  # its only carrier (c) is down too
    rig.clock.advance(1.0)
    [later] = rig.send("hello", "+8613800000004")  # accepted a second later: a second more to live
    rig.handed()
    rig.clock.advance(validity - 1.0)
    rig.dispatcher.expire_overdue(rig.clock())
    assert rig.store.finals == []  # exactly at the deadline: not yet past it
    rig.clock.advance(0.5)
    assert rig.dispatcher.expire_overdue(rig.clock()) == 3
    finals = {f.message_id: f for f in rig.store.finals}
    assert (finals[sent.id].status, finals[sent.id].code) == (MessageStatus.EXPIRED, ErrorCode.CARRIER_EXPIRED)
    assert "no delivery receipt within the validity period (24 h)" in finals[sent.id].remark
    assert (finals[stuck.id].status, finals[stuck.id].code) == (MessageStatus.FAILED, ErrorCode.NOT_SUBMITTED)
    assert finals[early.id].code == ErrorCode.NOT_SUBMITTED
    assert later.id not in finals and rig.dispatcher.stats.open == 1
    assert ("app", 3) in rig.balances.refunds  # the never-sent long message is not charged
    assert rig.store.charged() == 1
    assert rig.dispatcher.correlator.pending() == 0  # the registration went with its message
    assert rig.links["a"].discarded == 1  # queued jobs of ended messages are dropped
    assert rig.dispatcher.stats.expired == 3 and rig.on_final[-1].message_id in finals
    rig.dispatcher.receipt(carrier, "s1", "", "DELIVRD", "000")  # too late: parked, changes nothing
    assert len(rig.store.finals) == 3


def test_a_scheduled_messages_deadline_runs_from_its_time():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    validity = rig.dispatcher.settings.validity_s
    [record] = rig.send("hello", MAINLAND, scheduled_at=T0 + validity)  # due in exactly one validity
    [other_one] = rig.send("hello", "+8613800000009")
    rig.handed()
    rig.clock.advance(validity + 1.0)
    rig.dispatcher.expire_overdue(rig.clock())  # the unscheduled one ends; the scheduled one is not due yet
    assert [f.message_id for f in rig.store.finals] == [other_one.id]
    rig.run_due()
    assert [j.inflight.record.id for j in rig.jobs()] == [record.id]
    rig.dispatcher.expire_overdue(rig.clock())
    assert len(rig.store.finals) == 1 and rig.dispatcher.stats.open == 1


def test_a_part_throttled_past_its_budget_fails_over_or_fails_with_60006():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    _, job, carrier = rig.one()
    rig.dispatcher.throttled_too_long(carrier, job, 601.0)
    [(name, moved, front)] = rig.handed()
    assert (name, moved, front) == (other(carrier), job, True)
    assert rig.dispatcher.stats.failovers == 1 and rig.store.finals == []
    rig.links[carrier].up = False  # now the other carrier throttles it too, and no third is up
    rig.dispatcher.throttled_too_long(other(carrier), job, 601.0)
    assert rig.handed() == []
    [final] = rig.store.finals
    assert (final.status, final.code) == (MessageStatus.FAILED, ErrorCode.CARRIER_THROTTLED)
    assert "throttled it for 601 s" in final.remark
    assert rig.balances.refunded() == 1


# -- refusals, retries, failover ---------------------------------------------------------------------------
def test_permanent_refusal_fails_the_message_and_refunds_the_unsent_segments():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    [record] = rig.send(LONG, MAINLAND)
    assert record.segments == 3
    jobs = rig.jobs()
    assert [j.seq for j in jobs] == [1, 2, 3]
    carrier = jobs[0].inflight.carrier
    rig.dispatcher.submitted(carrier, jobs[0], "P1", "p1")
    rig.dispatcher.refused(carrier, jobs[1], PERMANENT, transient=False)

    [final] = rig.store.finals
    assert (final.status, final.code) == (MessageStatus.FAILED, ErrorCode.CARRIER_REJECTED)
    assert "0xb" in final.remark
    assert rig.balances.refunds == [("app", 2)]  # parts 2 and 3 were never charged
    assert rig.store.charged() == 1
    assert not jobs[2].wanted  # the pool skips what is still queued
    assert rig.dispatcher.stats.submit_errors == {PERMANENT: 1}

    rig.dispatcher.refused(carrier, jobs[2], PERMANENT, transient=False)  # a late answer
    assert len(rig.store.finals) == 1 and rig.balances.refunds == [("app", 2)]
    assert rig.dispatcher.stats.submit_errors == {PERMANENT: 2}
    assert rig.dispatcher.stats.finals == {"failed": 1}


def test_each_reserved_segment_is_either_charged_or_refunded_once():
    """Parts 1..3 go out in one window; part 2 is refused for good while part 3 is still in the
    window, and the carrier then accepts part 3."""
    rig = Rig(FakeLink("a"), FakeLink("b"))
    [record] = rig.send(LONG, MAINLAND)
    jobs = rig.jobs()
    carrier = jobs[0].inflight.carrier
    rig.dispatcher.submitted(carrier, jobs[0], "P1", "p1")
    rig.dispatcher.refused(carrier, jobs[1], PERMANENT, transient=False)
    rig.dispatcher.submitted(carrier, jobs[2], "P3", "p3")
    assert rig.store.charged() + rig.balances.refunded() == record.segments


def test_transient_refusals_back_off_then_fail_over_to_the_routes_next_carrier():
    rig = Rig(FakeLink("a", retry_backoff_s=1.0), FakeLink("b"))
    [record] = rig.send("hello", MAINLAND)
    [(first, job, _)] = rig.handed()

    rig.dispatcher.refused(first, job, TRANSIENT, transient=True)
    assert job.attempt == 1 and rig.dispatcher.stats.retries == 1
    assert rig.dispatcher.due.next_due() == T0 + 1.0
    rig.clock.advance(0.999)
    rig.run_due()
    assert rig.handed() == []  # backing off
    rig.clock.advance(0.001)
    rig.run_due()
    assert rig.handed() == [(first, job, True)]  # the same job, at the front of the queue

    assert FAILOVER_AFTER == 2
    rig.dispatcher.unanswered(first, job, "no submit_sm_resp in time")  # a timeout is an attempt too
    assert job.attempt == 2
    assert rig.dispatcher.due.next_due() == rig.clock() + 2.0  # exponential backoff
    rig.clock.advance(2.0)
    rig.run_due()
    assert rig.handed() == [(other(first), job, True)]
    assert job.inflight.carrier == other(first)
    assert rig.links[other(first)].prepared == [job.inflight]  # re-encoded for the new carrier
    assert (rig.dispatcher.stats.retries, rig.dispatcher.stats.failovers) == (2, 1)

    rig.deliver(job)
    [final] = rig.store.finals
    assert (final.status, final.carrier) == (MessageStatus.DELIVERED, other(first))
    assert rig.store.of("segment_submitted")[0][2] == other(first)
    assert rig.balances.refunds == []
    assert rig.dispatcher.stats.submit_errors == {TRANSIENT: 1}


def test_no_failover_while_the_alternative_is_down():
    rig = Rig(FakeLink("a", retry_backoff_s=0.5), FakeLink("b"))
    rig.send("hello", MAINLAND)
    [(first, job, _)] = rig.handed()
    rig.links[other(first)].up = False
    for attempt in (1, 2, 3):
        rig.dispatcher.refused(first, job, TRANSIENT, transient=True)
        rig.clock.advance(10.0)
        rig.run_due()
        assert rig.handed() == [(first, job, True)], attempt
    assert rig.dispatcher.stats.failovers == 0


def test_transient_failures_end_in_60008_when_no_other_carrier_can_take_over():
    rig = Rig(FakeLink("c", max_retries=2, retry_backoff_s=0.5))
    rig.send("hello", AMERICA)
    [(carrier, job, _)] = rig.handed()
    assert carrier == "c"
    for _ in range(2):
        rig.dispatcher.refused("c", job, TRANSIENT, transient=True)
        rig.clock.advance(5.0)
        rig.run_due()
        assert rig.handed() == [("c", job, True)]
    assert rig.store.finals == []
    rig.dispatcher.refused("c", job, TRANSIENT, transient=True)

    [final] = rig.store.finals
    assert (final.status, final.code) == (MessageStatus.FAILED, ErrorCode.CARRIER_TIMEOUT)
    assert "after 3 attempts" in final.remark and final.carrier == ""
    assert rig.balances.refunds == [("app", 1)]
    assert (rig.dispatcher.stats.retries, rig.dispatcher.stats.failovers) == (2, 0)
    assert len(rig.dispatcher.due) == 0


def test_stranded_jobs_are_routed_to_the_carrier_that_is_up():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    [record] = rig.send(LONG, MAINLAND)
    jobs = rig.jobs()
    first = jobs[0].inflight.carrier
    rig.dispatcher.submitted(first, jobs[0], "S1", "s1")
    rig.links[first].up = False
    rig.dispatcher.stranded(first, jobs)  # the bind dropped with all three in its window

    moved = rig.handed()
    assert [(name, job.seq, front) for name, job, front in moved] == [(other(first), 2, False),
                                                                     (other(first), 3, False)]
    assert jobs[0].inflight.carrier == other(first)
    for _, job, _ in moved:
        rig.deliver(job)
    assert rig.store.finals == []  # part 1's receipt is still to come from the first carrier
    rig.dispatcher.receipt(first, "s1", "", "DELIVRD", "000")
    [final] = rig.store.finals
    assert final.status is MessageStatus.DELIVERED
    assert rig.store.charged() == 3 and rig.balances.refunds == []
    assert [(seq, carrier) for _, seq, carrier, *_ in rig.store.of("segment_submitted")] == [
        (1, first), (2, other(first)), (3, other(first))]


def test_stranded_jobs_wait_on_a_carrier_when_none_is_up():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    _, job, _ = rig.one()
    for link in rig.links.values():
        link.up = False
    rig.dispatcher.stranded(job.inflight.carrier, [job])
    [(name, again, _)] = rig.handed()
    assert again.seq == 1 and name == "a"  # the route's first carrier keeps it until a bind returns
    assert rig.store.finals == [] and rig.dispatcher.stats.open == 1


@pytest.mark.parametrize("first_one_pdu", [True, False], ids=["payload-to-parts", "parts-to-payload"])
def test_failover_between_carriers_that_split_differently_sends_the_whole_message(first_one_pdu):
    first, second = FakeLink("a", one_pdu=first_one_pdu), FakeLink("b", one_pdu=not first_one_pdu)
    rig = Rig(first, second)
    second.up = False  # the message goes to "a"
    [record] = rig.send(LONG, MAINLAND)
    jobs = rig.jobs()
    second.up = True
    job = jobs[-1]
    for _ in range(FAILOVER_AFTER):
        rig.dispatcher.refused("a", job, TRANSIENT, transient=True)
        rig.clock.advance(10.0)
        rig.run_due()
    for earlier in jobs[:-1]:
        rig.deliver(earlier, "a")
    assert rig.store.finals == []  # the failed-over part is not sent yet
    for _ in range(5):  # the carriers answer whatever they are given
        handed = rig.handed()
        for name, moved, _ in handed:
            rig.deliver(moved, name)
    assert first.out_of_wire == [] and second.out_of_wire == []
    [final] = rig.store.finals
    assert final.status is MessageStatus.DELIVERED
    assert rig.store.charged() == record.segments


# -- scheduling, routing -----------------------------------------------------------------------------------
def test_a_scheduled_message_is_not_submitted_until_due():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    [record] = rig.send("hello", MAINLAND, scheduled_at=T0 + 60.0)
    assert rig.handed() == []
    assert rig.dispatcher.stats.open == 1 and rig.dispatcher.due.next_due() == T0 + 60.0
    rig.clock.advance(59.0)
    rig.run_due()
    assert rig.handed() == []
    rig.clock.advance(1.0)
    rig.run_due()
    [(name, job, front)] = rig.handed()
    assert (job.inflight.record, job.seq, front) == (record, 1, False)
    rig.deliver(job)
    [final] = rig.store.finals
    assert final.status is MessageStatus.DELIVERED and final.submitted_at == T0 + 60.0


def test_a_schedule_in_the_past_sends_at_once():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    rig.send("hello", MAINLAND, scheduled_at=T0 - 1.0)
    assert len(rig.handed()) == 1 and len(rig.dispatcher.due) == 0


def test_no_route_fails_the_message_and_refunds_it():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    [record] = rig.send(LONG, NOWHERE)
    assert rig.handed() == []
    [final] = rig.store.finals
    assert (final.status, final.code, final.carrier) == (MessageStatus.FAILED, ErrorCode.NO_ROUTE, "")
    assert final.submitted_at is None
    assert rig.balances.refunds == [("app", 3)]
    assert rig.dispatcher.stats.finals == {"failed": 1} and rig.dispatcher.stats.open == 0


def test_a_batch_is_handed_to_each_carrier_once_and_spread_by_weight():
    rig = Rig(FakeLink("a"), FakeLink("b"), FakeLink("c"))
    rig.send("hello", *[f"+86138000000{i:02d}" for i in range(10)], AMERICA)
    jobs = {name: len(link.handed) for name, link in rig.links.items()}
    calls = {name: link.calls for name, link in rig.links.items()}
    handed = rig.handed()
    assert jobs == {"a": 5, "b": 5, "c": 1}  # weights 1:1 on +86
    assert calls == {"a": 1, "b": 1, "c": 1}  # one queue hand-off per carrier
    assert all(job.inflight.carrier == name for name, job, _ in handed)


# -- long messages -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stats, status, code", [
    (("DELIVRD", "DELIVRD", "DELIVRD"), MessageStatus.DELIVERED, ErrorCode.OK),
    (("DELIVRD", "EXPIRED", "UNDELIV"), MessageStatus.FAILED, ErrorCode.CARRIER_UNDELIVERED),
    (("EXPIRED", "DELIVRD", "DELIVRD"), MessageStatus.EXPIRED, ErrorCode.CARRIER_EXPIRED),
])
def test_a_long_message_is_final_after_every_parts_receipt_with_the_combined_outcome(stats, status, code):
    rig = Rig(FakeLink("a"), FakeLink("b"))
    [record] = rig.send(LONG, MAINLAND)
    jobs = rig.jobs()
    carrier = jobs[0].inflight.carrier
    for job in jobs:
        rig.dispatcher.submitted(carrier, job, f"L{job.seq}", f"l{job.seq}")
    assert rig.store.charged() == 3 and rig.dispatcher.stats.segments_submitted == 3
    for job in reversed(jobs):  # receipts in any order
        assert rig.store.finals == []
        rig.dispatcher.receipt(carrier, f"l{job.seq}", "", stats[job.seq - 1], "000")
    [final] = rig.store.finals
    assert (final.status, final.code) == (status, code)
    assert sorted(r[1:3] for r in rig.store.of("segment_result")) == [(1, stats[0]), (2, stats[1]), (3, stats[2])]


def test_one_pdu_carrying_every_segment_is_charged_per_segment():
    rig = Rig(FakeLink("c", one_pdu=True))
    [record] = rig.send(LONG, AMERICA)
    [job] = rig.jobs()
    assert job.inflight.parts == 1 and record.segments == 3
    rig.deliver(job)
    assert rig.store.of("charge") == [("app", 3)]
    assert rig.dispatcher.stats.segments_submitted == 3
    [final] = rig.store.finals
    assert final.status is MessageStatus.DELIVERED


# -- recovery ----------------------------------------------------------------------------------------------
async def test_segments_already_accepted_before_a_restart_are_not_sent_again():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    record_id = next(Rig._ids) + 1  # the id send() will give
    [record] = rig.send(LONG, MAINLAND, done={record_id: {1: ("a", "OLD-1")}})
    assert record.id == record_id
    assert rig.jobs() == []  # held first: parts 2 and 3 may have been accepted just before the crash
    rig.clock.advance(rig.dispatcher.settings.recovery_hold_s)
    rig.run_due()
    jobs = rig.jobs()
    assert [j.seq for j in jobs] == [2, 3]
    for job in jobs:
        rig.deliver(job)
    rig.dispatcher.receipt("a", "old-1", "", "DELIVRD", "000")  # keyed by the carrier's resp_key
    [final] = rig.store.finals
    assert final.status is MessageStatus.DELIVERED
    assert rig.store.charged() == 2  # part 1 was charged before the restart


async def test_recovered_parts_found_accepted_by_their_receipts_are_not_sent_again():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    record_id = next(Rig._ids) + 1
    # part 1 is on record; parts 2 and 3 were answered but the crash came before the commit
    rig.send(LONG, MAINLAND, done={record_id: {1: ("a", "OLD-1")}})
    tail = MAINLAND[-8:]
    rig.dispatcher.receipt("a", "new-2", tail, "DELIVRD", "000")
    rig.dispatcher.receipt("b", "new-x", tail, "DELIVRD", "000")  # b never had it (a split it): not adopted
    rig.dispatcher.receipt("a", "new-9", "99999999", "DELIVRD", "000")  # another number
    assert rig.dispatcher.stats.adopted == 1 and rig.store.charged() == 1
    assert ("segment_submitted", record_id, 2, "a", "new-2", T0) in rig.store.calls
    rig.dispatcher.receipt("a", "new-3", tail, "DELIVRD", "000")
    assert rig.dispatcher.held == {}  # every part is accounted for: nothing is held any more
    rig.clock.advance(rig.dispatcher.settings.recovery_hold_s)
    rig.run_due()
    assert rig.jobs() == []  # nothing is sent twice
    rig.dispatcher.receipt("a", "old-1", "", "DELIVRD", "000")
    [final] = rig.store.finals
    assert (final.message_id, final.status) == (record_id, MessageStatus.DELIVERED)
    assert rig.store.charged() == 2 and rig.balances.refunds == []


async def test_a_receipt_that_came_before_recovery_is_matched_and_unmatched_parts_go_out_after_the_hold():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    first, second = "+8613800000011", "+8613800000012"
    rig.dispatcher.receipt("a", "early", first[-8:], "UNDELIV", "001")  # parked: id unknown so far
    [sent_before, never_sent] = rig.send("hello", first, second, done={})
    await asyncio.sleep(0)  # parked receipts are matched once the whole recovery is enqueued
    [final] = rig.store.finals
    assert (final.message_id, final.status) == (sent_before.id, MessageStatus.FAILED)
    assert rig.dispatcher.correlator.parked() == 0
    assert rig.jobs() == []
    rig.clock.advance(rig.dispatcher.settings.recovery_hold_s)
    rig.run_due()
    assert [j.inflight.record.id for j in rig.jobs()] == [never_sent.id]
    assert rig.dispatcher.held == {}


async def test_reconcile_asks_the_carrier_about_segments_sent_before_a_restart():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    rig.links["a"].states["OLD-1"] = ("UNDELIV", "013")
    record_id = next(Rig._ids) + 1
    rig.send("hello", MAINLAND, done={record_id: {1: ("a", "OLD-1")}})
    assert rig.handed() == []
    assert await rig.dispatcher.reconcile() == 1
    [final] = rig.store.finals
    assert (final.message_id, final.status) == (record_id, MessageStatus.FAILED)
    assert "no credit" in final.remark


# -- replies -----------------------------------------------------------------------------------------------
def test_a_reply_is_stored_for_the_account_that_sent_to_the_number_and_td_unsubscribes():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    rig.send("hello", MAINLAND, app_id="first")
    rig.send("hello", MAINLAND, app_id="shop")  # the last sender gets the reply
    rig.clock.advance(7.0)
    rig.dispatcher.reply("b", MAINLAND, "thanks")
    rig.dispatcher.reply("a", MAINLAND, " td ")
    assert rig.reply_store.rows == [("shop", MAINLAND, "thanks", "b", T0 + 7.0),
                                    ("shop", MAINLAND, " td ", "a", T0 + 7.0)]
    assert rig.unsubscriber.calls == [("shop", MAINLAND)]
    stats = rig.replies.stats
    assert (stats.stored, stats.unsubscribes, stats.unattributed) == (2, 1, 0)


async def test_a_reply_from_a_number_nobody_sent_to_is_stored_unattributed():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    rig.send("hello", MAINLAND)
    rig.dispatcher.reply("a", "+8613999999999", "TD")
    await rig.replies.settle()
    assert rig.reply_store.lookups == [("+8613999999999", T0 - 72 * 3600)]  # memory missed: the store
    assert rig.reply_store.rows == [("", "+8613999999999", "TD", "a", T0)] and rig.unsubscriber.calls == []
    assert (rig.replies.stats.unattributed, rig.replies.stats.stored) == (1, 0)


async def test_a_reply_after_a_restart_is_attributed_from_the_store_in_arrival_order():
    rig = Rig(FakeLink("a"), FakeLink("b"))
    rig.reply_store.senders = {MAINLAND: "shop", AMERICA: "clinic"}  # sent before the restart
    rig.dispatcher.reply("a", MAINLAND, "TD")
    rig.dispatcher.reply("c", AMERICA, "see you")
    rig.dispatcher.reply("a", MAINLAND, "again")
    await rig.replies.settle()
    assert [row[:3] for row in rig.reply_store.rows] == [("shop", MAINLAND, "TD"), ("clinic", AMERICA, "see you"),
                                                         ("shop", MAINLAND, "again")]
    assert rig.unsubscriber.calls == [("shop", MAINLAND)]
    assert rig.replies.stats.stored == 3


def test_an_incomplete_reply_is_stored_marked_and_never_unsubscribes():
    rig = Rig(FakeLink("a"))
    rig.send("hello", MAINLAND, app_id="shop")
    rig.dispatcher.reply("a", MAINLAND, "TD", False)
    assert rig.reply_store.rows == [("shop", MAINLAND, "TD", "a", T0, "incomplete")]
    assert rig.unsubscriber.calls == [] and rig.replies.stats.incomplete == 1


# -- stats -------------------------------------------------------------------------------------------------
def test_stats_count_what_happened():
    rig = Rig(FakeLink("a", retry_backoff_s=1.0), FakeLink("b", retry_backoff_s=1.0), FakeLink("c"))
    [short] = rig.send("hello", AMERICA)
    [long] = rig.send(LONG, MAINLAND)
    rig.send("hello", NOWHERE)
    stats = rig.dispatcher.stats
    assert stats.open == 2 and stats.finals == {"failed": 1}

    handed = rig.handed()
    [short_job] = [job for _, job, _ in handed if job.inflight.record is short]
    long_jobs = [job for _, job, _ in handed if job.inflight.record is long]
    rig.deliver(short_job)
    assert stats.open == 1
    retried = long_jobs[1]
    original = retried.inflight.carrier
    for _ in range(FAILOVER_AFTER):
        rig.dispatcher.refused(retried.inflight.carrier, retried, TRANSIENT, transient=True)
        rig.clock.advance(10.0)
        rig.run_due()
    for _, job, _ in rig.handed():
        rig.deliver(job)
    for job in (long_jobs[0], long_jobs[2]):
        rig.deliver(job, carrier=original)

    assert stats.segments_submitted == 4
    assert stats.finals == {"delivered": 2, "failed": 1} and stats.finals_total == 3
    assert (stats.retries, stats.failovers, stats.open) == (2, 1, 0)
    assert stats.submit_errors == {TRANSIENT: 2}
    submit_latencies, final_latencies = stats.take_latencies()
    assert len(submit_latencies) == 2 and len(final_latencies) == 3
    assert stats.take_latencies() == ([], [])


# -- property: every message ends once, and the counters add up ---------------------------------------------
OUTCOMES = st.tuples(
    st.integers(0, 5),  # transient failures or timeouts before the last answer
    st.sampled_from(["DELIVRD", "UNDELIV", "EXPIRED", "refused"]),  # the last answer
)


@settings(max_examples=60, deadline=None)
@given(st.lists(OUTCOMES, min_size=1, max_size=8), st.data())
def test_any_interleaving_of_answers_ends_each_message_once_with_matching_counters(outcomes, data):
    max_retries = 3
    rig = Rig(FakeLink("a", max_retries=max_retries), FakeLink("b", max_retries=max_retries))
    records = rig.send("hello", *[f"+86138{i:08d}" for i in range(len(outcomes))])
    plan = {r.id: list(o) for r, o in zip(records, outcomes)}
    waiting: list[tuple[str, Job]] = [(name, job) for name, job, _ in rig.handed()]
    while waiting or len(rig.dispatcher.due):
        if not waiting:
            rig.clock.advance(100.0)
            rig.run_due()
            waiting = [(name, job) for name, job, _ in rig.handed()]
            continue
        name, job = waiting.pop(data.draw(st.integers(0, len(waiting) - 1)))
        failures, last = plan[job.inflight.record.id]
        if failures:
            plan[job.inflight.record.id][0] -= 1
            rig.dispatcher.refused(name, job, TRANSIENT, transient=True)
        elif last == "refused":
            rig.dispatcher.refused(name, job, PERMANENT, transient=False)
        else:
            rig.deliver(job, name, stat=last)

    finals = {f.message_id: f for f in rig.store.finals}
    assert len(finals) == len(records) == len(rig.store.finals)  # each exactly once
    expected_charged = 0
    for record, (failures, last) in zip(records, outcomes):
        final = finals[record.id]
        if failures > max_retries:
            assert final.code == ErrorCode.CARRIER_TIMEOUT
        elif last == "refused":
            assert final.code == ErrorCode.CARRIER_REJECTED
        else:
            expected_charged += 1
            assert final.status == {"DELIVRD": "delivered", "UNDELIV": "failed", "EXPIRED": "expired"}[last]
            assert final.carrier in ("a", "b")
    stats = rig.dispatcher.stats
    assert rig.store.charged() == stats.segments_submitted == expected_charged
    assert rig.balances.refunded() == len(records) - expected_charged
    assert stats.retries == sum(min(f, max_retries) for f, _ in outcomes)
    assert stats.failovers == sum(max(0, min(f, max_retries) - 1) for f, _ in outcomes)
    assert (stats.open, stats.finals_total, len(rig.on_final)) == (0, len(records), len(records))
