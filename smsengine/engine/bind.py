"""One SMPP connection of ours to a carrier: a thin asyncio shell over the sans-I/O Session.

It owns the socket and the session, answers what the protocol itself requires (enquire_link,
unbind, deliver_sm acknowledgements, requests we do not use) and hands everything about traffic
to its owner, the carrier pool, through `BindOwner`."""

from __future__ import annotations

import asyncio
import enum
import time
from typing import Any, Protocol

import structlog

from smsengine.smpp import PeerError, Response, Role, Session
from smsengine.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    EnquireLink,
    GenericNack,
    Pdu,
    SubmitSmResp,
    Unbind,
    response_class,
    response_to,
)

log = structlog.get_logger("smsengine.bind")


class BindMode(enum.Enum):
    """SMPP's own three names for what a bind may do."""

    TRANSCEIVER = "transceiver"
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"


BIND_REQUEST = {BindMode.TRANSCEIVER: BindTransceiver, BindMode.TRANSMITTER: BindTransmitter,
                BindMode.RECEIVER: BindReceiver}


class Control:
    """Context of our own non-submit requests (bind, enquire_link, unbind, query_sm)."""

    __slots__ = ("kind", "future")

    def __init__(self, kind: str, future: asyncio.Future | None = None) -> None:
        self.kind = kind
        self.future = future

    def fail(self, exc: BaseException) -> None:
        if self.future is not None and not self.future.done():
            self.future.set_exception(exc)


class BindOwner(Protocol):
    """What a bind reports to, and asks of, its carrier pool. `job` is the context the pool gave
    with the submit_sm; anything that is not a `Control`."""

    def on_submit_resp(self, bind: EsmeBind, job: Any, status: int, message_id: str) -> None: ...
    def on_unanswered(self, bind: EsmeBind, job: Any, reason: str) -> None: ...
    def on_deliver(self, pdu: DeliverSm) -> str | asyncio.Future | None:
        """Act on a deliver_sm; returns the key of a receipt parked for its submit_sm_resp, or a
        future done once a reply it carried is recorded."""
    def acknowledge(self, bind: EsmeBind, ack: bytes, out: list[bytes], parked: str | asyncio.Future | None) -> None:
        """Send a deliver_sm_resp now (append to `out`) or once what on_deliver recorded is durable
        (`parked`: once that receipt's submit_sm_resp is, or that reply is recorded)."""
    def on_lost(self, bind: EsmeBind, jobs: list[Any]) -> None: ...
    def on_handler_error(self, bind: EsmeBind, event: object) -> None: ...
    def fill(self, bind: EsmeBind, out: list[bytes]) -> None:
        """Append submit_sm PDUs for the bind's free window slots to `out`."""


class EsmeBind(asyncio.Protocol):
    def __init__(self, owner: BindOwner, mode: BindMode, index: int) -> None:
        self.owner = owner
        self.mode = mode
        self.index = index
        # lenient: a carrier's over-long address in a receipt must not cost us the receipt
        self.session = Session(Role.ESME, lenient=True)
        self.transport: asyncio.Transport | None = None
        self.bound = False
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.paused_until = 0.0  # throttled: no submits before this (monotonic)
        self.resume_pending = False  # a timer will pump this bind when the pause ends
        self.enquire_pending = False  # an enquire_link of ours awaits its answer
        self.writable = True
        self.answering = True  # requests in the read being handled can still be answered
        now = time.monotonic()
        self.last_rx = now
        self.last_tx = now
        self.last_traffic = now  # last submit or deliver: what "idle" means

    @property
    def can_submit(self) -> bool:
        return self.mode is not BindMode.RECEIVER

    @property
    def ready(self) -> bool:
        """Bound, able to submit, and the socket accepts more."""
        return self.bound and self.writable and self.mode is not BindMode.RECEIVER

    # -- asyncio.Protocol --------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.bound = False
        jobs = []
        for _, entry in self.session.close():
            if isinstance(entry.context, Control):
                entry.context.fail(ConnectionError("connection lost"))
            elif entry.context is not None:
                jobs.append(entry.context)
        if not self.closed.done():
            self.closed.set_result(exc)
        self.owner.on_lost(self, jobs)

    def pause_writing(self) -> None:
        # an SMSC that does not read what we send (our answers to its deliver_sm) is not read
        # either until it does: our write buffer cannot grow without bound (the silent-peer check
        # closes a peer that stays that way)
        self.writable = False
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.writable = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        self.flush()

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        out: list[bytes] = []
        if self._handle(self.session.receive_data(data), out):
            if out:
                self.write(out)
            self.close()
            return
        self.flush(out)  # freed window slots and our answers leave in one write

    def _handle(self, events: list, out: list[bytes]) -> bool:
        """Act on the session's events; True when the connection must close. Every event of a
        read is acted on, even after one that closes: a submit_sm_resp read after an unbind or
        before a broken frame still says the carrier accepted that segment."""
        handle = self._handle_one
        # a broken frame closes the session at once: the requests read before it cannot be
        # answered any more (the SMSC delivers them again), but what they say still counts
        self.answering = not (events and type(events[-1]) is PeerError and events[-1].fatal)
        close = False
        for event in events:
            try:
                if handle(event, out):
                    close = True
                    self.answering = False  # after an unbind or a broken frame: nothing more goes out
            except Exception:
                # a bug in handling one event must not take the bind (and its window) down
                self.owner.on_handler_error(self, event)
        return close

    def _handle_one(self, event: object, out: list[bytes]) -> bool:
        kind = type(event)
        if kind is Response:
            pdu = event.pdu  # type: ignore[attr-defined]
            ctx = event.context  # type: ignore[attr-defined]
            if isinstance(ctx, Control):
                if ctx.kind == "enquire_link":
                    self.enquire_pending = False
                if ctx.future is not None and not ctx.future.done():
                    ctx.future.set_result(pdu)
            elif ctx is not None and (type(pdu) is SubmitSmResp or type(pdu) is GenericNack):
                self.owner.on_submit_resp(self, ctx, pdu.command_status, getattr(pdu, "message_id", ""))
        elif kind is DeliverSm:
            self.last_traffic = self.last_rx
            ack = self.session.acknowledge(event) if self.answering else None  # type: ignore[arg-type]
            parked = None
            try:
                parked = self.owner.on_deliver(event)  # type: ignore[arg-type]
            finally:  # answered even if handling it failed: a bug of ours must not jam the SMSC's window
                if ack is not None:
                    self.owner.acknowledge(self, ack, out, parked)
        elif kind is PeerError:
            if event.reply:  # type: ignore[attr-defined]
                out.append(event.reply)  # type: ignore[attr-defined]
            ctx = event.context  # type: ignore[attr-defined]
            if ctx is not None and not isinstance(ctx, Control):
                self.owner.on_unanswered(self, ctx, f"malformed response: {event.error}")  # type: ignore[attr-defined]
            if event.fatal:  # type: ignore[attr-defined]
                self.bound = False
                return True
            return False
        elif kind is EnquireLink:
            if self.answering:
                out.append(self.session.send(response_to(event)))  # type: ignore[arg-type]
        elif kind is Unbind:
            self.bound = False  # nothing more goes out on it, even in this loop tick
            if self.answering:
                out.append(self.session.send(response_to(event)))  # type: ignore[arg-type]
            return True
        elif isinstance(event, Pdu) and response_class(event.command_id) is not None:
            # data_sm and other requests we do not use: answer politely, nothing to do
            # (alert_notification and outbind have no response)
            if self.answering:
                out.append(self.session.send(response_to(event)))
        return False

    # -- sending -----------------------------------------------------------------------------------
    def write(self, chunks: list[bytes]) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(b"".join(chunks) if len(chunks) > 1 else chunks[0])
            self.last_tx = time.monotonic()

    def flush(self, out: list[bytes] | None = None) -> None:
        """Let the pool fill the free window slots, then write that and `out` together."""
        out = out if out is not None else []
        if self.ready:
            self.owner.fill(self, out)
        if out:
            self.write(out)

    async def request(self, pdu: Pdu, kind: str, timeout: float) -> Pdu:
        future = asyncio.get_running_loop().create_future()
        self.write([self.session.send(pdu, Control(kind, future), time.monotonic())])
        async with asyncio.timeout(timeout):
            return await future

    async def bind(self, mode: BindMode, system_id: str, password: str, system_type: str, timeout: float) -> int:
        """Send the bind request; returns its command_status (0: bound)."""
        pdu = BIND_REQUEST[mode](system_id=system_id, password=password, system_type=system_type)
        resp = await self.request(pdu, "bind", timeout)
        self.bound = resp.command_status == 0
        return resp.command_status

    def enquire(self, now: float) -> None:
        """Ask whether the peer is alive (at most one question outstanding)."""
        if not self.enquire_pending:
            self.enquire_pending = True
            self.write([self.session.send(EnquireLink(), Control("enquire_link"), now)])

    async def unbind(self, timeout: float) -> None:
        if self.bound and self.transport is not None and not self.transport.is_closing():
            self.bound = False  # no submit may follow our unbind
            try:
                await self.request(Unbind(), "unbind", timeout)
            except (asyncio.TimeoutError, ConnectionError):
                pass

    def close(self) -> None:
        self.bound = False
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once, as a network failure would."""
        self.bound = False
        if self.transport is not None:
            self.transport.abort()
