"""One simulated SMSC: an asyncio SMPP 3.4 server on the sans-I/O session, deciding through its Behaviour."""

from __future__ import annotations

import asyncio
import hmac
import struct
import time
from collections.abc import Sequence

import structlog

from smsengine.smpp import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    CancelSm,
    CancelSmResp,
    CommandId,
    CommandStatus,
    DataSm,
    DataSmResp,
    DeliverSmResp,
    DistributionList,
    EsmClass,
    EnquireLink,
    EnquireLinkResp,
    HEADER_SIZE,
    MessageState,
    Pdu,
    PeerError,
    QuerySm,
    QuerySmResp,
    ReferenceRotor,
    ReplaceSm,
    ReplaceSmResp,
    Response,
    Role,
    Session,
    State,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    UnsuccessSme,
    parse_part,
    response_to,
)

from carriers.admission import BindLockout, CloseReason, overdue
from carriers.behaviour import Behaviour, MoReply, SubmitContext, SubmitDecision
from carriers.clicks import Clicker
from carriers.config import CarrierProfile
from carriers.counters import CarrierCounters
from carriers.delivery import DeliveryRouter, Outgoing
from carriers.fates import Fate
from carriers.message_ids import MessageIdMaker
from carriers.messages import MessageRecord, MessageTable
from carriers.mo import mo_pdus
from carriers.receipts import ReceiptWriter
from carriers.submit_log import SubmitLog
from carriers.throttle import TokenBucket
from carriers.timers import TimerHeap

_S = CommandStatus
_log = structlog.get_logger("carriers")
_RECEIVING = (State.BOUND_RX, State.BOUND_TRX)
_DELIVER_RETRY_S = 1.0  # a deliver_sm answered with an error is offered again after this long
_DELIVER_SM = int(CommandId.DELIVER_SM)
_UDHI = int(EsmClass.UDHI)
_NO_TLVS: dict = {}  # shared by responses that carry none; never mutated
_LENGTH = struct.Struct(">I")
# What building a deliver_sm from a stored submit raises when the submit cannot be written back
# (a non-ASCII address, a field too long): UnicodeEncodeError and PduEncodeError are ValueErrors.
_UNWRITABLE = (ValueError, struct.error)


def smpp_time(wall: float) -> str:
    """SMPP absolute time "YYMMDDhhmmss000+" (tenths 0, UTC offset 00): query_sm_resp final_date."""
    return time.strftime("%y%m%d%H%M%S", time.localtime(wall)) + "000+"


class SmscConnection(asyncio.Protocol):
    """One ESME connection. PDUs in via the session; responses and deliver_sm out, one write per loop tick.

    Until it is bound, a connection's bytes go to the session one PDU at a time: a bind takes
    effect with its response, so the PDUs pipelined behind it in the same read must be judged
    after it (a submit_sm is then legal, a second bind is ESME_RALYBND). Once bound, every read
    goes to the session whole."""

    def __init__(self, server: CarrierServer) -> None:
        self.server = server
        self.session = Session(Role.SMSC)
        self.transport: asyncio.Transport | None = None
        self.system_id = ""
        self.late = 0  # accepted submits whose submit_sm_resp waits for its latency: the bind's window
        self.bound = False
        self.receiving = False
        self.peer = ""
        self.peer_host = ""
        self.opened_at = 0.0
        self.last_heard = 0.0
        self._unbound_bytes = b""  # the start of a PDU read before the bind (bounded by max_pdu_size)
        self._refusal_pending = False  # a refused bind whose answer waits for bind_failure_delay_s
        self._out: list[bytes] = []
        self._loop = server.loop
        self._handlers = {
            SubmitSm: self._submit,
            DeliverSmResp: self._ignore,
            EnquireLink: self._enquire_link,
            BindTransmitter: self._bind,
            BindReceiver: self._bind,
            BindTransceiver: self._bind,
            Unbind: self._unbind,
            QuerySm: self._query,
            CancelSm: self._cancel,
            ReplaceSm: self._replace,
            SubmitMulti: self._submit_multi,
            DataSm: self._data_sm,
            Response: self._response,
            PeerError: self._peer_error,
        }

    # ---- transport ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self.server
        if len(server.connections) >= server.max_connections:
            server.refuse_connection()
            transport.abort()
            return
        server.accepting_again()
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.peer_host = str(peer[0]) if peer else "?"
        self.opened_at = self.last_heard = self._loop.time()
        server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        server = self.server
        server.connections.discard(self)
        pending = self.session.close()
        self.transport = None
        self._out = []
        if self.bound:
            self.bound = False
            server.counters.active_binds -= 1
            _log.info("carrier.unbound", carrier=server.name, system_id=self.system_id, peer=self.peer)
        unacked = [entry.context for _, entry in pending if type(entry.context) is Outgoing]
        if self.receiving or unacked:
            self.receiving = False
            server.router.detach(self.system_id, self, unacked)

    def pause_writing(self) -> None:
        # an ESME that does not read our answers is not read either until it does: the write
        # buffer stays bounded (idle_timeout_s closes a peer that stays that way)
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _write(self, data: bytes) -> None:
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        out = self._out
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        self._out = []

    def drop(self) -> None:
        """Fault injection: the connection dies without unbind."""
        if self.transport is not None:
            self.server.counters.drops += 1
            _log.info("carrier.drop", carrier=self.server.name, system_id=self.system_id, peer=self.peer)
            self.transport.abort()

    def close_for(self, reason: CloseReason) -> None:
        """Close a connection that outstayed its welcome (see admission.overdue)."""
        if self.transport is None or self.transport.is_closing():
            return
        counters = self.server.counters
        if reason is CloseReason.BIND_TIMEOUT:
            counters.bind_timeouts += 1
        else:
            counters.idle_closes += 1
        _log.info("carrier.closed", carrier=self.server.name, reason=reason.value, system_id=self.system_id,
                  peer=self.peer)
        self._stop_receiving()
        self._flush()
        self.transport.close()

    def _stop_receiving(self) -> None:
        if self.receiving:
            self.receiving = False
            self.server.router.detach(self.system_id, self, [])

    def data_received(self, data: bytes) -> None:
        self.last_heard = self._loop.time()
        if self.bound:
            self._dispatch(self.session.receive_data(data))
        else:
            self._receive_unbound(data)

    def _receive_unbound(self, data: bytes) -> None:
        """Feed the session one whole PDU at a time until a bind takes effect, then the rest at once."""
        pending = self._unbound_bytes + data if self._unbound_bytes else data
        session = self.session
        pos, size = 0, len(pending)
        while size - pos >= 4:
            length = _LENGTH.unpack_from(pending, pos)[0]
            end = pos + length
            if length < HEADER_SIZE or length > session.max_pdu_size:
                end = size  # a broken frame: the session answers it and closes
            elif end > size:
                break
            self._dispatch(session.receive_data(pending[pos:end]))
            pos = end
            if self.transport is None or self.transport.is_closing():
                self._unbound_bytes = b""
                return
            if self.bound:
                self._unbound_bytes = b""
                if pos < size:
                    self._dispatch(session.receive_data(pending[pos:]))
                return
        self._unbound_bytes = pending[pos:]

    def _dispatch(self, events: list) -> None:  # type: ignore[type-arg]
        if events and type(events[-1]) is PeerError and events[-1].fatal:
            # A broken command_length ends the stream: the session is closed and cannot answer the
            # PDUs read before it, so only the generic_nack goes out (the ESME resubmits those).
            events = events[-1:]
        behaviour = self.server.behaviour
        pdu_faults = behaviour.pdu_faults
        handlers = self._handlers
        for event in events:
            if self.transport is None:
                return
            if pdu_faults and behaviour.drops_connection(self.system_id, False):
                self.drop()
                return
            handler = handlers.get(type(event))  # type: ignore[arg-type]
            if handler is not None:
                handler(event)
            else:
                self._reply(response_to(event, _S.ESME_RINVCMDID))  # type: ignore[arg-type]

    # ---- sending ----

    def _reply(self, pdu: Pdu) -> None:
        self._write(self.session.send(pdu))

    def _send_late(self, pdu: Pdu) -> None:
        self.late -= 1
        if self.transport is not None and self.session.is_bound:
            self._reply(pdu)

    def has_room(self) -> bool:
        return self.receiving and self.session.outstanding_count < self.server.deliver_window

    def room(self) -> int:
        return self.server.deliver_window - self.session.outstanding_count if self.receiving else 0

    def deliver(self, item: Outgoing) -> None:
        self.deliver_many((item,))

    def deliver_many(self, items: Sequence[Outgoing]) -> None:
        """Write a deliver_sm for each item, in order (the router checked `room`); a fresh sequence
        number each time, so a redelivery after a rebind is a new PDU."""
        out = self._out
        if not out:
            self._loop.call_soon(self._flush)
        send, now = self.session.send_encoded, self._loop.time()
        counters = self.server.counters
        receipts = counters.receipts
        for item in items:
            out.append(send(_DELIVER_SM, item.body, item, now))
            if item.stat is None:
                counters.mo_sent += 1
            else:
                receipts[item.stat] += 1

    def probe(self) -> None:
        self._write(self.session.send(EnquireLink(), None, self._loop.time()))

    # ---- requests ----

    def _peer_error(self, event: PeerError) -> None:
        server = self.server
        if event.reply:
            if event.reply[4:8] == b"\x80\x00\x00\x00":
                server.counters.generic_nacks += 1
            self._write(event.reply)
        if not event.fatal:
            _log.debug("carrier.bad_pdu", carrier=server.name, peer=self.peer, error=str(event.error))
            return
        # At most one of these per connection: it closes.
        _log.info("carrier.bad_pdu", carrier=server.name, peer=self.peer, error=str(event.error), fatal=True)
        if self.transport is not None:
            self._stop_receiving()  # the session is closed: no more deliver_sm through it
            self._flush()
            self.transport.close()

    def _ignore(self, pdu: Pdu) -> None:
        pass

    def _bind(self, pdu: BindTransmitter) -> None:
        server = self.server
        if self.bound:  # the session refuses a second bind itself; this keeps active_binds exact regardless
            self._reply(response_to(pdu, _S.ESME_RALYBND, system_id=server.smsc_id))
            return
        if self._refusal_pending:
            # A bind while the last refusal is still held back: not how an ESME binds (one at a
            # time), and answering each later would let one connection pile up timers. Close.
            if self.transport is not None:
                self.transport.close()
            return
        now = self._loop.time()
        status = server.check_bind(self.peer_host, pdu.system_id, pdu.password, now)
        resp = response_to(pdu, status, system_id=server.smsc_id)
        if status:
            delay = server.profile.bind_failure_delay_s
            if delay > 0:
                self._refusal_pending = True
                server.timers.call_at(now + delay, self._send_refusal, resp)
            else:
                self._reply(resp)
            return
        self._reply(resp)
        self.system_id = pdu.system_id
        self.bound = True
        server.counters.binds += 1
        server.counters.active_binds += 1
        _log.info(
            "carrier.bound", carrier=server.name, system_id=self.system_id, mode=self.session.state.value, peer=self.peer
        )
        if self.session.state in _RECEIVING:
            self.receiving = True
            server.router.attach(self.system_id, self)

    def _send_refusal(self, resp: Pdu) -> None:
        self._refusal_pending = False
        if self.transport is not None and self.session.state is not State.CLOSED:
            self._reply(resp)

    def _enquire_link(self, pdu: EnquireLink) -> None:
        self._reply(EnquireLinkResp(pdu.sequence_number))

    def _unbind(self, pdu: Unbind) -> None:
        self.server.counters.unbinds += 1
        self._stop_receiving()
        self._reply(UnbindResp(pdu.sequence_number))
        self._flush()
        if self.transport is not None:
            self.transport.close()

    def _data_sm(self, pdu: DataSm) -> None:
        self._reply(DataSmResp(pdu.sequence_number, _S.ESME_RINVCMDID))

    def _response(self, event: Response) -> None:
        item = event.context
        if type(item) is not Outgoing:
            return  # enquire_link_resp, or a stray response
        server = self.server
        if event.pdu.command_status:
            # The ESME could not take it now (e.g. ESME_RX_T_APPN): offer it again shortly.
            server.timers.call_at(self._loop.time() + _DELIVER_RETRY_S, server.router.deliver, item)
        elif item.stat is not None:
            server.counters.receipts_acked += 1
        server.router.drain(self.system_id, self)

    def _submit(self, pdu: SubmitSm) -> None:
        server = self.server
        counters = server.counters
        counters.submits += 1
        # Not session.unanswered_count: that also counts submits read in this same chunk, which are
        # answered before the next read; the window is about answers the SMSC is still holding.
        if self.late >= server.window:
            self._refuse(pdu, server.window_status)
            return
        if pdu.esm_class & _UDHI or pdu.tlvs:
            body, part = parse_part(pdu.short_message, pdu.esm_class, pdu.tlvs)
        else:  # what parse_part answers for a plain message, without the call (once per submit)
            body, part = pdu.short_message, None
        now = self._loop.time()
        ctx = SubmitContext(pdu, self.system_id, pdu.destination_addr, body, part, now)
        decision = server.behaviour.on_submit(ctx)
        if decision.status:
            self._refuse(pdu, decision.status)
            return
        number = server.ids.next_number()
        resp_id = server.ids.resp(number)
        server.accept(ctx, decision, number, resp_id)
        if decision.response_delay > 0:
            self.late += 1
            resp = SubmitSmResp(pdu.sequence_number, 0, _NO_TLVS, resp_id)
            server.timers.call_at(now + decision.response_delay, self._send_late, resp)
        else:
            out = self._out  # _write, inlined: once per submit
            if not out:
                self._loop.call_soon(self._flush)
            out.append(self.session.acknowledge(pdu, resp_id))

    def _refuse(self, pdu: SubmitSm, status: int) -> None:
        counters = self.server.counters
        counters.rejected[status] += 1
        if status == _S.ESME_RTHROTTLED:
            counters.throttled += 1
        self._write(self.session.send(SubmitSmResp(pdu.sequence_number, status)))

    def _submit_multi(self, pdu: SubmitMulti) -> None:
        """Each SME destination is decided like a submit_sm; all share one message id (and its receipts)."""
        server = self.server
        now = self._loop.time()
        body, part = parse_part(pdu.short_message, pdu.esm_class, pdu.tlvs)
        number = server.ids.next_number()
        resp_id = server.ids.resp(number)
        unsuccess: list[UnsuccessSme] = []
        for dest in pdu.destinations:
            server.counters.submits += 1
            if type(dest) is DistributionList:
                unsuccess.append(UnsuccessSme(0, 0, dest.name, _S.ESME_RINVDLNAME))
                continue
            ctx = SubmitContext(pdu, self.system_id, dest.address, body, part, now)  # type: ignore[arg-type]
            decision = server.behaviour.on_submit(ctx)
            if decision.status:
                server.counters.rejected[decision.status] += 1
                unsuccess.append(UnsuccessSme(dest.ton, dest.npi, dest.address, decision.status))
            else:
                server.accept(ctx, decision, number, resp_id)
        self._reply(SubmitMultiResp(pdu.sequence_number, 0, {}, resp_id, unsuccess))

    def _query(self, pdu: QuerySm) -> None:
        server = self.server
        server.counters.queries += 1
        record = server.table.get(pdu.message_id)
        if record is None:
            self._reply(QuerySmResp(pdu.sequence_number, _S.ESME_RQUERYFAIL))
            return
        now = self._loop.time()
        state = record.state_at(now)
        final = state is not MessageState.ENROUTE
        self._reply(
            QuerySmResp(
                pdu.sequence_number,
                0,
                {},
                record.resp_id,
                smpp_time(server.wall(min(now, record.final_at))) if final else "",
                int(state),
                record.outcome.err if final and not record.cancelled else 0,
            )
        )

    def _cancel(self, pdu: CancelSm) -> None:
        record = self.server.table.get(pdu.message_id)
        if record is None or record.cancelled or self._loop.time() >= record.final_at:
            self._reply(CancelSmResp(pdu.sequence_number, _S.ESME_RCANCELFAIL))
            return
        record.cancelled = True  # its receipt is not sent; query_sm says DELETED
        self._reply(CancelSmResp(pdu.sequence_number))

    def _replace(self, pdu: ReplaceSm) -> None:
        record = self.server.table.get(pdu.message_id)
        if record is None or record.cancelled or self._loop.time() >= record.final_at:
            self._reply(ReplaceSmResp(pdu.sequence_number, _S.ESME_RREPLACEFAIL))
            return
        record.preview = pdu.short_message[:40]
        self._reply(ReplaceSmResp(pdu.sequence_number))


class CarrierServer:
    """A simulated carrier: SMPP listener, behaviour, message table, receipt scheduler.

    Its admin HTTP (profile.admin_port) is not its business: `carriers.group` starts one beside it."""

    def __init__(self, profile: CarrierProfile, behaviour: Behaviour) -> None:
        self.profile = profile
        self.name = profile.name
        self.smsc_id = profile.name[:15]
        self.behaviour = behaviour
        # Passwords as bytes for hmac.compare_digest (the codec reads C-strings as latin-1).
        self.accounts = {account.system_id: account.password.encode("latin-1") for account in profile.accounts}
        self.lockout = BindLockout(profile.bind_failures_max, profile.bind_failure_window_s, profile.bind_lockout_s)
        self.counters = CarrierCounters()
        id_forms = profile.message_ids
        self.ids = MessageIdMaker(profile.seed, id_forms.resp, id_forms.receipt, id_forms.nonce)
        self.table = MessageTable(profile.message_table)
        self.writer = ReceiptWriter(self.ids)
        self.router = DeliveryRouter(profile.receipt_store, self.counters)
        self.rotor = ReferenceRotor()
        self.window_status = _S.ESME_RTHROTTLED if profile.window_status == "throttled" else _S.ESME_RMSGQFUL
        self.time_scale = profile.time_scale
        self.deliver_window = profile.deliver_window
        self.window = profile.window
        self.max_connections = profile.max_connections
        self.connections: set[SmscConnection] = set()
        self.submit_log: SubmitLog | None = None
        # recipients opening short links (profile `clicks`): only when the behaviour may ask for it
        self.clicker = Clicker(self.name, profile.clicks, self.counters) if behaviour.link_clicks else None
        self._refusing = False  # at max_connections: logged once per episode
        # Log lines about dropped deliveries: at most 5 a second, the rest only counted.
        self._unwritable_lines = TokenBucket(5.0, 5.0)
        self._unwritable_quiet = 0
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.timers: TimerHeap = None  # type: ignore[assignment]
        self._due: list[MessageRecord | tuple[MessageRecord, MoReply]] = []  # see _due_now
        self._wall_offset = 0.0
        self._server: asyncio.Server | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._sweep_handle: asyncio.TimerHandle | None = None
        # Deadlines are checked a few times within the shorter of the two (at least once a second).
        self._sweep_s = min(1.0, profile.bind_timeout_s / 4, profile.idle_timeout_s / 4)
        self.host = profile.host
        self.port = 0

    # ---- life cycle ----

    async def start(self) -> CarrierServer:
        self.loop = asyncio.get_running_loop()
        self.timers = TimerHeap(self.loop)
        self._wall_offset = time.time() - self.loop.time()
        if self.profile.submit_log:
            self.submit_log = SubmitLog(self.name, self.profile.submit_log, self.loop)
        try:
            self._server = await self.loop.create_server(
                lambda: SmscConnection(self), self.profile.host, self.profile.port, backlog=1024
            )
        except BaseException:
            if self.submit_log is not None:
                self.submit_log.close()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        if self.clicker is not None:
            await self.clicker.start()
        self._tick = self.loop.call_later(1.0, self._every_second)
        self._sweep_handle = self.loop.call_later(self._sweep_s, self._sweep)
        _log.info("carrier.listening", carrier=self.name, host=self.host, port=self.port, id_nonce=self.ids.nonce)
        return self

    async def close(self) -> None:
        if self._tick is not None:
            self._tick.cancel()
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            if connection.transport is not None:
                connection.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self.timers is not None:
            self.timers.close()
        self._due.clear()
        if self.clicker is not None:
            await self.clicker.close()
        if self.submit_log is not None:
            self.submit_log.close()
        _log.info("carrier.stopped", carrier=self.name)

    async def __aenter__(self) -> CarrierServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def wall(self, loop_time: float) -> float:
        return loop_time + self._wall_offset

    # ---- who may connect and bind ----

    def refuse_connection(self) -> None:
        self.counters.connections_refused += 1
        if not self._refusing:
            self._refusing = True
            _log.warning("carrier.connection_cap", carrier=self.name, max_connections=self.max_connections)

    def accepting_again(self) -> None:
        self._refusing = False

    def check_bind(self, peer_host: str, system_id: str, password: str, now: float) -> int:
        """The bind_resp status for these credentials from this address; counts and logs refusals."""
        counters = self.counters
        lockout = self.lockout
        if lockout.locked(peer_host, now):
            counters.bind_lockouts += 1
            return _S.ESME_RBINDFAIL
        expected = self.accounts.get(system_id)
        if expected is None:
            status = _S.ESME_RINVSYSID
        elif not hmac.compare_digest(expected, password.encode("latin-1")):
            status = _S.ESME_RINVPASWD
        else:
            return _S.ESME_ROK
        counters.bind_failures += 1
        _log.info("carrier.bind_refused", carrier=self.name, system_id=system_id, peer=peer_host,
                  status=_S(status).name)
        if lockout.failed(peer_host, now):
            _log.warning("carrier.bind_lockout", carrier=self.name, peer=peer_host, failures=lockout.max_failures,
                         within_s=lockout.window_s, lockout_s=lockout.lockout_s)
        return status

    # ---- what an accepted submit sets in motion ----

    def accept(self, ctx: SubmitContext, decision: SubmitDecision, number: int, resp_id: str) -> None:
        counters = self.counters
        counters.accepted += 1
        fate = decision.fate or Fate.DELIVERED
        counters.fates[fate._value_] += 1  # _value_: a plain attribute, .value is a slow descriptor
        outcome = decision.outcome
        pdu = ctx.pdu
        final_at = ctx.now + decision.receipt_delay * self.time_scale
        record = MessageRecord(
            number,
            resp_id,
            ctx.system_id,
            pdu.source_addr,
            ctx.destination,
            ctx.now + self._wall_offset,
            final_at,
            outcome,
            ctx.body[:40],
            pdu.data_coding,
            pdu.registered_delivery,
        )
        self.table.add(record)
        if self.submit_log is not None:
            self.submit_log.add((record.submitted_wall, ctx.system_id, resp_id, ctx.destination, ctx.part, ctx.body))
        wanted = pdu.registered_delivery & 0x03
        if wanted == 1 or wanted == 3 or (wanted == 2 and not outcome.delivered):
            if final_at <= ctx.now:
                self._due_now(record)
            else:
                self.timers.call_at(final_at, self._receipt_due, record)
        if self.behaviour.mo_replies and ctx.is_last_part:
            reply = self.behaviour.mo_reply(ctx, decision)
            if reply is not None:
                mo_at = final_at + reply.delay * self.time_scale
                if mo_at <= ctx.now:
                    self._due_now((record, reply))
                else:
                    self.timers.call_at(mo_at, self._mo_due, (record, reply))
        if self.clicker is not None:
            click = self.behaviour.link_click(ctx, decision)
            if click is not None:
                self.timers.call_at(final_at + click.delay * self.time_scale, self._click_due, (record, click.url))

    def _due_now(self, entry: MessageRecord | tuple[MessageRecord, MoReply]) -> None:
        """A receipt (a record) or an MO reply (record, reply) due at once: sent with the others due
        in this loop turn, in the order they fell due, by one callback (_send_due) instead of one per
        message. Zero delays are what load tests run with (time_scale 0, benchmarks/carrier_bench.py).

        With the pre-encoded receipt pieces (receipts.ReceiptTemplate) this took the simulator from
        31.8 to 21.3 us CPU per message in carrier_bench (interleaved A/B, medians of 3 pairs). Both
        kinds go through the one list so a message's receipt still precedes its reply on the wire;
        what is due later stays on the TimerHeap, one callback per entry."""
        due = self._due
        if not due:
            self.loop.call_soon(self._send_due)
        due.append(entry)

    def _send_due(self) -> None:
        due, self._due = self._due, []
        done_wall = self.wall(self.loop.time())
        items: list[Outgoing] = []
        for entry in due:
            if type(entry) is tuple:
                items += self._mo_items(entry)
            else:
                item = self._receipt_item(entry, done_wall)
                if item is not None:
                    items.append(item)
        self.router.deliver_all(items)

    def _receipt_due(self, record: MessageRecord) -> None:
        item = self._receipt_item(record, self.wall(self.loop.time()))
        if item is not None:
            self.router.deliver(item)

    def _receipt_item(self, record: MessageRecord, done_wall: float) -> Outgoing | None:
        """The receipt deliver_sm of a record; None when it was cancelled, or cannot be written
        (counted, logged)."""
        if record.cancelled:
            return None
        try:
            body = self.writer.receipt_body(record, done_wall)
        except _UNWRITABLE as exc:
            self._unwritable("receipt", record, exc)
            return None
        return Outgoing(body, record.outcome.stat, record.system_id)

    def _mo_due(self, arg: tuple[MessageRecord, MoReply]) -> None:
        self.router.deliver_all(self._mo_items(arg))

    def _mo_items(self, arg: tuple[MessageRecord, MoReply]) -> list[Outgoing]:
        """The deliver_sm of an MO reply; none (counted, logged) when they cannot be written."""
        record, reply = arg
        try:
            return [
                Outgoing.of(pdu, None, record.system_id)
                for pdu in mo_pdus(reply.text, record.destination, record.source, self.rotor)
            ]
        except _UNWRITABLE as exc:
            self._unwritable("mo", record, exc)
            return []

    def _click_due(self, arg: tuple[MessageRecord, str]) -> None:
        record, url = arg
        if not record.cancelled and self.clicker is not None:
            self.clicker.click(url)

    def _unwritable(self, kind: str, record: MessageRecord, exc: Exception) -> None:
        """A deliver_sm that cannot be built from its submit (the submit was accepted as the ESME
        sent it, e.g. with a non-ASCII source_addr): dropped and counted, the others go on."""
        self.counters.unwritable += 1
        if not self._unwritable_lines.take(self.loop.time()):
            self._unwritable_quiet += 1
            return
        _log.warning("carrier.delivery_dropped", carrier=self.name, kind=kind, message_id=record.resp_id,
                     system_id=record.system_id, reason=f"{type(exc).__name__}: {exc}",
                     suppressed=self._unwritable_quiet)
        self._unwritable_quiet = 0

    # ---- housekeeping ----

    def _sweep(self) -> None:
        """Close connections past their bind deadline or idle limit."""
        now = self.loop.time()
        profile = self.profile
        bind_timeout, idle_timeout = profile.bind_timeout_s, profile.idle_timeout_s
        for connection in list(self.connections):
            reason = overdue(connection.bound, connection.opened_at, connection.last_heard, now, bind_timeout,
                             idle_timeout)
            if reason is not None:
                connection.close_for(reason)
        self._sweep_handle = self.loop.call_later(self._sweep_s, self._sweep)

    def _every_second(self) -> None:
        now = self.loop.time()
        idle = self.profile.enquire_link_s
        behaviour = self.behaviour
        for connection in list(self.connections):
            session = connection.session
            if not session.is_bound or connection.transport is None:
                continue
            if behaviour.drops_connection(connection.system_id, True):
                connection.drop()
                continue
            # Requests unanswered for two probe intervals: the peer is gone or stuck.
            expired = session.expire(now, 2 * idle)
            if expired:
                retry = [entry.context for _, entry in expired if isinstance(entry.context, Outgoing)]
                for item in retry:
                    self.router.deliver(item)
                if len(retry) < len(expired):
                    _log.info("carrier.peer_silent", carrier=self.name, system_id=connection.system_id)
                    connection.transport.abort()
                    continue
            if now - connection.last_heard >= idle:
                connection.probe()
        self._tick = self.loop.call_later(1.0, self._every_second)

