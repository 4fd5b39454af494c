"""The carrier pool: persistent SMPP binds per carrier, each a thin asyncio shell over the
sans-I/O session, pumping segment jobs from the carrier's queue through its send window."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from typing import TYPE_CHECKING

import structlog

from smsengine.config import CarrierConfig
from smsengine.domain import gsm7
from smsengine.domain.concatenation import ConcatMethod, parse_udh
from smsengine.smpp.codec import submit_sm_head
from smsengine.smpp.constants import ESM_MESSAGE_TYPE_MASK, CommandId, CommandStatus, EsmClass, Tag
from smsengine.smpp.message_id import MessageIdFormat
from smsengine.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    EnquireLink,
    GenericNack,
    Pdu,
    QuerySm,
    QuerySmResp,
    SubmitSmResp,
    Unbind,
    response_to,
)
from smsengine.smpp.receipt import STAT_FOR_STATE, parse_receipt
from smsengine.smpp.session import ProtocolError, Response, Role, Session
from smsengine.engine.lifecycle import cancel_tasks

if TYPE_CHECKING:
    from smsengine.engine.dispatcher import Dispatcher, Job

log = structlog.get_logger("smsengine.carrier")

_THROTTLED = CommandStatus.ESME_RTHROTTLED
_SUBMIT_SM = int(CommandId.SUBMIT_SM)


def _same(message_id: str) -> str:
    return message_id
_MO_PARTS_MAX = 10_000


class _Control:
    """Context of our own non-submit requests (bind, enquire_link, unbind, query_sm)."""

    __slots__ = ("kind", "future")

    def __init__(self, kind: str, future: asyncio.Future | None = None) -> None:
        self.kind = kind
        self.future = future


class EsmeBind(asyncio.Protocol):
    """One SMPP connection of ours to a carrier."""

    def __init__(self, link: CarrierLink, mode: str, index: int) -> None:
        self.link = link
        self.mode = mode  # "trx" | "tx" | "rx"
        self.index = index
        # lenient: a carrier's over-long address in a receipt must not cost us the receipt
        self.session = Session(Role.ESME, lenient=True)
        self.transport: asyncio.Transport | None = None
        self.bound = False
        self.closed = asyncio.get_running_loop().create_future()
        self.paused_until = 0.0
        self.writable = True
        self.last_rx = time.monotonic()
        self.last_tx = time.monotonic()
        self.last_traffic = time.monotonic()  # last submit or deliver: what "idle" means
        self._pump_scheduled = False

    @property
    def can_submit(self) -> bool:
        return self.mode != "rx"

    # -- asyncio.Protocol --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.bound = False
        pending = self.session.close()
        jobs = [entry.context for _, entry in pending if not isinstance(entry.context, _Control)]
        for _, entry in pending:
            if isinstance(entry.context, _Control) and entry.context.future and not entry.context.future.done():
                entry.context.future.set_exception(ConnectionError("connection lost"))
        if jobs:
            # no answer came: these were possibly not received, so they go out again
            self.link.dispatcher.requeue(jobs)
        if not self.closed.done():
            self.closed.set_result(exc)
        self.link.bind_down(self)

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        self.pump()

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        out: list[bytes] = []
        closing = self._handle(self.session.receive_data(data), out)
        if closing:
            if out:
                self._write(out)
            self.close()
            return
        self.pump(out)  # freed window slots and our answers leave in one write

    def _handle(self, events: list, out: list[bytes]) -> bool:
        """Act on the session's events; True when the connection must close."""
        handle = self._handle_one
        for event in events:
            try:
                if handle(event, out):
                    return True
            except Exception:
                # a bug in our own handling must not take the bind (and its window) down:
                # log it, skip that one event, and go on with the rest
                self.link.handler_errors += 1
                log.exception("carrier.handler_error", carrier=self.link.name, event=type(event).__name__)
        return False

    def _handle_one(self, event, out: list[bytes]) -> bool:
        dispatcher = self.link.dispatcher
        session = self.session
        if type(event) is Response:
            pdu = event.pdu
            ctx = event.context
            if type(pdu) is SubmitSmResp or (type(pdu) is GenericNack and not isinstance(ctx, _Control)):
                if ctx is None:
                    return False
                status = pdu.command_status
                if status == _THROTTLED or status in self.link.throttle_statuses:
                    self.throttled(ctx)
                else:
                    dispatcher.submit_resp(self.link, ctx, status, getattr(pdu, "message_id", ""))
            elif isinstance(ctx, _Control) and ctx.future is not None and not ctx.future.done():
                ctx.future.set_result(pdu)
        elif type(event) is DeliverSm:
            self.last_traffic = self.last_rx
            out.append(session.acknowledge(event))
            self.link.deliver(event)
        elif type(event) is ProtocolError:
            if event.reply:
                out.append(event.reply)
            if event.context is not None and not isinstance(event.context, _Control):
                dispatcher.retry(self.link, event.context, f"malformed response: {event.error}")
            if event.fatal:
                return True
        elif type(event) is EnquireLink:
            out.append(session.send(response_to(event)))
        elif type(event) is Unbind:
            out.append(session.send(response_to(event)))
            return True
        elif isinstance(event, Pdu) and not event.is_response:
            # data_sm, alert_notification, outbind: answer politely, nothing to do
            try:
                out.append(session.send(response_to(event)))
            except Exception:
                pass
        return False

    # -- sending -----------------------------------------------------------------------------------
    def _write(self, chunks: list[bytes]) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(chunks) if len(chunks) > 1 else chunks[0])
            self.last_tx = time.monotonic()

    def throttled(self, job: Job) -> None:
        """ESME_RTHROTTLED: this bind pauses, and the throttled PDU goes out first afterwards."""
        self.link.throttled_count += 1
        if not job.inflight.final:
            self.link.queue.appendleft(job)
        pause = self.link.config.throttle_pause_s
        self.paused_until = time.monotonic() + pause
        if not self._pump_scheduled:
            self._pump_scheduled = True
            asyncio.get_running_loop().call_later(pause, self._resume)

    def _resume(self) -> None:
        self._pump_scheduled = False
        self.link.pump()

    def pump(self, out: list[bytes] | None = None) -> None:
        """Fill the send window from the carrier queue; everything (and `out`) in one write."""
        out = out if out is not None else []
        queue = self.link.queue
        if not (self.bound and self.can_submit and self.writable and queue) or (
            self.paused_until and time.monotonic() < self.paused_until
        ):
            if out:
                self._write(out)
            return
        session = self.session
        cfg = self.link.config
        room = cfg.window - session.outstanding_count
        now = time.monotonic()
        send = session.send_encoded
        regular, marketing = self.link.heads
        while room > 0 and queue:
            job = queue.popleft()
            flight = job.inflight
            if flight.final or job.seq in flight.submitted:
                continue
            record = flight.record
            body = (marketing if record.type == "marketing" else regular) + record.phone[1:].encode() + b"\0"
            out.append(send(_SUBMIT_SM, body + flight.wire[job.seq - 1], job, now))  # type: ignore[index]
            room -= 1
        self.last_traffic = now
        if out:
            self._write(out)

    async def request(self, pdu: Pdu, kind: str, timeout: float) -> Pdu:
        future = asyncio.get_running_loop().create_future()
        self._write([self.session.send(pdu, _Control(kind, future), time.monotonic())])
        return await asyncio.wait_for(future, timeout)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class CarrierLink:
    """All binds to one carrier, its queue of segment jobs, and its receipts and MO traffic."""

    def __init__(self, config: CarrierConfig, dispatcher: Dispatcher) -> None:
        self.config = config
        self.name = config.name
        self.dispatcher = dispatcher
        self.concat = ConcatMethod(config.concat)
        self.id_formats = config.message_ids
        self.throttle_statuses = frozenset(config.throttle_statuses)
        self.transient_statuses = frozenset(config.transient_statuses)
        # submit_sm bodies up to the destination, regular and marketing, encoded once per carrier
        ton = 1 if config.source_addr.isdigit() else 5
        self.heads = (
            submit_sm_head("", ton, 0, config.source_addr, 1, 1),
            submit_sm_head(config.marketing_service_type, ton, 0, config.source_addr, 1, 1),
        )
        # ids kept as given cost nothing to normalise: skip the call on the hot path
        plain = MessageIdFormat()
        self.resp_key = _same if config.message_ids.submit_resp == plain else config.message_ids.resp_key
        self.receipt_key = _same if config.message_ids.receipt == plain else config.message_ids.receipt_key
        self.queue: deque[Job] = deque()
        self.binds: list[EsmeBind] = []
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self.throttled_count = 0
        self.handler_errors = 0
        self.bind_failures = 0
        self.reconnects = 0
        self.receipts = 0
        self.mo_messages = 0
        self._mo_parts: dict[tuple[str, int], dict[int, str]] = {}
        self._rr = 0
        self.up = False  # some bind can submit; kept current as binds come and go

    def _binds_changed(self) -> None:
        self.up = any(b.bound and b.can_submit for b in self.binds)

    def throttled(self, job: Job) -> None:
        """A throttle signalled outside a bind's own response path (e.g. generic_nack)."""
        binds = [b for b in self.binds if b.bound and b.can_submit]
        if binds:
            binds[0].throttled(job)
        else:
            self.queue.appendleft(job)

    def window_used(self) -> int:
        return sum(b.session.outstanding_count for b in self.binds if b.bound)

    # -- jobs ----------------------------------------------------------------------------------------
    def submit_many(self, jobs: list[Job], front: bool = False) -> None:
        if front:
            self.queue.extendleft(reversed(jobs))
        else:
            self.queue.extend(jobs)
        self.pump()

    def pump(self) -> None:
        binds = [b for b in self.binds if b.bound and b.can_submit]
        if not binds:
            return
        n = len(binds)
        start = self._rr = (self._rr + 1) % n
        for i in range(n):
            if not self.queue:
                break
            binds[(start + i) % n].pump()

    # -- inbound -------------------------------------------------------------------------------------
    def deliver(self, pdu: DeliverSm) -> None:
        kind = pdu.esm_class & ESM_MESSAGE_TYPE_MASK
        if kind and kind != EsmClass.DELIVERY_RECEIPT:
            return  # SME acknowledgements, intermediate notifications: nothing to record
        if kind:
            self.receipts += 1
            tlvs = pdu.tlvs
            text = pdu.short_message.decode("latin-1") if pdu.short_message else ""
            receipt = parse_receipt(text) if text else None
            message_id = tlvs.get(Tag.RECEIPTED_MESSAGE_ID) or (receipt.id if receipt else "")
            stat = receipt.stat if receipt and receipt.stat else ""
            if not stat and Tag.MESSAGE_STATE in tlvs:
                stat = STAT_FOR_STATE.get(tlvs[Tag.MESSAGE_STATE], "UNKNOWN")  # type: ignore[call-overload]
            err = receipt.err if receipt else ""
            if message_id and stat:
                self.dispatcher.receipt(self, str(message_id), stat, err or "000")
            return
        text = self._mo_text(pdu)
        if text is not None:
            self.mo_messages += 1
            self.dispatcher.mo(self, "+" + pdu.source_addr.lstrip("+"), text)

    def _mo_text(self, pdu: DeliverSm) -> str | None:
        """The text of a mobile-originated message; None while parts of a long one are missing."""
        data = pdu.short_message or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")  # type: ignore[assignment]
        if not isinstance(data, bytes):
            data = b""
        header = parse_udh(data) if pdu.esm_class & 0x40 else None
        body = header[3] if header else data
        text = body.decode("utf-16-be", "replace") if pdu.data_coding == 8 else gsm7.decode(body)
        if header is None:
            return text
        ref, total, seq, _ = header
        key = (pdu.source_addr, ref)
        if len(self._mo_parts) > _MO_PARTS_MAX:
            self._mo_parts.pop(next(iter(self._mo_parts)))
        parts = self._mo_parts.setdefault(key, {})
        parts[seq] = text
        if len(parts) < total:
            return None
        del self._mo_parts[key]
        return "".join(parts[i] for i in sorted(parts))

    # -- bind lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        modes = ["trx"] if self.config.bind_mode == "transceiver" else ["tx", "rx"]
        for i in range(self.config.binds):
            for mode in modes:
                self._tasks.append(asyncio.create_task(self._maintain(mode, i), name=f"bind-{self.name}-{mode}{i}"))

    async def wait_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.up:
                return True
            await asyncio.sleep(0.02)
        return self.up

    async def _maintain(self, mode: str, index: int) -> None:
        cfg = self.config
        backoff = cfg.reconnect_min_s
        loop = asyncio.get_running_loop()
        while not self._stopping:
            bind: EsmeBind | None = None
            try:
                _, bind = await asyncio.wait_for(
                    loop.create_connection(lambda: EsmeBind(self, mode, index), cfg.host, cfg.port),
                    timeout=cfg.response_timeout_s,
                )
                pdu_cls = {"trx": BindTransceiver, "tx": BindTransmitter, "rx": BindReceiver}[mode]
                resp = await bind.request(
                    pdu_cls(system_id=cfg.system_id, password=cfg.password, system_type=cfg.system_type),
                    "bind", cfg.response_timeout_s,
                )
                if resp.command_status != 0:
                    self.bind_failures += 1
                    log.warning("carrier.bind_refused", carrier=self.name, status=resp.command_status)
                    bind.close()
                    raise ConnectionError(f"bind refused: {resp.command_status:#x}")
                bind.bound = True
                self.binds.append(bind)
                self._binds_changed()
                backoff = cfg.reconnect_min_s
                log.info("carrier.bound", carrier=self.name, mode=mode, index=index)
                self.dispatcher.link_up(self)
                bind.pump()
                await self._keepalive(bind)
            except (OSError, ConnectionError, asyncio.TimeoutError) as exc:
                log.info("carrier.bind_failed", carrier=self.name, mode=mode, error=repr(exc))
            finally:
                if bind is not None:
                    bind.close()
                    if bind in self.binds:
                        self.binds.remove(bind)
                    self._binds_changed()
            if self._stopping:
                break
            self.reconnects += 1
            await asyncio.sleep(backoff * (0.5 + random.random()))  # jitter: binds do not stampede
            backoff = min(cfg.reconnect_max_s, backoff * 2)

    async def _keepalive(self, bind: EsmeBind) -> None:
        """enquire_link when quiet, response timeouts, and the 90 s idle refresh."""
        cfg = self.config
        tick = min(1.0, cfg.response_timeout_s / 4, cfg.enquire_link_s / 2)
        while not bind.closed.done():
            try:
                await asyncio.wait_for(asyncio.shield(bind.closed), timeout=tick)
                return
            except asyncio.TimeoutError:
                pass
            now = time.monotonic()
            for seq, entry in bind.session.expire(now, cfg.response_timeout_s):
                ctx = entry.context
                if isinstance(ctx, _Control):
                    if ctx.future is not None and not ctx.future.done():
                        ctx.future.set_exception(asyncio.TimeoutError())
                    if ctx.kind == "enquire_link":
                        log.warning("carrier.enquire_link_timeout", carrier=self.name)
                        bind.close()
                else:
                    self.dispatcher.retry(self, ctx, "no submit_sm_resp in time")
            if now - bind.last_rx > cfg.response_timeout_s + cfg.enquire_link_s:
                log.warning("carrier.silent_peer", carrier=self.name)
                bind.close()
            elif now - bind.last_traffic > cfg.idle_refresh_s:
                # no messages either way for a while: rebind before a NAT or firewall on the
                # path forgets the connection and the next submit goes into the void
                log.info("carrier.idle_refresh", carrier=self.name)
                bind.close()
            elif now - max(bind.last_tx, bind.last_rx) > cfg.enquire_link_s:
                bind._write([bind.session.send(EnquireLink(), _Control("enquire_link"), now)])
            if bind.paused_until and now >= bind.paused_until:
                bind.paused_until = 0.0
                bind.pump()

    def bind_down(self, bind: EsmeBind) -> None:
        if bind in self.binds:
            self.binds.remove(bind)
        self._binds_changed()
        if not self._stopping:
            log.info("carrier.bind_lost", carrier=self.name, mode=bind.mode)
        if not self.up and self.queue:
            # nothing left to carry these: let the dispatcher fail over
            jobs = list(self.queue)
            self.queue.clear()
            self.dispatcher.requeue(jobs)

    async def query(self, message_id: str) -> QuerySmResp | None:
        for bind in self.binds:
            if bind.bound and bind.can_submit:
                try:
                    resp = await bind.request(QuerySm(message_id=message_id), "query", self.config.response_timeout_s)
                except (asyncio.TimeoutError, ConnectionError):
                    return None
                return resp if isinstance(resp, QuerySmResp) else None
        return None

    async def drain(self, timeout: float) -> None:
        """Wait for the queue to empty and every window to be answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self.queue or self.window_used()) and self.up:
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._stopping = True
        for bind in list(self.binds):
            if bind.bound:
                try:
                    await bind.request(Unbind(), "unbind", 1.0)
                except Exception:
                    pass
            bind.close()
        await cancel_tasks(*self._tasks)
        self._tasks.clear()
