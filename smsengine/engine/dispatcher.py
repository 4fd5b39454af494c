"""Dispatcher: accepted messages → segment jobs on the best carrier; what carriers report
(`LinkEvents`) → retries, failover, receipts correlated, and message states in the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import structlog

from smsengine.config import DispatchConfig
from smsengine.domain.errors import MESSAGES, ErrorCode
from smsengine.domain.text import Segmentation
from smsengine.engine.correlator import ReceiptCorrelator, destination_tail
from smsengine.engine.due import DueQueue
from smsengine.engine.jobs import InFlight, Job
from smsengine.engine.lifecycle import cancel_tasks
from smsengine.engine.links import Link
from smsengine.engine.outcomes import combine, final_outcome, message_outcome, receipt_remark, submit_remark
from smsengine.engine.records import MessageFinal, MessageRecord, MessageStatus
from smsengine.engine.replies import Replies
from smsengine.engine.routing import Router
from smsengine.engine.stats import DispatchStats

log = structlog.get_logger("smsengine.dispatcher")

# transient failures of one segment on one carrier before the route's next carrier takes over
FAILOVER_AFTER = 2


class DispatchStore(Protocol):
    """The store's writes the dispatcher makes; each rides the next group commit."""

    def segment_submitted(self, message_id: int, seq: int, carrier: str, carrier_message_id: str,
                          at: float) -> None: ...
    def segment_result(self, message_id: int, seq: int, stat: str, err: str, at: float) -> None: ...
    def message_final(self, final: MessageFinal) -> int: ...
    def charge(self, app_id: str, segments: int) -> None: ...


class Balances(Protocol):
    def refund(self, app_id: str, segments: int) -> None: ...


def _destination(target: tuple[InFlight, int]) -> str:
    return target[0].record.phone


class Dispatcher:
    """Implements `LinkEvents` for the carrier pools, and drives them through `Link`.

    Every message has a deadline: `settings.validity_s` after it became due. `inflight` holds
    the messages due and not final in the order they became due, so the deadline check looks at
    its oldest entries only; scheduled messages wait in `scheduled` until their time."""

    def __init__(self, store: DispatchStore, router: Router, balances: Balances, replies: Replies, *,
                 settings: DispatchConfig | None = None, clock: Callable[[], float] = time.time,
                 on_final: Callable[[MessageFinal, int], None] | None = None) -> None:
        self.store = store
        self.router = router
        self.balances = balances
        self.replies = replies
        self.settings = settings = settings or DispatchConfig()
        self.clock = clock
        self.on_final = on_final
        self.links: dict[str, Link] = {}
        # a registration outlives its message's deadline by an hour: a receipt that late is
        # still recorded on its segment (the message itself stays expired)
        self.correlator: ReceiptCorrelator[tuple[InFlight, int]] = ReceiptCorrelator(
            _destination, max_age=settings.validity_s + 3600.0, park_age=settings.receipt_park_s,
            max_parked=settings.max_parked_receipts,
        )
        self.inflight: dict[int, InFlight] = {}
        self.scheduled: dict[int, InFlight] = {}
        # recovered messages with parts that may have been accepted before a crash, by the last
        # digits of their number, until their hold ends (see `enqueue`)
        self.held: dict[str, list[InFlight]] = {}
        # scheduled messages (InFlight) and retries after backoff (Job) share one due-queue
        self.due: DueQueue[InFlight | Job] = DueQueue(self._on_due, clock=clock)
        self.stats = DispatchStats(self.inflight, self.scheduled)
        self._sweeper: asyncio.Task | None = None
        self._adopt_pending = False

    def attach(self, link: Link) -> None:
        self.links[link.name] = link

    def start(self) -> None:
        self.due.start()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="dispatch-deadlines")

    async def stop(self) -> None:
        await cancel_tasks(self._sweeper)
        await self.due.stop()

    # -- intake side ------------------------------------------------------------------------------
    def enqueue(self, records: list[MessageRecord], seg: Segmentation,
                done: dict[int, dict[int, tuple[str, str]]] | None = None) -> None:
        """Queue accepted messages that share one text (`seg`, segmented at intake).

        `done` is given on recovery (engine start): it names segments a carrier is recorded as
        having accepted, by message id: seq → (carrier, carrier message id); those are registered
        for their receipts and never sent again. The other parts of a recovered message may have
        been accepted too, in the moment between the carrier's answer and its group commit: they
        are held for `settings.recovery_hold_s` while receipts for unknown ids are matched to them
        by carrier and number (`_adopt`), and only what is unmatched then is sent."""
        now = self.clock()
        recovering = done is not None and self.settings.recovery_hold_s > 0
        ready: list[InFlight] = []
        new_flight = self._new_flight
        for record in records:
            flight = new_flight(record, seg, now, sent_before=bool(done and record.id in done))
            if flight is None:
                continue
            if done and record.id in done:
                sent = done[record.id]
                for seq, (carrier, cmid) in sent.items():
                    link = self.links.get(carrier)
                    if link is not None and flight.wire is None:
                        link.prepare(flight)  # the split that carrier was sent: the rest follows it
                    flight.submitted[seq] = (carrier, cmid)
                    self._register(flight, seq, carrier, link.resp_key(cmid) if link is not None else cmid, now)
                # one PDU may have carried every segment (message_payload)
                flight.unsent = max(0, record.segments - (record.segments if flight.parts == 1 else len(sent)))
                if len(flight.submitted) >= flight.parts:
                    continue  # everything was sent: only receipts are awaited
            if recovering:
                self._hold(flight, now + self.settings.recovery_hold_s)
            else:
                ready.append(flight)
        self._route_many(ready)
        if recovering and not self._adopt_pending:
            # receipts that came before their message was recovered: matched once, after every
            # group of the recovery is enqueued (not once per group: recovery enqueues per text)
            self._adopt_pending = True
            asyncio.get_running_loop().call_soon(self._adopt_parked)

    def enqueue_texts(self, groups: list[tuple[list[MessageRecord], Segmentation]]) -> None:
        """Queue new messages of many texts at once (a bulk task's chunk: every row its own
        parameters) in one routing pass, so the carriers' queues take them in one hand-off each
        instead of one per text (measured: benchmarks/task_bench.py)."""
        now = self.clock()
        new_flight = self._new_flight
        self._route_many([flight for records, seg in groups for record in records
                          if (flight := new_flight(record, seg, now)) is not None])

    def _new_flight(self, record: MessageRecord, seg: Segmentation, now: float, *,
                    sent_before: bool = False) -> InFlight | None:
        """A message taken in: open until final; None when it waits for its scheduled time."""
        self.replies.senders.remember(record.phone, record.app_id, record.created_at)
        flight = InFlight(record, seg)
        if record.scheduled_at and record.scheduled_at > now and not sent_before:
            self.scheduled[record.id] = flight
            self.due.put(record.scheduled_at, flight)
            return None
        self.inflight[record.id] = flight
        return flight

    def _adopt_parked(self) -> None:
        self._adopt_pending = False
        held = self.held
        for carrier, key, destination in self.correlator.parked_keys():
            if destination in held:
                self._adopt(carrier, key, destination)

    # -- recovery: parts that may have been accepted just before a crash ------------------------------
    def _hold(self, flight: InFlight, until: float) -> None:
        tail = destination_tail(flight.record.phone)
        if tail:  # a number receipts can name: they may show which parts went out
            self.held.setdefault(tail, []).append(flight)
            self.stats.held += 1
        self.due.put(until, flight)

    def _release(self, flight: InFlight) -> None:
        tail = destination_tail(flight.record.phone)
        flights = self.held.get(tail)
        if flights and flight in flights:
            flights.remove(flight)
            if not flights:
                del self.held[tail]

    def _adopt(self, carrier: str, key: str, destination: str) -> bool:
        """A receipt for an id we never recorded, from a carrier that could have carried a held
        message to that number: the carrier accepted that part before the crash. It is recorded
        as submitted (and charged) under the receipt's id, which also applies the receipt."""
        link = self.links.get(carrier)
        if link is None:
            return False
        for flight in self.held.get(destination, ()):
            if flight.final or carrier not in self.router.candidates(flight.record.phone):
                continue
            if flight.wire is None or (flight.carrier != carrier and not flight.submitted):
                link.prepare(flight)  # as that carrier split it
            seq = next((s for s in range(1, flight.parts + 1) if s not in flight.submitted), None)
            if seq is None or flight.carrier != carrier:
                continue
            self.stats.adopted += 1
            self.submitted(carrier, Job(flight, seq), key, key)  # takes the parked receipt with it
            if len(flight.submitted) >= flight.parts:
                self._release(flight)
            return True
        return False

    def _route_many(self, flights: Iterable[InFlight], seqs: dict[int, list[int]] | None = None) -> None:
        """Route messages: one queue hand-off per carrier, one encoding per distinct text. `seqs`
        limits a message (by id) to some of its parts."""
        by_link: dict[str, list[Job]] = {}
        cache: dict = {}
        for flight in flights:
            link = self._pick(flight)
            if link is None:
                continue
            link.prepare(flight, cache)
            jobs = by_link.get(link.name)
            if jobs is None:
                jobs = by_link[link.name] = []
            submitted = flight.submitted
            wanted = seqs.get(flight.record.id) if seqs else None
            for seq in wanted or range(1, flight.parts + 1):
                if seq not in submitted:
                    jobs.append(Job(flight, seq))
        for name, jobs in by_link.items():
            self.links[name].submit_many(jobs)

    def _pick(self, flight: InFlight) -> Link | None:
        candidates = self.router.candidates(flight.record.phone)
        links = self.links
        for name in candidates:
            link = links.get(name)
            if link is not None and link.up and link.can_take(flight):
                return link
        if not candidates:
            self._fail(flight, ErrorCode.NO_ROUTE, MessageStatus.FAILED, "no carrier route for this destination")
            return None
        # nothing up that can take it: the carrier it was encoded for (else the first of the
        # route) keeps the jobs until a bind returns
        return links.get(flight.carrier) or links[candidates[0]]

    def _alternative(self, flight: InFlight, avoid: str) -> Link | None:
        for name in self.router.candidates(flight.record.phone):
            link = self.links.get(name)
            if name != avoid and link is not None and link.up and link.can_take(flight):
                return link
        return None

    # -- LinkEvents: what the carriers report -----------------------------------------------------------
    def submitted(self, carrier: str, job: Job, message_id: str, key: str) -> None:
        flight = job.inflight
        seq = job.seq
        if seq in flight.submitted:
            return
        now = self.clock()
        record = flight.record
        flight.submitted[seq] = (carrier, message_id)
        self.store.segment_submitted(record.id, seq, carrier, message_id, now)
        if flight.final:
            # an answer for a part still in a window when the message failed: the part is
            # recorded, but the message is reported failed and its reservation went back, so
            # it is not charged
            return
        # one PDU may carry every segment (message_payload): billing stays per segment
        charge = 1 if flight.parts == record.segments else record.segments
        flight.unsent -= charge
        self.stats.segments_submitted += charge
        self.store.charge(record.app_id, charge)
        if flight.submitted_at is None:
            flight.submitted_at = now
            self.stats.submit_latency(now - record.created_at)
        self._register(flight, seq, carrier, key, now)

    def refused(self, carrier: str, job: Job, status: int, transient: bool) -> None:
        errors = self.stats.submit_errors
        errors[status] = errors.get(status, 0) + 1
        if job.inflight.final:
            return
        if transient:
            self.unanswered(carrier, job, submit_remark(status))
        else:
            # final at the carrier that refused it (records and stats by carrier count it there)
            self._fail(job.inflight, ErrorCode.CARRIER_REJECTED, MessageStatus.FAILED, submit_remark(status),
                       carrier=carrier)

    def unanswered(self, carrier: str, job: Job, reason: str) -> None:
        """A transient failure or a missing response: back off and resend, then give up with 60008."""
        if not job.wanted:
            return
        link = self.links[carrier]
        job.attempt += 1
        if job.attempt > link.max_retries:
            self._fail(job.inflight, ErrorCode.CARRIER_TIMEOUT, MessageStatus.FAILED,
                       f"{MESSAGES[ErrorCode.CARRIER_TIMEOUT]} after {job.attempt} attempts: {reason}")
            return
        self.stats.retries += 1
        self.due.put(self.clock() + link.retry_backoff_s * (2 ** (job.attempt - 1)), job)

    def stranded(self, carrier: str, jobs: list[Job]) -> None:
        """Jobs whose bind dropped before an answer: route them again, failing over if needed."""
        self._requeue(jobs)

    def _requeue(self, jobs: list[Job]) -> None:
        flights: dict[int, InFlight] = {}
        seqs: dict[int, list[int]] = {}
        for job in jobs:
            if job.wanted:
                mid = job.inflight.record.id
                flights[mid] = job.inflight
                seqs.setdefault(mid, []).append(job.seq)
        for mid, flight in flights.items():
            if not flight.submitted and len(set(seqs[mid])) == flight.parts:
                # no part went out and every part is here: the message may move to a carrier
                # that splits it differently (re-encoded whole, with its reference)
                flight.concat = None
                del seqs[mid]
        self._route_many(flights.values(), seqs)

    def throttled_too_long(self, carrier: str, job: Job, waited: float) -> None:
        """The carrier throttled this part past its budget: the route's next carrier takes it,
        or the message fails with 60006."""
        if not job.wanted:
            return
        flight = job.inflight
        alternative = self._alternative(flight, carrier)
        if alternative is not None:
            job.throttled_at = 0.0
            alternative.prepare(flight)
            self.stats.failovers += 1
            alternative.submit_many([job], front=True)
            return
        self._fail(flight, ErrorCode.CARRIER_THROTTLED, MessageStatus.FAILED,
                   f"{MESSAGES[ErrorCode.CARRIER_THROTTLED]}: {carrier} throttled it for {waited:.0f} s")

    def receipt(self, carrier: str, key: str, destination: str, stat: str, err: str) -> bool:
        """A delivery receipt; parked if its submit_sm_resp is not recorded yet (returns False
        then: nothing was written for it yet). `destination` is the tail of the receipt's
        source_addr (correlator.destination_tail)."""
        if final_outcome(stat) is None:
            return True  # nothing to record
        now = self.clock()
        target = self.correlator.match(carrier, key, destination, (stat, err, now), now)
        if target is not None:
            self._apply_receipt(target[0], target[1], stat, err, now)
            return True
        if self.held and destination in self.held:
            return self._adopt(carrier, key, destination)
        return False

    def reply(self, carrier: str, phone: str, text: str, complete: bool = True) -> asyncio.Future | None:
        return self.replies.received(carrier, phone, text, complete)

    # -- outcomes ------------------------------------------------------------------------------------
    def _register(self, flight: InFlight, seq: int, carrier: str, key: str, now: float) -> None:
        early = self.correlator.register(carrier, key, (flight, seq), now)
        if early is not None:
            self._apply_receipt(flight, seq, early[0], early[1], early[2])

    def _apply_receipt(self, flight: InFlight, seq: int, stat: str, err: str, at: float) -> None:
        results = flight.results
        if seq in results:
            return
        results[seq] = (stat, err)
        self.store.segment_result(flight.record.id, seq, stat, err, at)
        if flight.final or len(results) < flight.parts:
            return
        if flight.parts == 1:
            status, code = message_outcome(stat)
            self._finish(flight, status, code, receipt_remark(stat, err), at)
            return
        status, code, remark = combine([results[s] for s in sorted(results)])
        self._finish(flight, status, code, remark, at)

    def cancel(self, message_id: int, app_id: str | None = None) -> bool:
        """Call off a scheduled message before it is due (of `app_id`, when given): it ends
        `cancelled`, its reserved segments go back to the balance, nothing is charged. False when
        it is not waiting for its time (unknown, another account's, already due or final)."""
        flight = self.scheduled.get(message_id)
        if flight is None or flight.final or (app_id is not None and flight.record.app_id != app_id):
            return False
        self._fail(flight, ErrorCode.CANCELLED, MessageStatus.CANCELLED, MESSAGES[ErrorCode.CANCELLED])
        return True

    def _fail(self, flight: InFlight, code: ErrorCode, status: MessageStatus, remark: str, *,
              carrier: str | None = None) -> None:
        if flight.final:
            return
        # segments never charged give their reservation back: billing is per submitted segment
        if flight.unsent > 0:
            self.balances.refund(flight.record.app_id, flight.unsent)
            flight.unsent = 0
        self._finish(flight, status, code, remark, self.clock(), carrier=carrier)

    def _finish(self, flight: InFlight, status: MessageStatus, code: ErrorCode, remark: str, at: float, *,
                carrier: str | None = None) -> None:
        flight.final = True
        record = flight.record
        if self.inflight.pop(record.id, None) is None:
            self.scheduled.pop(record.id, None)
        if self.held:
            self._release(flight)
        stats = self.stats
        stats.finals[status] = stats.finals.get(status, 0) + 1
        by_app = stats.finals_by_app
        key = (record.app_id, status)
        by_app[key] = by_app.get(key, 0) + 1
        stats.final_latency(at - record.created_at)
        final = MessageFinal(
            message_id=record.id, app_id=record.app_id, phone=record.phone, status=status, code=int(code),
            remark=remark, submitted_at=flight.submitted_at, final_at=at, context=record.context,
            carrier=carrier if carrier is not None else flight.carrier if flight.submitted else "",
            callback_url=record.callback_url,
            task_id=record.task_id,
        )
        cursor = self.store.message_final(final)
        if self.on_final is not None:
            self.on_final(final, cursor)

    # -- due work ----------------------------------------------------------------------------------------
    def run_due(self, now: float) -> None:
        """Route what is due at `now` (the due-queue's task does this by itself)."""
        self._on_due(self.due.pop_due(now))

    def _on_due(self, items: list[InFlight | Job]) -> None:
        flights = [x for x in items if type(x) is InFlight and not x.final]
        if flights:
            scheduled, inflight = self.scheduled, self.inflight
            for flight in flights:  # now due: its deadline runs from here
                mid = flight.record.id
                if scheduled.pop(mid, None) is not None:
                    inflight[mid] = flight
                elif self.held:
                    self._release(flight)  # a recovered message's hold ended
            self._route_many(flights)
        by_link: dict[str, list[Job]] = {}
        stranded: list[Job] = []
        for job in items:
            if type(job) is not Job or not job.wanted:
                continue
            carrier = job.inflight.carrier
            if job.attempt >= FAILOVER_AFTER:
                # repeated transient errors: the next carrier of the route takes over, if any
                alternative = self._alternative(job.inflight, carrier)
                if alternative is not None:
                    alternative.prepare(job.inflight)
                    self.stats.failovers += 1
                    carrier = alternative.name
            link = self.links.get(carrier)
            if link is not None and link.up:
                by_link.setdefault(carrier, []).append(job)
            else:
                stranded.append(job)
        for name, jobs in by_link.items():
            self.links[name].submit_many(jobs, front=True)
        if stranded:
            self._requeue(stranded)

    # -- deadlines ---------------------------------------------------------------------------------------
    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.settings.expiry_sweep_s)
            try:
                self.expire_overdue(self.clock())
            except Exception:
                log.exception("dispatch.expiry_failed")

    def expire_overdue(self, now: float) -> int:
        """End every message whose validity ran out by `now`; returns how many. Only the oldest
        entries of `inflight` are looked at: it is in due order."""
        horizon = now - self.settings.validity_s
        inflight = self.inflight
        expired = 0
        while inflight:
            mid, flight = next(iter(inflight.items()))
            if flight.due_at >= horizon:
                break
            del inflight[mid]  # first: whatever _expire does, this entry is not looked at again
            self._expire(flight)
            expired += 1
        if expired:
            self.stats.expired += expired
            for link in self.links.values():
                link.discard_final()
        return expired

    def _expire(self, flight: InFlight) -> None:
        hours = self.settings.validity_s / 3600
        for seq, (carrier, cmid) in flight.submitted.items():
            link = self.links.get(carrier)
            self.correlator.forget(carrier, link.resp_key(cmid) if link is not None else cmid, (flight, seq))
        if flight.submitted:
            self._fail(flight, ErrorCode.CARRIER_EXPIRED, MessageStatus.EXPIRED,
                       f"no delivery receipt within the validity period ({hours:g} h)")
        else:
            self._fail(flight, ErrorCode.NOT_SUBMITTED, MessageStatus.FAILED,
                       f"{MESSAGES[ErrorCode.NOT_SUBMITTED]} ({hours:g} h)")

    # -- recovery ----------------------------------------------------------------------------------------
    async def reconcile(self) -> int:
        """After a restart: ask carriers (query_sm) about segments sent before the crash whose
        receipts are still missing, instead of sending them again. Returns how many resolved."""
        resolved = 0
        for flight in list(self.inflight.values()):
            for seq, (carrier, cmid) in list(flight.submitted.items()):
                if seq in flight.results or flight.final:
                    continue
                link = self.links.get(carrier)  # the carrier this part went to
                if link is None or not link.supports_query_sm:
                    continue
                state = await link.query_state(cmid)
                if state is not None and final_outcome(state[0]) is not None:
                    self._apply_receipt(flight, seq, state[0], state[1], self.clock())
                    resolved += 1
        return resolved
