"""The carrier pool: every bind to one carrier kept up (reconnect, keepalive, idle refresh), its
queue of segment jobs pumped through the binds' send windows, throttling absorbed, and what the
binds hear reported to the dispatcher as `LinkEvents`."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Iterable

import structlog

from smsengine.config import CarrierConfig
from smsengine.engine.bind import BindMode, Control, EsmeBind
from smsengine.engine.carrier_link import CarrierLink
from smsengine.engine.correlator import destination_tail
from smsengine.engine.inbound import ReplyAssembler, is_reply, receipt_fields
from smsengine.engine.jobs import Job
from smsengine.engine.lifecycle import cancel_tasks
from smsengine.engine.links import LinkEvents
from smsengine.engine.outcomes import SubmitVerdict, submit_verdict
from smsengine.engine.stats import BindState, CarrierState, LinkStats
from smsengine.smpp.codec import PduEncodeError, submit_sm_body, submit_sm_head
from smsengine.smpp.concatenation import ReferenceRotor
from smsengine.smpp.constants import ESM_MESSAGE_TYPE_MASK, CommandId, CommandStatus, EsmClass
from smsengine.smpp.pdu import DeliverSm, QuerySm, QuerySmResp
from smsengine.smpp.receipt import STAT_FOR_STATE

log = structlog.get_logger("smsengine.pool")

_SUBMIT_SM = int(CommandId.SUBMIT_SM)
_RECEIPT = int(EsmClass.DELIVERY_RECEIPT)
_OK, _THROTTLED, _TRANSIENT = SubmitVerdict.OK, SubmitVerdict.THROTTLED, SubmitVerdict.TRANSIENT
# a parked receipt's deliver_sm_resp waits at most this long for its submit_sm_resp, and at most
# this many wait (an SMSC's deliver window is usually far smaller)
PARKED_ACK_S = 2.0
MAX_PARKED_ACKS = 10_000
MODES = {"transceiver": (BindMode.TRANSCEIVER,), "transmitter_receiver": (BindMode.TRANSMITTER, BindMode.RECEIVER)}


class CarrierPool(CarrierLink):
    """All binds to one carrier. Implements the dispatcher's `Link` and the binds' `BindOwner`."""

    def __init__(self, config: CarrierConfig, events: LinkEvents, rotor: ReferenceRotor,
                 when_durable: Callable[[Callable[[], None]], None] | None = None) -> None:
        super().__init__(config, rotor)
        # deliver_sm is answered once what it told us is committed (a crash before that makes the
        # SMSC deliver it again); without a store to wait for, at once
        self.when_durable = when_durable if config.receipt_ack == "durable" else None
        self._acks: list[tuple[EsmeBind, bytes]] = []
        # answers to parked receipts (their submit_sm_resp was not handled yet, so nothing of them
        # is written): sent once that resp is, or after PARKED_ACK_S, by receipt key, oldest first
        self._parked_acks: dict[str, tuple[EsmeBind, bytes, float]] = {}
        self.events = events
        self.throttle_statuses = frozenset(config.throttle_statuses)
        self.transient_statuses = frozenset(config.transient_statuses)
        # submit_sm bodies up to the destination, regular and marketing, encoded once per carrier
        ton = 1 if config.source_addr.isdigit() else 5
        self.heads = (
            submit_sm_head("", ton, 0, config.source_addr, 1, 1),
            submit_sm_head(config.marketing_service_type, ton, 0, config.source_addr, 1, 1),
        )
        self.queue: deque[Job] = deque()
        self.binds: list[EsmeBind] = []
        self.replies = ReplyAssembler()
        self.stats = LinkStats()
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._rr = 0

    # -- Link: what the dispatcher drives ------------------------------------------------------------
    def submit_many(self, jobs: Iterable[Job], front: bool = False) -> None:
        if front:
            self.queue.extendleft(reversed(list(jobs)))
        else:
            self.queue.extend(jobs)
        self.pump()

    def pump(self) -> None:
        """Round-robin over the binds that can take more, so no one bind carries it all."""
        binds = [b for b in self.binds if b.ready]
        if not binds:
            return
        n = len(binds)
        start = self._rr = (self._rr + 1) % n
        for i in range(n):
            if not self.queue:
                break
            binds[(start + i) % n].flush()

    def discard_final(self) -> None:
        queue = self.queue
        if any(job.inflight.final for job in queue):
            kept = []
            for job in queue:
                if job.inflight.final:
                    self.skipped(job)
                else:
                    kept.append(job)
            queue.clear()
            queue.extend(kept)

    async def query_state(self, message_id: str) -> tuple[str, str] | None:
        for bind in self.binds:
            if bind.bound and bind.can_submit:
                try:
                    resp = await bind.request(QuerySm(message_id=message_id), "query", self.config.response_timeout_s)
                except (asyncio.TimeoutError, ConnectionError):
                    return None
                if not isinstance(resp, QuerySmResp) or resp.command_status:
                    return None
                stat = STAT_FOR_STATE.get(resp.message_state, "")  # type: ignore[call-overload]
                return (stat, f"{resp.error_code:03d}") if stat else None
        return None

    # -- BindOwner: what the binds report ------------------------------------------------------------
    def fill(self, bind: EsmeBind, out: list[bytes]) -> None:
        queue = self.queue
        if not queue:
            return
        now = time.monotonic()
        if bind.paused_until:
            if now < bind.paused_until:
                return
            bind.paused_until = 0.0
        session = bind.session
        room = self.config.window - session.outstanding_count
        send = session.send_encoded
        regular, marketing = self.heads
        while room > 0 and queue:
            job = queue[0]  # taken off the queue only once its PDU is written to `out`
            flight = job.inflight
            if flight.final or job.seq in flight.submitted:  # not job.wanted: a call per PDU
                queue.popleft()
                self.skipped(job)
                continue
            record = flight.record
            head = marketing if record.type == "marketing" else regular
            try:
                body = submit_sm_body(head, record.phone[1:], flight.wire[job.seq - 1])  # type: ignore[index]
            except PduEncodeError:
                # a destination SMPP cannot carry: this message fails, the queue goes on
                queue.popleft()
                self.events.refused(self.name, job, CommandStatus.ESME_RINVDSTADR, False)
                continue
            out.append(send(_SUBMIT_SM, body, job, now))
            queue.popleft()
            room -= 1
        bind.last_traffic = now

    def skipped(self, job: Job) -> None:
        """A queued job left unsent: its message ended, or this part was accepted meanwhile."""

    def on_submit_resp(self, bind: EsmeBind, job: Job, status: int, message_id: str) -> None:
        if not status:
            key = self.resp_key(message_id)
            self.events.submitted(self.name, job, message_id, key)
            if self._parked_acks:
                parked = self._parked_acks.pop(key, None)
                if parked is not None:  # the receipt it was waiting for is recorded with it
                    self._ack_when_durable(parked[0], parked[1])
            return
        verdict = submit_verdict(status, self.throttle_statuses, self.transient_statuses)
        if verdict is _THROTTLED:
            self._throttled(bind, job)
        else:
            self.events.refused(self.name, job, status, verdict is _TRANSIENT)

    def on_unanswered(self, bind: EsmeBind, job: Job, reason: str) -> None:
        self.events.unanswered(self.name, job, reason)

    def on_deliver(self, pdu: DeliverSm) -> str | asyncio.Future | None:
        kind = pdu.esm_class & ESM_MESSAGE_TYPE_MASK
        if kind == _RECEIPT:
            self.stats.receipts += 1
            fields = receipt_fields(pdu)
            if fields is not None:
                message_id, stat, err = fields
                key = self.receipt_key(message_id)
                if not self.events.receipt(self.name, key, destination_tail(pdu.source_addr), stat, err):
                    return key  # parked: nothing of it is written yet
        elif is_reply(pdu):
            text = self.replies.text(pdu, time.monotonic())
            if text is not None:
                self.stats.replies += 1
                return self.events.reply(self.name, "+" + pdu.source_addr.lstrip("+"), text, True)
        # SME acknowledgements and intermediate notifications: nothing to record
        return None

    def acknowledge(self, bind: EsmeBind, ack: bytes, out: list[bytes], parked: str | asyncio.Future | None) -> None:
        if self.when_durable is None:
            out.append(ack)
            return
        if parked is None:
            self._ack_when_durable(bind, ack)
            return
        if isinstance(parked, asyncio.Future):  # a reply being recorded: then the commit
            parked.add_done_callback(lambda _: self._ack_when_durable(bind, ack))
            return
        waiting = self._parked_acks
        earlier = waiting.pop(parked, None)
        if earlier is not None:  # the SMSC repeated a receipt still parked: answer the first
            self._ack_when_durable(earlier[0], earlier[1])
        waiting[parked] = (bind, ack, time.monotonic())
        if len(waiting) > MAX_PARKED_ACKS:
            oldest_bind, oldest_ack, _ = waiting.pop(next(iter(waiting)))
            self._ack_when_durable(oldest_bind, oldest_ack)

    def _release_parked_acks(self, now: float) -> None:
        """Answer receipts parked longer than PARKED_ACK_S (ids we never sent, or whose resp was
        lost): holding them longer would only fill the SMSC's deliver window."""
        parked = self._parked_acks
        horizon = now - PARKED_ACK_S
        while parked:
            key = next(iter(parked))
            bind, ack, at = parked[key]
            if at > horizon:
                break
            del parked[key]
            self._ack_when_durable(bind, ack)

    def _ack_when_durable(self, bind: EsmeBind, ack: bytes) -> None:
        assert self.when_durable is not None
        acks = self._acks
        acks.append((bind, ack))
        if len(acks) == 1:  # one callback per commit, however many deliver_sm it covers
            self.when_durable(self._send_acks)

    def _send_acks(self) -> None:
        acks, self._acks = self._acks, []
        by_bind: dict[EsmeBind, list[bytes]] = {}
        for bind, ack in acks:
            chunks = by_bind.get(bind)
            if chunks is None:
                chunks = by_bind[bind] = []
            chunks.append(ack)
        for bind, chunks in by_bind.items():
            bind.write(chunks)  # a bind that closed meanwhile writes nothing: the SMSC delivers again

    def on_lost(self, bind: EsmeBind, jobs: list[Job]) -> None:
        if bind in self.binds:
            self.binds.remove(bind)
        self._binds_changed()
        if not self._stopping:
            log.info("carrier.bind_lost", carrier=self.name, mode=bind.mode.value)
        if not self.up and self.queue:
            jobs = [*jobs, *self.queue]  # nothing left to carry the queue either: fail over
            self.queue.clear()
        if jobs:
            # no answer came: these were possibly not received, so they go out again
            self.events.stranded(self.name, jobs)

    def on_handler_error(self, bind: EsmeBind, event: object) -> None:
        self.stats.handler_errors += 1
        log.exception("carrier.handler_error", carrier=self.name, pdu=type(event).__name__)

    def _throttled(self, bind: EsmeBind, job: Job) -> None:
        """ESME_RTHROTTLED: this bind pauses, and the throttled PDU goes out first afterwards."""
        self.stats.throttled += 1
        now = time.monotonic()
        if not job.throttled_at:
            job.throttled_at = now
        if now - job.throttled_at > self.config.throttle_budget_s:
            self.events.throttled_too_long(self.name, job, now - job.throttled_at)
        elif not job.inflight.final:
            self.queue.appendleft(job)
        else:
            self.skipped(job)
        bind.paused_until = now + self.config.throttle_pause_s
        if not bind.resume_pending:
            bind.resume_pending = True
            asyncio.get_running_loop().call_later(self.config.throttle_pause_s, self._resume, bind)

    def _resume(self, bind: EsmeBind) -> None:
        """One timer per paused bind, re-armed while later throttle answers extend the pause."""
        left = bind.paused_until - time.monotonic()
        if left > 0:
            asyncio.get_running_loop().call_later(left, self._resume, bind)
            return
        bind.resume_pending = False
        self.pump()

    # -- gauges ----------------------------------------------------------------------------------------
    def window_used(self) -> int:
        return sum(b.session.outstanding_count for b in self.binds if b.bound)

    def binds_up(self) -> int:
        return sum(1 for b in self.binds if b.bound)

    def queued(self) -> int:
        return len(self.queue)

    def state(self, now: float, index: int = 0) -> CarrierState:
        """Gauges, counters and each bind (up or not, window in use, paused by throttling,
        keepalive, idle) as metrics and the console show them; `index` names the carrier."""
        binds = [BindState(b.index, b.mode.name.lower(), b.bound, b.session.outstanding_count if b.bound else 0,
                           round(b.paused_until - now, 3) if b.paused_until > now else 0.0, b.enquire_pending,
                           round(now - b.last_traffic, 1)) for b in self.binds]
        return CarrierState(index, self.up, self.binds_up(), self.window_used(), len(self.queue), binds,
                            self.stats.counters())

    def _binds_changed(self) -> None:
        self.up = any(b.bound and b.can_submit for b in self.binds)

    # -- bind lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        for i in range(self.config.binds):
            for mode in MODES[self.config.bind_mode]:
                self._tasks.append(asyncio.get_running_loop().create_task(
                    self._maintain(mode, i), name=f"bind-{self.name}-{mode.value}{i}"))

    async def wait_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.up and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.up

    async def _maintain(self, mode: BindMode, index: int) -> None:
        cfg = self.config
        backoff = cfg.reconnect_min_s
        loop = asyncio.get_running_loop()
        while not self._stopping:
            bind: EsmeBind | None = None
            try:
                async with asyncio.timeout(cfg.response_timeout_s):
                    _, bind = await loop.create_connection(lambda: EsmeBind(self, mode, index), cfg.host, cfg.port)
                status = await bind.bind(mode, cfg.system_id, cfg.password, cfg.system_type, cfg.response_timeout_s)
                if status:
                    self.stats.bind_failures += 1
                    log.warning("carrier.bind_refused", carrier=self.name, status=status)
                    raise ConnectionError(f"bind refused: {status:#x}")
                self.binds.append(bind)
                self._binds_changed()
                backoff = cfg.reconnect_min_s
                log.info("carrier.bound", carrier=self.name, mode=mode.value, index=index)
                self.pump()
                await self._keepalive(bind)
            except (OSError, ConnectionError, asyncio.TimeoutError) as exc:
                log.info("carrier.bind_failed", carrier=self.name, mode=mode.value, error=repr(exc))
            except Exception:
                # a bug in the upkeep of one bind must not end its slot: log it, reconnect
                self.stats.handler_errors += 1
                log.exception("carrier.bind_upkeep_error", carrier=self.name, mode=mode.value)
            finally:
                if bind is not None:
                    bind.close()
                    if bind in self.binds:
                        self.binds.remove(bind)
                    self._binds_changed()
            if self._stopping:
                break
            self.stats.reconnects += 1
            await asyncio.sleep(backoff * (0.5 + random.random()))  # jitter: binds do not stampede
            backoff = min(cfg.reconnect_max_s, backoff * 2)

    async def _keepalive(self, bind: EsmeBind) -> None:
        """enquire_link when quiet, response timeouts, silent peers and the idle refresh."""
        cfg = self.config
        tick = min(1.0, cfg.response_timeout_s / 4, cfg.enquire_link_s / 2)
        while not bind.closed.done():
            try:
                async with asyncio.timeout(tick):  # not wait_for: see lifecycle.wait_event
                    await asyncio.shield(bind.closed)
                return
            except TimeoutError:
                pass
            now = time.monotonic()
            unanswered = False
            for _, entry in bind.session.expire(now, cfg.response_timeout_s):
                ctx = entry.context
                if isinstance(ctx, Control):
                    ctx.fail(asyncio.TimeoutError())
                    if ctx.kind == "enquire_link":
                        log.warning("carrier.enquire_link_timeout", carrier=self.name)
                        bind.close()
                elif ctx is not None:
                    unanswered = True
                    self.events.unanswered(self.name, ctx, "no submit_sm_resp in time")
            if unanswered and bind.bound:
                # submits went unanswered: a hung SMSC (or one dropping our PDUs) is told from a
                # slow one by an enquire_link, which closes the bind if it too goes unanswered —
                # within two response timeouts instead of the next quiet-time enquire_link
                bind.enquire(now)
            if now - bind.last_rx > cfg.response_timeout_s + cfg.enquire_link_s:
                log.warning("carrier.silent_peer", carrier=self.name)
                bind.close()
            elif now - bind.last_traffic > cfg.idle_refresh_s:
                # no messages either way for a while: rebind before a NAT or firewall on the
                # path forgets the connection and the next submit goes into the void
                log.info("carrier.idle_refresh", carrier=self.name)
                bind.close()
            elif now - max(bind.last_tx, bind.last_rx) > cfg.enquire_link_s:
                bind.enquire(now)
            if bind.paused_until and now >= bind.paused_until:
                bind.flush()
            if self._parked_acks:
                self._release_parked_acks(now)
            if self.replies.pending():
                for source, text in self.replies.expire(now, cfg.reply_parts_timeout_s):
                    self.stats.replies += 1
                    self.events.reply(self.name, "+" + source.lstrip("+"), text, False)

    async def drain(self, timeout: float) -> None:
        """Wait for the queue to empty and every window to be answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self.queue or self.window_used()) and self.up:
            await asyncio.sleep(0.02)

    async def abort(self) -> None:
        """Drop every bind at once, as a crash would: no drain, no unbind, no reconnect."""
        self._stopping = True
        for bind in list(self.binds):
            bind.abort()
        await cancel_tasks(*self._tasks)
        self._tasks.clear()

    async def stop(self) -> None:
        self._stopping = True
        for bind in list(self.binds):
            await bind.unbind(1.0)
            bind.close()
        await cancel_tasks(*self._tasks)
        self._tasks.clear()


class PoolLinks:
    """Every carrier's binds on the engine's own loop: one `CarrierPool` each, started, drained
    and stopped together. `ProcessLinks` (engine/remote_link.py) is the same set of carriers with
    the binds in the carrier process; the Engine drives either through these methods."""

    restarts = 0  # nothing to restart: the pools live and die with the engine

    def __init__(self, carriers: list[CarrierConfig], events: LinkEvents, rotor: ReferenceRotor,
                 when_durable: Callable[[Callable[[], None]], None] | None = None) -> None:
        self.links = [CarrierPool(c, events, rotor, when_durable) for c in carriers]

    def start(self) -> None:
        for pool in self.links:
            pool.start()

    async def wait_up(self, timeout: float) -> bool:
        return all(await asyncio.gather(*(pool.wait_up(timeout) for pool in self.links)))

    def ended(self, message_id: int) -> None:
        """Nothing to do: a pool skips a job whose message ended when a window slot would take it."""

    async def drain(self, timeout: float) -> None:
        await asyncio.gather(*(pool.drain(timeout) for pool in self.links))

    async def stop(self) -> None:
        for pool in self.links:
            await pool.stop()

    async def abort(self) -> None:
        """Drop every bind at once, as a crash would."""
        for pool in self.links:
            await pool.abort()
