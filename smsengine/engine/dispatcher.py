"""Dispatcher: accepted messages → routed segment jobs on carrier queues; submit outcomes,
retries and receipts → message states in the store."""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from smsengine.domain.concatenation import ConcatMethod, ReferenceRotor, wire_parts
from smsengine.domain.errors import MESSAGES, ErrorCode
from smsengine.domain.text import Scheme, segment
from smsengine.engine.correlator import ReceiptCorrelator
from smsengine.engine.outcomes import (
    SubmitVerdict,
    combine,
    final_outcome,
    is_final_stat,
    message_outcome,
    receipt_remark,
    submit_remark,
    submit_verdict,
)
from smsengine.engine.records import MessageFinal, MessageRecord, MessageStatus
from smsengine.engine.routing import Router
from smsengine.engine.store import Store
from smsengine.smpp.codec import submit_sm_tail
from smsengine.smpp.receipt import STAT_FOR_STATE
from smsengine.engine.lifecycle import cancel_tasks

if TYPE_CHECKING:
    from smsengine.engine.accounts import AccountRegistry
    from smsengine.engine.carrier import CarrierLink

log = structlog.get_logger("smsengine.dispatcher")

# Replies that unsubscribe (SPEC §7), compared upper-cased and trimmed. R and STOP too, because
# approved templates may instruct "拒收请回复R" or "Text STOP to opt out".
# transient failures of one segment on one carrier before the route's next carrier takes over
FAILOVER_AFTER = 2

UNSUBSCRIBE_KEYWORDS = frozenset({"T", "N", "TD", "UNSUBSCRIBE", "QX", "0000", "R", "STOP"})


class InFlight:
    """A message between accept and final state: what was sent where, and what came back."""

    __slots__ = (
        "record", "parts", "carrier", "reference", "wire", "submitted", "results", "final",
        "accepted_at", "submitted_at", "unsent", "concat",
    )

    def __init__(self, record: MessageRecord, parts: int) -> None:
        self.record = record
        self.parts = parts
        self.carrier: str = ""
        self.reference = 0
        self.wire: list[bytes] | None = None  # per part: the submit_sm body after the destination
        self.concat: ConcatMethod | None = None
        self.submitted: dict[int, str] = {}  # seq → carrier message id
        self.results: dict[int, tuple[str, str]] = {}  # seq → (stat, err)
        self.final = False
        self.accepted_at = record.created_at
        self.submitted_at: float | None = None
        self.unsent = parts  # segments reserved against the balance, not yet charged


class Job:
    """One segment to submit; `attempt` counts transient failures and timeouts."""

    __slots__ = ("inflight", "seq", "attempt")

    def __init__(self, inflight: InFlight, seq: int, attempt: int = 0) -> None:
        self.inflight = inflight
        self.seq = seq
        self.attempt = attempt


class Dispatcher:
    def __init__(
        self,
        store: Store,
        router: Router,
        accounts: AccountRegistry,
        *,
        clock: Callable[[], float] = time.time,
        on_final: Callable[[MessageFinal], None] | None = None,
    ) -> None:
        self.store = store
        self.router = router
        self.accounts = accounts
        self.clock = clock
        self.links: dict[str, CarrierLink] = {}
        self.correlator: ReceiptCorrelator[tuple[InFlight, int]] = ReceiptCorrelator()
        self.rotor = ReferenceRotor()
        self.inflight: dict[int, InFlight] = {}
        self._scheduled: list[tuple[float, int, InFlight]] = []
        self._schedule_wake = asyncio.Event()
        self._scheduler: asyncio.Task | None = None
        self._retry_heap: list[tuple[float, int, Job]] = []
        self._retry_wake = asyncio.Event()
        self._retrier: asyncio.Task | None = None
        self.on_final = on_final
        self.last_sender: dict[str, str] = {}  # phone → app that last sent to it, for replies
        self._older_senders: dict[str, str] = {}
        self.max_senders = 1_000_000
        self.unattributed_replies = 0
        self.unsubscribes = 0
        # counters for metrics
        self.segments_submitted = 0
        self.finals: dict[str, int] = {}
        self.submit_errors: dict[int, int] = {}
        self.retries = 0
        self.failovers = 0
        self.latency_submit: list[float] = []  # accept → first submit, drained by metrics
        self.latency_final: list[float] = []

    def attach(self, link: CarrierLink) -> None:
        self.links[link.name] = link

    async def start(self) -> None:
        self._scheduler = asyncio.create_task(self._run_scheduled(), name="dispatch-scheduler")
        self._retrier = asyncio.create_task(self._run_retries(), name="dispatch-retries")

    async def stop(self) -> None:
        await cancel_tasks(self._scheduler, self._retrier)

    # -- intake side ------------------------------------------------------------------------------
    def enqueue(self, records: list[MessageRecord], done: dict[int, dict[int, tuple[str, str]]] | None = None) -> None:
        """Queue accepted messages. `done` (recovery) names segments a carrier already accepted:
        those are registered for their receipts and never sent again."""
        now = self.clock()
        ready: list[InFlight] = []
        inflight = self.inflight
        remember = self._remember_sender
        for record in records:
            remember(record.phone, record.app_id)
            flight = InFlight(record, record.segments)
            inflight[record.id] = flight
            if done and record.id in done:
                for seq, (carrier, cmid) in done[record.id].items():
                    flight.submitted[seq] = cmid
                    flight.unsent -= 1
                    flight.carrier = carrier
                    self._register(flight, seq, carrier, cmid, now)
                if len(flight.submitted) == flight.parts:
                    continue  # everything was sent: only receipts are awaited
            if record.scheduled_at and record.scheduled_at > now:
                heapq.heappush(self._scheduled, (record.scheduled_at, record.id, flight))
                self._schedule_wake.set()
            else:
                ready.append(flight)
        self._route_many(ready)

    def _route_many(self, flights: list[InFlight]) -> None:
        """Route a batch: one queue hand-off per carrier, one segmentation per distinct text."""
        by_link: dict[str, list[Job]] = {}
        cache: dict[tuple, list[bytes]] = {}
        for flight in flights:
            link = self._pick(flight)
            if link is None:
                continue
            self._prepare(flight, link, cache)
            jobs = by_link.get(link.name)
            if jobs is None:
                jobs = by_link[link.name] = []
            submitted = flight.submitted
            for seq in range(1, flight.parts + 1):
                if seq not in submitted:
                    jobs.append(Job(flight, seq))
        for name, jobs in by_link.items():
            self.links[name].submit_many(jobs)

    def _pick(self, flight: InFlight) -> CarrierLink | None:
        candidates = self.router.candidates(flight.record.phone)
        links = self.links
        for name in candidates:
            link = links.get(name)
            if link is not None and link.up:
                return link
        link = links.get(candidates[0]) if candidates else None
        if link is None:
            self._fail(flight, ErrorCode.NO_ROUTE, MessageStatus.FAILED, "no carrier route for this destination")
        return link  # a carrier that is down keeps the jobs until a bind returns

    def _alternative(self, flight: InFlight, avoid: str) -> CarrierLink | None:
        for name in self.router.candidates(flight.record.phone):
            link = self.links.get(name)
            if name != avoid and link is not None and link.up:
                return link
        return None

    def _prepare(self, flight: InFlight, link: CarrierLink, cache: dict | None = None) -> None:
        """The wire form of the message for this carrier: each part's submit_sm body after the
        destination, encoded once (and shared by every single-part message of a batch)."""
        flight.carrier = link.name
        if flight.wire is not None and flight.concat is link.concat:
            return
        record = flight.record
        # a failover keeps the reference, so parts sent on either carrier still reassemble
        if flight.wire is None and record.segments > 1:
            flight.reference = self.rotor.next(record.phone)
        flight.concat = link.concat
        domestic = record.phone.startswith("+86")
        key = (record.content, domestic, link.concat.value)
        cached = cache.get(key) if cache is not None else None
        if cached is not None and record.segments == 1:
            flight.wire = cached
            flight.parts = 1
            return
        seg = segment(record.content, Scheme.DOMESTIC if domestic else Scheme.GSM,
                      max_chars=max(500, len(record.content)))
        parts = wire_parts(seg, link.concat, flight.reference)
        flight.wire = [
            submit_sm_tail(p.esm_class, 1, seg.data_coding, p.short_message, p.tlvs) for p in parts
        ]
        # message_payload: one PDU carries every segment (still billed per segment)
        flight.parts = len(parts)
        if cache is not None and record.segments == 1:
            cache[key] = flight.wire

    def _route(self, flight: InFlight, seqs: list[int] | None = None) -> None:
        """Put the message's unsent segments (or just `seqs`) on the best carrier that is up."""
        link = self._pick(flight)
        if link is None:
            return
        self._prepare(flight, link)
        if seqs is None:
            seqs = [seq for seq in range(1, flight.parts + 1) if seq not in flight.submitted]
        link.submit_many([Job(flight, seq) for seq in seqs])

    # -- carrier side -------------------------------------------------------------------------------
    def submit_resp(self, link: CarrierLink, job: Job, status: int, message_id: str) -> None:
        flight = job.inflight
        verdict = submit_verdict(status, link.throttle_statuses, link.transient_statuses)
        if verdict is SubmitVerdict.OK:
            self._submitted(link, flight, job.seq, message_id)
            return
        self.submit_errors[status] = self.submit_errors.get(status, 0) + 1
        if flight.final:
            return
        if verdict is SubmitVerdict.THROTTLED:
            link.throttled(job)
        elif verdict is SubmitVerdict.TRANSIENT:
            self.retry(link, job, submit_remark(status))
        else:
            self._fail(flight, ErrorCode.CARRIER_REJECTED, MessageStatus.FAILED, submit_remark(status))

    def retry(self, link: CarrierLink, job: Job, reason: str) -> None:
        """A transient failure or a missing response: back off and resend, then give up with 60008."""
        flight = job.inflight
        if flight.final or job.seq in flight.submitted:
            return
        job.attempt += 1
        if job.attempt > link.config.max_retries:
            self._fail(flight, ErrorCode.CARRIER_TIMEOUT, MessageStatus.FAILED,
                       f"{MESSAGES[ErrorCode.CARRIER_TIMEOUT]} after {job.attempt} attempts: {reason}")
            return
        self.retries += 1
        delay = link.config.retry_backoff_s * (2 ** (job.attempt - 1))
        heapq.heappush(self._retry_heap, (self.clock() + delay, id(job), job))
        self._retry_wake.set()

    def requeue(self, jobs: list[Job]) -> None:
        """Jobs whose bind dropped before an answer: route them again, failing over if needed."""
        by_flight: dict[int, tuple[InFlight, list[int]]] = {}
        for job in jobs:
            flight = job.inflight
            if not flight.final and job.seq not in flight.submitted:
                by_flight.setdefault(flight.record.id, (flight, []))[1].append(job.seq)
        for flight, seqs in by_flight.values():
            self._route(flight, seqs)

    def _submitted(self, link: CarrierLink, flight: InFlight, seq: int, message_id: str) -> None:
        now = self.clock()
        record = flight.record
        if seq in flight.submitted:
            return
        flight.submitted[seq] = message_id
        charge = 1 if flight.parts == record.segments else record.segments
        flight.unsent -= charge
        self.segments_submitted += charge
        self.store.segment_submitted(record.id, seq, link.name, message_id, now)
        self.store.charge(record.app_id, charge)
        if flight.submitted_at is None:
            flight.submitted_at = now
            self.latency_submit.append(now - flight.accepted_at)
        self._register(flight, seq, link.name, message_id, now)

    def _register(self, flight: InFlight, seq: int, carrier: str, message_id: str, now: float) -> None:
        link = self.links.get(carrier)
        key = link.resp_key(message_id) if link is not None else message_id
        early = self.correlator.register(carrier, key, (flight, seq), now)
        if early is not None:
            self._apply_receipt(flight, seq, early[0], early[1], early[2])

    def receipt(self, link: CarrierLink, message_id: str, stat: str, err: str) -> None:
        """A delivery receipt from `link`; parked if its submit_sm_resp is not recorded yet."""
        if final_outcome(stat) is None:
            return
        now = self.clock()
        key = link.receipt_key(message_id)
        target = self.correlator.match(link.name, key, (stat, err, now), now)
        if target is not None:
            flight, seq = target
            self._apply_receipt(flight, seq, stat, err, now)

    def _apply_receipt(self, flight: InFlight, seq: int, stat: str, err: str, at: float) -> None:
        record = flight.record
        results = flight.results
        if seq in results:
            return
        results[seq] = (stat, err)
        self.store.segment_result(record.id, seq, stat, err, at)
        if flight.final or len(results) < flight.parts:
            return
        if flight.parts == 1:
            status, code = message_outcome(stat)
            self._finish(flight, status, code, receipt_remark(stat, err), at)
            return
        status, code, remark = combine([results[s] for s in sorted(results)])
        self._finish(flight, status, code, remark, at)

    def _fail(self, flight: InFlight, code: ErrorCode, status: MessageStatus, remark: str) -> None:
        if flight.final:
            return
        # segments never charged give their reservation back: billing is per submitted segment
        account = self.accounts.accounts.get(flight.record.app_id)
        if account is not None and flight.unsent > 0:
            account.available += flight.unsent
            flight.unsent = 0
        self._finish(flight, status, code, remark, self.clock())

    def _finish(self, flight: InFlight, status: MessageStatus, code: ErrorCode, remark: str, at: float) -> None:
        flight.final = True
        record = flight.record
        self.inflight.pop(record.id, None)
        self.finals[status] = self.finals.get(status, 0) + 1
        self.latency_final.append(at - flight.accepted_at)
        final = MessageFinal(
            message_id=record.id, app_id=record.app_id, phone=record.phone, status=status, code=int(code),
            remark=remark, submitted_at=flight.submitted_at, final_at=at, context=record.context,
            carrier=flight.carrier if flight.submitted else "",
        )
        self.store.message_final(final)
        if self.on_final is not None:
            self.on_final(final)

    # -- timers -------------------------------------------------------------------------------------
    async def _run_scheduled(self) -> None:
        while True:
            if not self._scheduled:
                self._schedule_wake.clear()
                await self._schedule_wake.wait()
                continue
            due, _, flight = self._scheduled[0]
            delay = due - self.clock()
            if delay > 0:
                self._schedule_wake.clear()
                try:
                    await asyncio.wait_for(self._schedule_wake.wait(), timeout=min(delay, 1.0))
                except asyncio.TimeoutError:
                    pass
                continue
            heapq.heappop(self._scheduled)
            if not flight.final:
                self._route(flight)

    async def _run_retries(self) -> None:
        while True:
            if not self._retry_heap:
                self._retry_wake.clear()
                await self._retry_wake.wait()
                continue
            due = self._retry_heap[0][0]
            delay = due - self.clock()
            if delay > 0:
                self._retry_wake.clear()
                try:
                    await asyncio.wait_for(self._retry_wake.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    pass
                continue
            ready: list[Job] = []
            now = self.clock()
            while self._retry_heap and self._retry_heap[0][0] <= now:
                ready.append(heapq.heappop(self._retry_heap)[2])
            by_link: dict[str, list[Job]] = {}
            for job in ready:
                if job.inflight.final:
                    continue
                carrier = job.inflight.carrier
                if job.attempt >= FAILOVER_AFTER:
                    # repeated transient errors: the next carrier of the route takes over, if any
                    alternative = self._alternative(job.inflight, carrier)
                    if alternative is not None:
                        self._prepare(job.inflight, alternative)
                        self.failovers += 1
                        carrier = alternative.name
                by_link.setdefault(carrier, []).append(job)
            for name, jobs in by_link.items():
                link = self.links.get(name)
                if link is not None and link.up:
                    link.submit_many(jobs, front=True)
                else:
                    self.requeue(jobs)

    def open_count(self) -> int:
        return len(self.inflight)

    # -- links, replies, recovery --------------------------------------------------------------------
    def link_up(self, link: CarrierLink) -> None:
        link.pump()

    def mo(self, link: CarrierLink, phone: str, text: str) -> None:
        """A reply from a handset: stored for its account; unsubscribe keywords act at once."""
        app_id = self.sender_of(phone)
        if app_id is None:
            self.unattributed_replies += 1
            return
        self.store.execute_later(
            "INSERT INTO replies (app_id, phone, text, carrier, received_at) VALUES (?,?,?,?,?)",
            (app_id, phone, text, link.name, self.clock()),
        )
        if text.strip().upper() in UNSUBSCRIBE_KEYWORDS:
            if self.accounts.unsubscribe(app_id, phone):
                self.unsubscribes += 1
                log.debug("mo.unsubscribe", app_id=app_id, phone=phone)

    def sender_of(self, phone: str) -> str | None:
        return self.last_sender.get(phone) or self._older_senders.get(phone)

    def _remember_sender(self, phone: str, app_id: str) -> None:
        """Bounded memory in two generations: when the current one is full it becomes the older
        one and the previous older one is dropped (a reply comes within days, not millions of
        messages later)."""
        senders = self.last_sender
        senders[phone] = app_id
        if len(senders) > self.max_senders:
            self._older_senders = senders
            self.last_sender = {}

    async def reconcile(self) -> int:
        """After a restart: ask carriers (query_sm) about segments sent before the crash whose
        receipts are still missing, instead of sending them again. Returns how many resolved."""
        resolved = 0
        for flight in list(self.inflight.values()):
            for seq, cmid in list(flight.submitted.items()):
                if seq in flight.results or flight.final:
                    continue
                link = self.links.get(flight.carrier)
                if link is None or not link.config.supports_query_sm:
                    continue
                resp = await link.query(cmid)
                if resp is None or resp.command_status:
                    continue
                stat = STAT_FOR_STATE.get(resp.message_state, "")  # type: ignore[call-overload]
                if stat and is_final_stat(stat):
                    self._apply_receipt(flight, seq, stat, f"{resp.error_code:03d}", self.clock())
                    resolved += 1
        return resolved
