"""One SMPP connection as a sans-I/O state machine: bytes in -> events, PDUs out -> bytes.

The asyncio shells (the engine's binds, the carrier simulators) own the socket and the clock;
they feed `receive_data` with whatever arrived and write what `send` returns.

Events from `receive_data`:
- a request PDU from the peer (SubmitSm, DeliverSm, EnquireLink, BindTransmitter, Unbind, ...),
  already checked legal for the peer's role and the bind state; answer it with `send(response_to(...))`;
- `Response`: a response PDU (or generic_nack) with the context given when its request was sent;
- `ProtocolError`: a PDU that was malformed or illegal; write `reply` (if any) and close when `fatal`.
"""

from __future__ import annotations

import enum
import struct
from typing import Any, Union

import msgspec

from smsengine.smpp.codec import (
    FramingError,
    PduError,
    UnknownCommandError,
    decode_frame,
    encode_pdu,
)
from smsengine.smpp.constants import (
    DEFAULT_MAX_PDU_SIZE,
    HEADER_SIZE,
    MAX_SEQUENCE,
    RESPONSE_BIT,
    CommandId,
    CommandStatus,
)
from smsengine.smpp.pdu import GenericNack, Pdu, response_class, response_to

_LENGTH = struct.Struct(">I")
_ACK = struct.Struct(">IIII")
_ACKNOWLEDGEABLE = frozenset({CommandId.DELIVER_SM})


class Role(enum.Enum):
    ESME = "esme"  # the client: binds, submits (the engine)
    SMSC = "smsc"  # the server: accepts binds, delivers (the carrier simulators)


class State(enum.Enum):
    # Members are singletons compared by identity: hash them by identity too, in C, instead of
    # Enum's Python-level hash of the name (states are checked on every PDU).
    __hash__ = object.__hash__

    OPEN = "open"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBOUND = "unbound"
    CLOSED = "closed"


class SessionError(Exception):
    """This side tried something SMPP forbids (wrong role, wrong state, closed session): a local bug."""


class IllegalPduError(PduError):
    """A well-formed PDU the peer may not send: wrong role (ESME_RINVCMDID) or wrong bind state."""


class Outstanding(msgspec.Struct):
    """A request sent and not yet answered."""

    command_id: int
    context: Any
    sent_at: float


class Response(msgspec.Struct):
    """A response (or generic_nack) from the peer; `matched` is False when no request of ours was waiting for it."""

    pdu: Pdu
    context: Any = None
    matched: bool = False


class ProtocolError(msgspec.Struct):
    """A PDU from the peer that was malformed or illegal here.

    `reply` is what to write back (generic_nack or the request's *_resp with `error.status`, b"" for
    none); `fatal` means the byte stream is unusable and the connection must close after the reply.
    `context` is the pending request's context when a malformed response could still be correlated.
    """

    error: PduError
    reply: bytes = b""
    fatal: bool = False
    context: Any = None


Event = Union[Pdu, Response, ProtocolError]

_C = CommandId
_S = CommandStatus
_TX = frozenset({State.BOUND_TX, State.BOUND_TRX})
_RX = frozenset({State.BOUND_RX, State.BOUND_TRX})
_BOUND = frozenset({State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX})
_LIVE = _BOUND | {State.OPEN}
_OPEN = frozenset({State.OPEN})
_BINDS = {_C.BIND_TRANSMITTER: State.BOUND_TX, _C.BIND_RECEIVER: State.BOUND_RX, _C.BIND_TRANSCEIVER: State.BOUND_TRX}
_BIND_RESPS = {cid | RESPONSE_BIT: state for cid, state in _BINDS.items()}
_ANSWERED = frozenset(cid for cid in CommandId if response_class(cid) is not None)

# Which requests each role may send, and in which states (SMPP 3.4 §2.3, §2.4).
REQUESTS_BY_ROLE: dict[Role, dict[int, frozenset[State]]] = {
    Role.ESME: {
        _C.BIND_TRANSMITTER: _OPEN,
        _C.BIND_RECEIVER: _OPEN,
        _C.BIND_TRANSCEIVER: _OPEN,
        _C.SUBMIT_SM: _TX,
        _C.SUBMIT_MULTI: _TX,
        _C.DATA_SM: _TX,
        _C.QUERY_SM: _TX,
        _C.CANCEL_SM: _TX,
        _C.REPLACE_SM: _TX,
        _C.UNBIND: _BOUND,
        _C.ENQUIRE_LINK: _LIVE,
    },
    Role.SMSC: {
        _C.OUTBIND: _OPEN,
        _C.DELIVER_SM: _RX,
        _C.DATA_SM: _RX,
        _C.ALERT_NOTIFICATION: _RX,
        _C.UNBIND: _BOUND,
        _C.ENQUIRE_LINK: _LIVE,
    },
}


class Session:
    """The protocol state of one connection, for either role."""

    def __init__(self, role: Role, *, max_pdu_size: int = DEFAULT_MAX_PDU_SIZE, first_sequence: int = 1,
                 lenient: bool = False) -> None:
        self.role = role
        self.lenient = lenient  # accept over-long C-strings from the peer (see codec.decode_frame)
        self.peer_role = Role.SMSC if role is Role.ESME else Role.ESME
        self.state = State.OPEN
        self.max_pdu_size = max_pdu_size
        self._sequence = (first_sequence - 1) % MAX_SEQUENCE
        self._outstanding: dict[int, Outstanding] = {}
        self._unanswered: dict[int, int] = {}  # peer request sequence number -> command_id
        self._may_send = REQUESTS_BY_ROLE[role]
        self._peer_may_send = REQUESTS_BY_ROLE[self.peer_role]
        self._bind_sent: int | None = None
        # Bytes of an incomplete PDU, kept as a list so a PDU trickling in is joined once, not re-copied per chunk.
        self._partial: list[bytes] = []
        self._partial_size = 0
        self._needed = HEADER_SIZE

    # ---- sequence numbers and windows ----

    def next_sequence(self) -> int:
        """1, 2, ... 0x7FFFFFFF, then 1 again."""
        self._sequence = self._sequence % MAX_SEQUENCE + 1
        return self._sequence

    @property
    def outstanding_count(self) -> int:
        """Our requests waiting for the peer's response."""
        return len(self._outstanding)

    def is_window_full(self, window: int) -> bool:
        return len(self._outstanding) >= window

    def is_outstanding(self, sequence_number: int) -> bool:
        return sequence_number in self._outstanding

    @property
    def unanswered_count(self) -> int:
        """The peer's requests we have not answered yet: what an SMSC checks against the bind's window."""
        return len(self._unanswered)

    def expire(self, now: float, timeout: float) -> list[tuple[int, Outstanding]]:
        """Forget and return the requests sent at or before `now - timeout` (oldest first)."""
        deadline = now - timeout
        expired = []
        # Requests go in in send order, so the oldest are first and the scan stops at the first young one.
        for seq, entry in self._outstanding.items():
            if entry.sent_at > deadline:
                break
            expired.append((seq, entry))
        for seq, _ in expired:
            self._forget(seq)
        return expired

    def _forget(self, seq: int) -> Outstanding | None:
        entry = self._outstanding.pop(seq, None)
        if entry is not None and entry.command_id == self._bind_sent:
            self._bind_sent = None  # a bind that got no usable answer: the ESME may try again
        return entry

    @property
    def is_bound(self) -> bool:
        return self.state in _BOUND

    def close(self) -> list[tuple[int, Outstanding]]:
        """Mark the connection closed; returns the requests that will now never be answered."""
        self.state = State.CLOSED
        pending = list(self._outstanding.items())
        self._outstanding.clear()
        self._unanswered.clear()
        self._bind_sent = None
        self._partial = []
        return pending

    # ---- outgoing ----

    def send(self, pdu: Pdu, context: Any = None, now: float = 0.0) -> bytes:
        """The bytes to write for `pdu`. A request without a sequence number gets the next one (set on `pdu`)."""
        state = self.state
        if state is State.CLOSED:
            raise SessionError("the session is closed")
        command_id = pdu.command_id
        if pdu.is_response:
            self._unanswered.pop(pdu.sequence_number, None)
            if not pdu.command_status:
                if command_id in _BIND_RESPS and state is State.OPEN:
                    self.state = _BIND_RESPS[command_id]
                elif command_id == _C.UNBIND_RESP:
                    self.state = State.UNBOUND
            return encode_pdu(pdu)
        states = self._may_send.get(command_id)
        if states is None:
            raise SessionError(f"{type(pdu).__name__} is not a request an {self.role.value.upper()} sends")
        if state not in states:
            raise SessionError(f"{type(pdu).__name__} is not allowed in state {state.value}")
        if command_id in _BINDS:
            if self._bind_sent is not None:
                raise SessionError("a bind is already waiting for its response")
            self._bind_sent = command_id
        if not pdu.sequence_number:
            pdu.sequence_number = self.next_sequence()
        data = encode_pdu(pdu)
        if command_id in _ANSWERED:
            self._outstanding[pdu.sequence_number] = Outstanding(command_id, context, now)
        return data

    def send_encoded(self, command_id: int, body: bytes, context: Any = None, now: float = 0.0) -> bytes:
        """A request whose body (everything after the header) is already encoded: the hot paths
        that pre-build PDUs (the simulators' receipts) skip building a PDU object per message.
        The sequence number and window tracking are exactly as for `send`."""
        states = self._may_send.get(command_id)
        if states is None or self.state not in states:
            raise SessionError(f"command {command_id:#x} is not allowed for an {self.role.value.upper()} in state "
                               f"{self.state.value}")
        seq = self.next_sequence()
        self._outstanding[seq] = Outstanding(command_id, context, now)
        return _ACK.pack(HEADER_SIZE + len(body), command_id, 0, seq) + body

    def acknowledge(self, request: Pdu) -> bytes:
        """The bytes of a plain OK response to a peer's deliver_sm or data_sm (empty message_id):
        the receipt hot path's answer, without building and encoding a response PDU."""
        command_id = request.command_id
        if command_id not in _ACKNOWLEDGEABLE or self.state is State.CLOSED:
            return self.send(response_to(request))
        seq = request.sequence_number
        self._unanswered.pop(seq, None)
        return _ACK.pack(HEADER_SIZE + 1, command_id | RESPONSE_BIT, 0, seq) + b"\0"

    # ---- incoming ----

    def receive_data(self, data: bytes) -> list[Event]:
        """Events for the whole PDUs now available; an incomplete tail waits for the next call."""
        if self.state is State.CLOSED:
            return []
        if type(data) is not bytes:
            data = bytes(data)
        if self._partial:
            self._partial.append(data)
            self._partial_size += len(data)
            if self._partial_size < self._needed:
                return []
            data = b"".join(self._partial)
            self._partial = []
        events: list[Event] = []
        append = events.append
        pos = 0
        size = len(data)
        max_pdu_size = self.max_pdu_size
        while True:
            left = size - pos
            if left < 4:
                needed = HEADER_SIZE
                break
            length = _LENGTH.unpack_from(data, pos)[0]
            if length < HEADER_SIZE or length > max_pdu_size:
                append(self._framing_error(data, pos, length))
                return events
            if left < length:
                needed = length
                break
            end = pos + length
            try:
                pdu = decode_frame(data, pos, end, self.lenient)
            except PduError as exc:
                append(self._bad_pdu(exc))
            else:
                append(self._on_response(pdu) if pdu.is_response else self._on_request(pdu))
            pos = end
        if pos < size:
            self._partial = [data[pos:]]
            self._partial_size = size - pos
            self._needed = needed
        return events

    def _on_response(self, pdu: Pdu) -> Response:
        seq = pdu.sequence_number
        entry = self._outstanding.get(seq)
        command_id = pdu.command_id
        if entry is None or (entry.command_id | RESPONSE_BIT != command_id and command_id != _C.GENERIC_NACK):
            return Response(pdu)
        self._forget(seq)
        if entry.command_id in _BINDS:
            if not pdu.command_status and command_id != _C.GENERIC_NACK:
                self.state = _BINDS[entry.command_id]
        elif command_id == _C.UNBIND_RESP:
            self.state = State.UNBOUND
        return Response(pdu, entry.context, True)

    def _on_request(self, pdu: Pdu) -> Pdu | ProtocolError:
        command_id = pdu.command_id
        states = self._peer_may_send.get(command_id)
        if states is not None and self.state in states:
            if command_id in _ANSWERED:
                self._unanswered[pdu.sequence_number] = command_id
            return pdu
        name = type(pdu).__name__
        if states is None:
            status, detail = _S.ESME_RINVCMDID, f"{name} is not a request an {self.peer_role.value.upper()} sends"
        elif command_id in _BINDS and self.state in _BOUND:
            status, detail = _S.ESME_RALYBND, "already bound"
        else:
            status, detail = _S.ESME_RINVBNDSTS, f"{name} is not allowed in state {self.state.value}"
        error = IllegalPduError(status, detail, command_id=command_id, sequence_number=pdu.sequence_number)
        return ProtocolError(error, self._reply_for(error))

    def _bad_pdu(self, error: PduError) -> ProtocolError:
        command_id = error.command_id or 0
        if command_id & RESPONSE_BIT and not isinstance(error, UnknownCommandError):
            entry = self._forget(error.sequence_number or 0)
            return ProtocolError(error, b"", False, entry.context if entry is not None else None)
        return ProtocolError(error, self._reply_for(error))

    def _framing_error(self, data: bytes, pos: int, length: int) -> ProtocolError:
        sequence_number = None
        if len(data) - pos >= HEADER_SIZE:
            sequence_number = _LENGTH.unpack_from(data, pos + 12)[0]
        error = FramingError(
            _S.ESME_RINVCMDLEN,
            f"command_length {length} outside {HEADER_SIZE}..{self.max_pdu_size}",
            sequence_number=sequence_number,
        )
        self.state = State.CLOSED
        self._partial = []
        return ProtocolError(error, self._reply_for(error), True)

    @staticmethod
    def _reply_for(error: PduError) -> bytes:
        """generic_nack for unparseable headers, else the request's own response carrying the status."""
        seq = error.sequence_number or 0
        cls = response_class(error.command_id) if error.command_id is not None else None
        if cls is None or error.status in (_S.ESME_RINVCMDLEN, _S.ESME_RINVCMDID):
            return encode_pdu(GenericNack(seq, error.status))
        return encode_pdu(cls(seq, error.status))
