"""One SMPP connection as a sans-I/O state machine: bytes in -> events, PDUs out -> bytes.

The asyncio shells (the engine's binds, the carrier simulators) own the socket and the clock;
they feed `receive_data` with whatever arrived and write what `send` returns.

Events from `receive_data`:
- a request PDU from the peer (SubmitSm, DeliverSm, EnquireLink, BindTransmitter, Unbind, ...),
  already checked legal for the peer's role and the bind state; answer it with `send(response_to(...))`;
- `Response`: a response PDU (or generic_nack) with the context given when its request was sent;
- `PeerError`: a PDU that was malformed or illegal; write `reply` (if any) and close when `fatal`.

What each side may send in which state, and which responses move the state, is one table,
`TRANSITIONS` (the shape of h11's `_state.py`); `Session._enter` is the one place the state changes.
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
from smsengine.smpp.pdu import PDU_CLASSES, GenericNack, Pdu, response_class, response_to
from smsengine.smpp.receive_buffer import ReceiveBuffer

_LENGTH = struct.Struct(">I")
_ACK = struct.Struct(">IIII")


class Role(enum.Enum):
    ESME = "esme"  # the client: binds, submits (the engine)
    SMSC = "smsc"  # the server: accepts binds, delivers (the carrier simulators)


class State(enum.Enum):
    # Members are singletons compared by identity: hash them by identity too, in C, instead of
    # Enum's Python-level hash of the name (states are looked up on every PDU).
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


class PeerError(msgspec.Struct):
    """A PDU from the peer that was malformed or illegal here.

    `reply` is what to write back (generic_nack or the request's *_resp with `error.status`, b"" for
    none); `fatal` means the byte stream is unusable and the connection must close after the reply.
    `context` is the pending request's context when a malformed response could still be correlated.
    """

    error: PduError
    reply: bytes = b""
    fatal: bool = False
    context: Any = None


Event = Union[Pdu, Response, PeerError]

# ---- the transition table (SMPP 3.4 §2.3, §2.4) ------------------------------------------------

_C = CommandId
_S = CommandStatus
OPEN, BOUND_TX, BOUND_RX, BOUND_TRX, UNBOUND, CLOSED = State
_BOUND = frozenset({BOUND_TX, BOUND_RX, BOUND_TRX})
_SUBMITS = (_C.SUBMIT_SM, _C.SUBMIT_MULTI, _C.DATA_SM, _C.QUERY_SM, _C.CANCEL_SM, _C.REPLACE_SM)
_DELIVERS = (_C.DELIVER_SM, _C.DATA_SM, _C.ALERT_NOTIFICATION)


# Keys stay CommandId members: a decoded PDU's command_id is the same object, so lookups hit on identity.
def _stay(state: State, *command_ids: CommandId) -> dict[int, State]:
    return dict.fromkeys(command_ids, state)


def _unbound_by(*command_ids: CommandId) -> dict[int, State]:
    return dict.fromkeys(command_ids, UNBOUND)


# sender -> the state it is in -> {command_id it may send: the state after it}.
# A request missing here is one SMPP forbids that sender in that state. A request never moves the
# state (a bind or unbind takes effect with its response); a response listed here moves it when it
# carries ESME_ROK, and responses not listed never move it. Both sides look up the same table: the
# sender's own rows for what it sends, the peer's rows for what arrives.
TRANSITIONS: dict[Role, dict[State, dict[int, State]]] = {
    Role.ESME: {
        OPEN: _stay(OPEN, _C.BIND_TRANSMITTER, _C.BIND_RECEIVER, _C.BIND_TRANSCEIVER, _C.ENQUIRE_LINK),
        BOUND_TX: _stay(BOUND_TX, *_SUBMITS, _C.UNBIND, _C.ENQUIRE_LINK) | _unbound_by(_C.UNBIND_RESP),
        BOUND_RX: _stay(BOUND_RX, _C.UNBIND, _C.ENQUIRE_LINK) | _unbound_by(_C.UNBIND_RESP),
        BOUND_TRX: _stay(BOUND_TRX, *_SUBMITS, _C.UNBIND, _C.ENQUIRE_LINK) | _unbound_by(_C.UNBIND_RESP),
        UNBOUND: {},
        CLOSED: {},
    },
    Role.SMSC: {
        OPEN: _stay(OPEN, _C.OUTBIND, _C.ENQUIRE_LINK)
        | {_C.BIND_TRANSMITTER_RESP: BOUND_TX, _C.BIND_RECEIVER_RESP: BOUND_RX, _C.BIND_TRANSCEIVER_RESP: BOUND_TRX},
        BOUND_TX: _stay(BOUND_TX, _C.UNBIND, _C.ENQUIRE_LINK) | _unbound_by(_C.UNBIND_RESP),
        BOUND_RX: _stay(BOUND_RX, *_DELIVERS, _C.UNBIND, _C.ENQUIRE_LINK) | _unbound_by(_C.UNBIND_RESP),
        BOUND_TRX: _stay(BOUND_TRX, *_DELIVERS, _C.UNBIND, _C.ENQUIRE_LINK) | _unbound_by(_C.UNBIND_RESP),
        UNBOUND: {},
        CLOSED: {},
    },
}

# The hot paths rely on these: a request's legality is one membership test (its move is "stay"),
# and only the listed responses need _enter.
for _role, _by_state in TRANSITIONS.items():
    assert set(_by_state) == set(State), f"{_role}: every state needs a row"
    for _state, _moves in _by_state.items():
        for _cid, _after in _moves.items():
            assert _cid in PDU_CLASSES, f"{_cid:#x} is not a command"
            assert _cid & RESPONSE_BIT or _after is _state, f"{_role} {_state}: a request {_cid:#x} moved the state"

# Every command each role sends in some state: a command outside these is the wrong role's (ESME_RINVCMDID).
_SENDS = {role: frozenset(cid for moves in rows.values() for cid in moves) for role, rows in TRANSITIONS.items()}
_BINDS = frozenset({_C.BIND_TRANSMITTER, _C.BIND_RECEIVER, _C.BIND_TRANSCEIVER})
_ANSWERED = frozenset(cid for cid in CommandId if response_class(cid) is not None)
_ACKNOWLEDGEABLE = frozenset({_C.DELIVER_SM, _C.SUBMIT_SM})
_GENERIC_NACK = int(_C.GENERIC_NACK)


def refusal(sender: Role, state: State, command_id: int) -> tuple[int, str]:
    """Why `sender` may not send the request `command_id` in `state`: the command_status that
    answers it, and what to say. Only meaningful for what `TRANSITIONS` does not list."""
    cls = PDU_CLASSES.get(command_id)
    name = cls.__name__ if cls is not None else f"command {command_id:#010x}"
    if command_id not in _SENDS[sender]:
        return _S.ESME_RINVCMDID, f"{name} is not a request an {sender.value.upper()} sends"
    if command_id in _BINDS and state in _BOUND:
        return _S.ESME_RALYBND, "already bound"
    return _S.ESME_RINVBNDSTS, f"{name} is not allowed in state {state.value}"


# ---- the session --------------------------------------------------------------------------------


class Session:
    """The protocol state of one connection, for either role."""

    def __init__(self, role: Role, *, max_pdu_size: int = DEFAULT_MAX_PDU_SIZE, first_sequence: int = 1,
                 lenient: bool = False) -> None:
        self.role = role
        self.lenient = lenient  # accept over-long C-strings from the peer (see codec.decode_frame)
        self.peer_role = Role.SMSC if role is Role.ESME else Role.ESME
        self.max_pdu_size = max_pdu_size
        self._sequence = (first_sequence - 1) % MAX_SEQUENCE
        self._outstanding: dict[int, Outstanding] = {}
        self._unanswered: dict[int, int] = {}  # peer request sequence number -> command_id
        self._bind_sequence = 0  # our bind waiting for its response (0: none): one at a time
        self._buffer = ReceiveBuffer()
        self._enter(OPEN)

    # ---- state ----

    def _enter(self, state: State) -> None:
        """Every state change goes through here, and re-reads from `TRANSITIONS` what each side may send now."""
        self._state = state
        self._ours = TRANSITIONS[self.role][state]
        self._theirs = TRANSITIONS[self.peer_role][state]

    @property
    def state(self) -> State:
        """Where the bind is. Setting it (tests start a session mid-life this way) goes through `_enter`."""
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        self._enter(state)

    @property
    def is_bound(self) -> bool:
        return self._state in _BOUND

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
        if seq == self._bind_sequence:
            self._bind_sequence = 0  # a bind that got no usable answer: the ESME may try again
        return entry

    def close(self) -> list[tuple[int, Outstanding]]:
        """Mark the connection closed; returns the requests that will now never be answered."""
        self._enter(CLOSED)
        pending = list(self._outstanding.items())
        self._outstanding.clear()
        self._unanswered.clear()
        self._bind_sequence = 0
        self._buffer.clear()
        return pending

    # ---- outgoing ----

    def send(self, pdu: Pdu, context: Any = None, now: float = 0.0) -> bytes:
        """The bytes to write for `pdu`. A request without a sequence number gets the next one (set on `pdu`)."""
        if self._state is CLOSED:
            raise SessionError("the session is closed")
        command_id = pdu.command_id
        ours = self._ours
        if pdu.is_response:
            self._unanswered.pop(pdu.sequence_number, None)
            if command_id in ours and not pdu.command_status:
                self._enter(ours[command_id])
            return encode_pdu(pdu)
        if command_id not in ours:
            raise SessionError(refusal(self.role, self._state, command_id)[1])
        if command_id in _BINDS and self._bind_sequence:
            raise SessionError("a bind is already waiting for its response")
        if not pdu.sequence_number:
            self._sequence = pdu.sequence_number = self._sequence % MAX_SEQUENCE + 1
        data = encode_pdu(pdu)
        if command_id in _ANSWERED:
            self._outstanding[pdu.sequence_number] = Outstanding(command_id, context, now)
            if command_id in _BINDS:
                self._bind_sequence = pdu.sequence_number
        return data

    def send_encoded(self, command_id: int, body: bytes, context: Any = None, now: float = 0.0) -> bytes:
        """A request whose body (everything after the header) is already encoded: the hot paths
        that pre-build PDUs (the engine's submits, the simulators' receipts) skip building a PDU
        object per message. Sequence numbers and window tracking are exactly as for `send`; the
        request must be one that has a response (not a bind: those go through `send`)."""
        if command_id not in self._ours:
            raise SessionError(refusal(self.role, self._state, command_id)[1])
        self._sequence = seq = self._sequence % MAX_SEQUENCE + 1
        self._outstanding[seq] = Outstanding(command_id, context, now)
        return _ACK.pack(HEADER_SIZE + len(body), command_id, 0, seq) + body

    def acknowledge(self, request: Pdu, message_id: str = "") -> bytes:
        """The bytes of a plain OK response to a peer's deliver_sm or submit_sm, with `message_id`
        (an SMSC's id for a submit; empty for a receipt): the hot paths' answer (the engine's to
        receipts, the simulators' to submits) without building and encoding a response PDU."""
        command_id = request.command_id
        if command_id not in _ACKNOWLEDGEABLE or self._state is CLOSED or (message_id and (
                len(message_id) > 64 or not message_id.isascii() or "\0" in message_id)):
            # the general path: it encodes an unusual id, or says why SMPP cannot carry it
            return self.send(response_to(request, message_id=message_id) if message_id else response_to(request))
        raw = message_id.encode("ascii")
        seq = request.sequence_number
        self._unanswered.pop(seq, None)
        return _ACK.pack(HEADER_SIZE + 1 + len(raw), command_id | RESPONSE_BIT, 0, seq) + raw + b"\0"

    # ---- incoming ----

    def receive_data(self, data: bytes) -> list[Event]:
        """Events for the whole PDUs now available; an incomplete tail waits in the receive buffer."""
        if self._state is CLOSED:
            return []
        if type(data) is not bytes:
            data = bytes(data)
        buffer = self._buffer
        if buffer.pending:
            data = buffer.feed(data)  # type: ignore[assignment]
            if data is None:
                return []
        events: list[Event] = []
        append = events.append
        pos = 0
        size = len(data)
        max_pdu_size = self.max_pdu_size
        lenient = self.lenient
        while True:
            left = size - pos
            if left < 4:
                needed = 4
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
                pdu = decode_frame(data, pos, end, lenient)
            except PduError as exc:
                append(self._bad_pdu(exc))
            else:
                append(self._on_response(pdu) if pdu.is_response else self._on_request(pdu))
            pos = end
        if pos < size:
            buffer.keep(data, pos, needed)
        return events

    def _on_response(self, pdu: Pdu) -> Response:
        seq = pdu.sequence_number
        entry = self._outstanding.get(seq)
        command_id = pdu.command_id
        if entry is None or (entry.command_id | RESPONSE_BIT != command_id and command_id != _GENERIC_NACK):
            return Response(pdu)
        del self._outstanding[seq]
        if seq == self._bind_sequence:
            self._bind_sequence = 0
        theirs = self._theirs
        if command_id in theirs and not pdu.command_status:
            self._enter(theirs[command_id])
        return Response(pdu, entry.context, True)

    def _on_request(self, pdu: Pdu) -> Pdu | PeerError:
        command_id = pdu.command_id
        if command_id in self._theirs:
            if command_id in _ANSWERED:
                self._unanswered[pdu.sequence_number] = command_id
            return pdu
        status, detail = refusal(self.peer_role, self._state, command_id)
        error = IllegalPduError(status, detail, command_id=command_id, sequence_number=pdu.sequence_number)
        return PeerError(error, self._reply_for(error))

    def _bad_pdu(self, error: PduError) -> PeerError:
        command_id = error.command_id or 0
        if command_id & RESPONSE_BIT and not isinstance(error, UnknownCommandError):
            entry = self._forget(error.sequence_number or 0)
            return PeerError(error, b"", False, entry.context if entry is not None else None)
        return PeerError(error, self._reply_for(error))

    def _framing_error(self, data: bytes, pos: int, length: int) -> PeerError:
        sequence_number = None
        if len(data) - pos >= HEADER_SIZE:
            sequence_number = _LENGTH.unpack_from(data, pos + 12)[0]
        error = FramingError(
            _S.ESME_RINVCMDLEN,
            f"command_length {length} outside {HEADER_SIZE}..{self.max_pdu_size}",
            sequence_number=sequence_number,
        )
        self._enter(CLOSED)
        self._buffer.clear()
        return PeerError(error, self._reply_for(error), True)

    @staticmethod
    def _reply_for(error: PduError) -> bytes:
        """generic_nack for unparseable headers, else the request's own response carrying the status."""
        seq = error.sequence_number or 0
        cls = response_class(error.command_id) if error.command_id is not None else None
        if cls is None or error.status in (_S.ESME_RINVCMDLEN, _S.ESME_RINVCMDID):
            return encode_pdu(GenericNack(seq, error.status))
        return encode_pdu(cls(seq, error.status))
