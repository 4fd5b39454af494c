"""The sans-I/O session: framing across chunk boundaries, bind states, legality per role, windows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.smpp.pdu_strategies import any_pdu

from smsengine.smpp.codec import FramingError, UnknownCommandError, decode_pdu, encode_pdu
from smsengine.smpp.constants import MAX_SEQUENCE, CommandId, CommandStatus
from smsengine.smpp.pdu import (
    PDU_CLASSES,
    AlertNotification,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    BindReceiverResp,
    BindTransceiverResp,
    BindTransmitterResp,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    response_to,
)
from smsengine.smpp.receive_buffer import ReceiveBuffer
from smsengine.smpp.session import (
    TRANSITIONS,
    IllegalPduError,
    PeerError,
    Response,
    Role,
    Session,
    SessionError,
    State,
    refusal,
)

S = CommandStatus


def bound_pair(bind=BindTransceiver) -> tuple[Session, Session]:
    """An ESME and an SMSC session that went through a successful bind."""
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    [request] = smsc.receive_data(esme.send(bind(system_id="acme", password="secret")))
    [answer] = esme.receive_data(smsc.send(response_to(request, system_id="sim")))
    assert answer.matched and esme.state is smsc.state
    return esme, smsc


def submit(n: int = 0) -> SubmitSm:
    return SubmitSm(source_addr="Acme", destination_addr=f"86138{n:08d}", short_message=b"hi %d" % n)


# ---- framing ----


@settings(max_examples=150, deadline=None)
@given(st.lists(any_pdu, min_size=1, max_size=12), st.data())
def test_any_chunking_yields_the_same_pdus(pdus, data):
    stream = b"".join(encode_pdu(p) for p in pdus)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    session = Session(Role.SMSC)
    seen = []
    for chunk in chunks:
        for event in session.receive_data(chunk):
            if isinstance(event, PeerError):
                seen.append(event.error.sequence_number)
            else:
                seen.append(event.pdu if isinstance(event, Response) else event)
    # Every PDU comes out exactly once, in order: as itself, or as the error about it (wrong state / role).
    assert len(seen) == len(pdus)
    for got, sent in zip(seen, pdus):
        assert got == sent or got == sent.sequence_number


def test_many_pdus_in_one_chunk_and_one_pdu_over_many_chunks():
    esme, smsc = bound_pair()
    stream = b"".join(esme.send(submit(i)) for i in range(500))
    events = smsc.receive_data(stream)
    assert [e.destination_addr for e in events] == [f"86138{i:08d}" for i in range(500)]
    big = SubmitSm(source_addr="Acme", tlvs={0x0424: bytes(range(256)) * 200})
    wire = esme.send(big)
    got = []
    for i in range(len(wire)):
        got += smsc.receive_data(wire[i : i + 1])
    assert got == [big]


def test_memoryview_and_bytearray_chunks_are_accepted():
    esme, smsc = bound_pair()
    wire = esme.send(submit(1))
    assert smsc.receive_data(bytearray(wire[:10])) == []
    assert smsc.receive_data(memoryview(wire)[10:]) == [decode_pdu(wire)]


def test_garbage_command_length_is_fatal_and_closes():
    smsc = Session(Role.SMSC)
    [event] = smsc.receive_data(bytes.fromhex("00000005 00000015 00000000 00000007") + b"more")
    assert isinstance(event, PeerError) and event.fatal
    assert isinstance(event.error, FramingError)
    assert decode_pdu(event.reply) == GenericNack(7, S.ESME_RINVCMDLEN)
    assert smsc.state is State.CLOSED
    assert smsc.receive_data(encode_pdu(EnquireLink(1))) == []


def test_command_length_is_checked_before_the_whole_header_arrives():
    smsc = Session(Role.SMSC, max_pdu_size=1024)
    [event] = smsc.receive_data(b"\x7f\x00\x00\x00")
    assert event.fatal and event.error.sequence_number is None
    assert decode_pdu(event.reply) == GenericNack(0, S.ESME_RINVCMDLEN)


def test_unknown_command_is_nacked_and_the_stream_goes_on():
    smsc = Session(Role.SMSC)
    unknown = bytes.fromhex("00000014 00000099 00000000 0000000C DEADBEEF")
    events = smsc.receive_data(unknown + encode_pdu(EnquireLink(13)))
    assert isinstance(events[0], PeerError) and not events[0].fatal
    assert isinstance(events[0].error, UnknownCommandError)
    assert decode_pdu(events[0].reply) == GenericNack(12, S.ESME_RINVCMDID)
    assert events[1] == EnquireLink(13)


def test_malformed_request_is_answered_with_its_own_response_and_status():
    esme, smsc = bound_pair()
    pdu = submit(1)
    wire = bytearray(esme.send(pdu))
    wire[16 + 3 : 16 + 3] = b"9" * 30  # source_addr now far past its 20 characters
    wire[:4] = len(wire).to_bytes(4, "big")
    [event] = smsc.receive_data(bytes(wire))
    assert isinstance(event, PeerError) and not event.fatal
    assert decode_pdu(event.reply) == SubmitSmResp(pdu.sequence_number, S.ESME_RINVSRCADR)
    assert smsc.unanswered_count == 0


def test_malformed_response_hands_back_the_request_context():
    esme, smsc = bound_pair()
    pdu = submit(1)
    esme.send(pdu, context="message-1")
    bad = bytes.fromhex("00000014 80000004 00000000") + pdu.sequence_number.to_bytes(4, "big") + b"abcd"
    [event] = esme.receive_data(bad)
    assert isinstance(event, PeerError) and event.reply == b"" and event.context == "message-1"
    assert esme.outstanding_count == 0


# ---- binds and states ----


@pytest.mark.parametrize(
    ("bind", "state"),
    [(BindTransmitter, State.BOUND_TX), (BindReceiver, State.BOUND_RX), (BindTransceiver, State.BOUND_TRX)],
)
def test_bind_moves_both_sides_to_the_bound_state(bind, state):
    esme, smsc = bound_pair(bind)
    assert esme.state is state and smsc.state is state and esme.is_bound


def test_failed_bind_leaves_both_sides_open():
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    [bind] = smsc.receive_data(esme.send(BindTransmitter(system_id="acme", password="wrong")))
    [answer] = esme.receive_data(smsc.send(response_to(bind, S.ESME_RINVPASWD)))
    assert answer.pdu == BindTransmitterResp(bind.sequence_number, S.ESME_RINVPASWD)
    assert esme.state is State.OPEN and smsc.state is State.OPEN
    esme.send(BindTransmitter(system_id="acme", password="right"))  # may try again


def test_second_bind_while_waiting_is_refused_locally():
    esme = Session(Role.ESME)
    esme.send(BindTransmitter())
    with pytest.raises(SessionError):
        esme.send(BindReceiver())


def test_submit_before_bind_gets_invalid_bind_status():
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    wire = encode_pdu(SubmitSm(5, source_addr="Acme"))
    [event] = smsc.receive_data(wire)
    assert decode_pdu(event.reply) == SubmitSmResp(5, S.ESME_RINVBNDSTS)
    with pytest.raises(SessionError):
        esme.send(submit())


def test_bind_when_bound_gets_already_bound():
    _, smsc = bound_pair()
    [event] = smsc.receive_data(encode_pdu(BindTransmitter(77)))
    assert decode_pdu(event.reply) == BindTransmitterResp(77, S.ESME_RALYBND)


@pytest.mark.parametrize(
    ("receiver_role", "pdu"),
    [
        (Role.ESME, SubmitSm(3)),  # only an ESME submits
        (Role.SMSC, DeliverSm(3)),  # only an SMSC delivers
        (Role.SMSC, AlertNotification(3)),
        (Role.SMSC, Outbind(3)),
        (Role.ESME, BindTransmitter(3)),
    ],
)
def test_requests_from_the_wrong_role_are_nacked(receiver_role, pdu):
    receiver = Session(receiver_role)
    receiver.state = State.BOUND_TRX if pdu.command_id != CommandId.BIND_TRANSMITTER else State.OPEN
    [event] = receiver.receive_data(encode_pdu(pdu))
    assert isinstance(event.error, IllegalPduError) and not event.fatal
    assert decode_pdu(event.reply) == GenericNack(3, S.ESME_RINVCMDID)


def test_bind_direction_decides_who_may_send_what():
    esme_tx, smsc_tx = bound_pair(BindTransmitter)
    [event] = esme_tx.receive_data(encode_pdu(DeliverSm(9)))  # a transmitter receives no deliver_sm
    assert decode_pdu(event.reply) == DeliverSmResp(9, S.ESME_RINVBNDSTS)
    with pytest.raises(SessionError):
        smsc_tx.send(DeliverSm(source_addr="1"))
    esme_rx, smsc_rx = bound_pair(BindReceiver)
    with pytest.raises(SessionError):
        esme_rx.send(submit())
    [event] = smsc_rx.receive_data(encode_pdu(DataSm(4)))  # data_sm from an ESME needs tx / trx
    assert isinstance(event, PeerError)
    assert isinstance(esme_rx.receive_data(smsc_rx.send(DataSm()))[0], DataSm)


def test_local_role_violations_raise():
    esme, smsc = bound_pair()
    with pytest.raises(SessionError):
        esme.send(DeliverSm())
    with pytest.raises(SessionError):
        smsc.send(submit())
    with pytest.raises(SessionError):
        smsc.send(BindTransmitter())


def test_outbind_then_bind_receiver():
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    [outbind] = esme.receive_data(smsc.send(Outbind(system_id="sim", password="pw")))
    assert isinstance(outbind, Outbind)
    assert smsc.outstanding_count == 0  # outbind has no response
    [bind] = smsc.receive_data(esme.send(BindReceiver(system_id="acme")))
    esme.receive_data(smsc.send(response_to(bind)))
    assert esme.state is State.BOUND_RX
    [deliver] = esme.receive_data(smsc.send(DeliverSm(short_message=b"mo")))
    assert deliver.short_message == b"mo"


def test_unbind_from_either_side():
    esme, smsc = bound_pair()
    [unbind] = smsc.receive_data(esme.send(Unbind()))
    assert isinstance(unbind, Unbind)
    [answer] = esme.receive_data(smsc.send(response_to(unbind)))
    assert answer.pdu == UnbindResp(unbind.sequence_number)
    assert esme.state is State.UNBOUND and smsc.state is State.UNBOUND
    [event] = smsc.receive_data(encode_pdu(SubmitSm(50)))
    assert decode_pdu(event.reply).command_status == S.ESME_RINVBNDSTS
    esme2, smsc2 = bound_pair()
    [unbind] = esme2.receive_data(smsc2.send(Unbind()))
    smsc2.receive_data(esme2.send(response_to(unbind)))
    assert esme2.state is State.UNBOUND and smsc2.state is State.UNBOUND


def test_enquire_link_is_legal_open_and_bound():
    esme, smsc = Session(Role.ESME), Session(Role.SMSC)
    [ping] = smsc.receive_data(esme.send(EnquireLink()))
    [pong] = esme.receive_data(smsc.send(response_to(ping)))
    assert pong.matched and pong.pdu == EnquireLinkResp(ping.sequence_number)
    esme, smsc = bound_pair()
    [ping] = esme.receive_data(smsc.send(EnquireLink()))
    assert isinstance(ping, EnquireLink)


def test_closed_session_refuses_to_send_and_reports_pending():
    esme, _ = bound_pair()
    esme.send(submit(1), context="a")
    esme.send(submit(2), context="b")
    pending = esme.close()
    assert [entry.context for _, entry in pending] == ["a", "b"]
    with pytest.raises(SessionError):
        esme.send(EnquireLink())


# ---- sequence numbers, correlation, windows ----


def test_sequence_numbers_wrap_to_one():
    session = Session(Role.ESME, first_sequence=MAX_SEQUENCE - 1)
    assert [session.next_sequence() for _ in range(4)] == [MAX_SEQUENCE - 1, MAX_SEQUENCE, 1, 2]


@settings(max_examples=50, deadline=None)
@given(st.integers(1, MAX_SEQUENCE), st.integers(1, 50))
def test_sequence_numbers_stay_in_range(first, count):
    session = Session(Role.ESME, first_sequence=first)
    numbers = [session.next_sequence() for _ in range(count)]
    assert all(1 <= n <= MAX_SEQUENCE for n in numbers)
    assert len(set(numbers)) == count


def test_send_keeps_an_explicit_sequence_number():
    esme, _ = bound_pair()
    pdu = submit()
    pdu.sequence_number = 4242
    assert decode_pdu(esme.send(pdu)).sequence_number == 4242
    assert esme.is_outstanding(4242)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(1, 10), st.randoms(use_true_random=False))
def test_window_counts_and_out_of_order_responses(sent, window, rng):
    esme, smsc = bound_pair()
    requests = []
    for i in range(sent):
        requests += smsc.receive_data(esme.send(submit(i), context=i))
    assert esme.outstanding_count == sent == smsc.unanswered_count
    assert esme.is_window_full(window) == (sent >= window)
    rng.shuffle(requests)
    answered = []
    for request in requests:
        [response] = esme.receive_data(smsc.send(response_to(request, message_id=f"m{request.sequence_number}")))
        assert response.matched and response.pdu.message_id == f"m{request.sequence_number}"
        answered.append(response.context)
    assert sorted(answered) == list(range(sent))
    assert esme.outstanding_count == 0 == smsc.unanswered_count


def test_unmatched_and_duplicate_responses_are_flagged():
    esme, smsc = bound_pair()
    [request] = smsc.receive_data(esme.send(submit(), context="x"))
    answer = smsc.send(response_to(request, message_id="m1"))
    first, again = esme.receive_data(answer + answer)
    assert first.matched and first.context == "x"
    assert not again.matched and again.context is None
    [stray] = esme.receive_data(encode_pdu(SubmitSmResp(999, 0, {}, "m9")))
    assert not stray.matched


def test_response_of_the_wrong_type_does_not_match():
    esme, smsc = bound_pair()
    [request] = smsc.receive_data(esme.send(submit(), context="x"))
    [wrong] = esme.receive_data(encode_pdu(EnquireLinkResp(request.sequence_number)))
    assert not wrong.matched and esme.outstanding_count == 1
    [nack] = esme.receive_data(encode_pdu(GenericNack(request.sequence_number, S.ESME_RSYSERR)))
    assert nack.matched and nack.context == "x"


def test_expire_returns_only_old_requests():
    esme, _ = bound_pair()
    for t in range(5):
        esme.send(submit(t), context=t, now=float(t))
    expired = esme.expire(now=10.0, timeout=8.0)
    assert [entry.context for _, entry in expired] == [0, 1, 2]
    assert esme.outstanding_count == 2


def test_a_bind_that_timed_out_can_be_retried():
    esme = Session(Role.ESME)
    esme.send(BindTransceiver(system_id="acme"), now=0.0)
    with pytest.raises(SessionError):
        esme.send(BindTransceiver(system_id="acme"), now=1.0)
    [(_, expired)] = esme.expire(now=30.0, timeout=10.0)
    assert expired.command_id == CommandId.BIND_TRANSCEIVER
    esme.send(BindTransceiver(system_id="acme"), now=31.0)
    assert esme.outstanding_count == 1


def test_acknowledge_matches_the_encoded_response():
    """The receipt hot path's shortcut answers exactly what encoding a DeliverSmResp would."""
    from smsengine.smpp.codec import encode_pdu
    from smsengine.smpp.pdu import BindTransceiver, BindTransceiverResp, DeliverSm, DeliverSmResp
    from smsengine.smpp.session import Role, Session

    esme = Session(Role.ESME)
    esme.send(BindTransceiver(system_id="a", password="b"))
    esme.receive_data(encode_pdu(BindTransceiverResp(sequence_number=1, system_id="s")))
    (event,) = esme.receive_data(encode_pdu(DeliverSm(sequence_number=77, esm_class=4, short_message=b"id:1")))
    assert esme.unanswered_count == 1
    assert esme.acknowledge(event) == encode_pdu(DeliverSmResp(sequence_number=77))
    assert esme.unanswered_count == 0


@pytest.mark.parametrize("message_id", ["", "0a1b2c3d", "7" * 64, "id-é", "x" * 65, "a\0b"])
def test_acknowledging_a_submit_answers_what_encoding_its_response_would(message_id):
    """The simulators' submit shortcut: the same bytes as a SubmitSmResp with that id, and an id
    SMPP cannot carry (over 64 octets, a NUL) refused as the general path refuses it."""
    from smsengine.smpp.codec import PduEncodeError

    esme, smsc = bound_pair()
    (event,) = smsc.receive_data(encode_pdu(SubmitSm(sequence_number=9, destination_addr="1", short_message=b"hi")))
    assert smsc.unanswered_count == 1
    if len(message_id.encode("latin-1")) > 64 or "\0" in message_id:
        with pytest.raises(PduEncodeError):
            smsc.acknowledge(event, message_id)
        return
    assert smsc.acknowledge(event, message_id) == encode_pdu(SubmitSmResp(sequence_number=9, message_id=message_id))
    assert smsc.unanswered_count == 0


def test_lenient_session_accepts_over_long_addresses_a_strict_one_refuses():
    """Real SMSCs send 21+ digit source addresses in receipts; the engine must not lose them."""
    from smsengine.smpp.codec import encode_pdu
    from smsengine.smpp.pdu import BindTransceiver, BindTransceiverResp, DeliverSm
    from smsengine.smpp.session import PeerError, Role, Session

    long_source = "8" * 24
    body = encode_pdu(DeliverSm(sequence_number=5, source_addr="x", esm_class=4, short_message=b"id:1 stat:DELIVRD"))
    # rewrite source_addr "x" to 24 digits by hand (our encoder refuses to produce it)
    raw = body.replace(b"\x00x\x00", b"\x00" + long_source.encode() + b"\x00", 1)
    raw = len(raw).to_bytes(4, "big") + raw[4:]
    outcomes = {}
    for lenient in (False, True):
        esme = Session(Role.ESME, lenient=lenient)
        esme.send(BindTransceiver(system_id="a", password="b"))
        esme.receive_data(encode_pdu(BindTransceiverResp(sequence_number=1, system_id="s")))
        (event,) = esme.receive_data(raw)
        outcomes[lenient] = event
    assert isinstance(outcomes[False], PeerError)
    assert isinstance(outcomes[True], DeliverSm) and outcomes[True].source_addr == long_source


# ---- the transition table, every combination ----

REQUESTS = sorted(cid for cid in CommandId if not cid & 0x80000000)
LIVE_STATES = [state for state in State if state is not State.CLOSED]
# SMPP 3.4 §2.3 / §2.4 written out independently of TRANSITIONS: who may send which request, and when.
BOUND = {State.BOUND_TX, State.BOUND_RX, State.BOUND_TRX}
TX, RX = {State.BOUND_TX, State.BOUND_TRX}, {State.BOUND_RX, State.BOUND_TRX}
SPEC: dict[tuple[Role, int], set[State]] = {
    **{(Role.ESME, cid): {State.OPEN} for cid in (CommandId.BIND_TRANSMITTER, CommandId.BIND_RECEIVER,
                                                  CommandId.BIND_TRANSCEIVER)},
    **{(Role.ESME, cid): TX for cid in (CommandId.SUBMIT_SM, CommandId.SUBMIT_MULTI, CommandId.DATA_SM,
                                        CommandId.QUERY_SM, CommandId.CANCEL_SM, CommandId.REPLACE_SM)},
    (Role.SMSC, CommandId.OUTBIND): {State.OPEN},
    **{(Role.SMSC, cid): RX for cid in (CommandId.DELIVER_SM, CommandId.DATA_SM, CommandId.ALERT_NOTIFICATION)},
    **{(role, CommandId.UNBIND): BOUND for role in Role},
    **{(role, CommandId.ENQUIRE_LINK): BOUND | {State.OPEN} for role in Role},
}


def other(role: Role) -> Role:
    return Role.SMSC if role is Role.ESME else Role.ESME


def test_the_table_says_what_smpp_says():
    for role in Role:
        for cid in REQUESTS:
            in_table = {state for state, moves in TRANSITIONS[role].items() if cid in moves}
            assert in_table == SPEC.get((role, cid), set()), (role, CommandId(cid).name)


@pytest.mark.parametrize("sender", list(Role))
@pytest.mark.parametrize("state", LIVE_STATES)
@pytest.mark.parametrize("command_id", REQUESTS)
def test_every_request_in_every_state(sender, state, command_id):
    """Received: legal ones come out as themselves, illegal ones as a PeerError answered with the
    right status. Sent: legal ones encode, illegal ones raise SessionError. The state never moves."""
    pdu = PDU_CLASSES[command_id](3)
    legal = state in SPEC.get((sender, command_id), set())
    receiver = Session(other(sender))
    receiver.state = state
    [event] = receiver.receive_data(encode_pdu(pdu))
    if legal:
        assert event == pdu
    else:
        assert isinstance(event, PeerError) and isinstance(event.error, IllegalPduError) and not event.fatal
        if (sender, command_id) not in SPEC:
            status, reply = S.ESME_RINVCMDID, GenericNack(3, S.ESME_RINVCMDID)
        elif command_id in (CommandId.BIND_TRANSMITTER, CommandId.BIND_RECEIVER, CommandId.BIND_TRANSCEIVER) and \
                state in BOUND:
            status, reply = S.ESME_RALYBND, response_to(pdu, S.ESME_RALYBND)
        else:
            status = S.ESME_RINVBNDSTS
            has_response = command_id not in (CommandId.OUTBIND, CommandId.ALERT_NOTIFICATION)
            reply = response_to(pdu, status) if has_response else GenericNack(3, status)
        assert event.error.status == status
        assert decode_pdu(event.reply) == reply
    assert receiver.state is state
    sender_session = Session(sender)
    sender_session.state = state
    if legal:
        assert decode_pdu(sender_session.send(PDU_CLASSES[command_id]())) == PDU_CLASSES[command_id](1)
    else:
        with pytest.raises(SessionError):
            sender_session.send(PDU_CLASSES[command_id]())
    assert sender_session.state is state


@pytest.mark.parametrize(
    ("bind", "resp", "bound"),
    [
        (BindTransmitter, BindTransmitterResp, State.BOUND_TX),
        (BindReceiver, BindReceiverResp, State.BOUND_RX),
        (BindTransceiver, BindTransceiverResp, State.BOUND_TRX),
    ],
)
def test_bind_responses_move_the_state_only_with_esme_rok(bind, resp, bound):
    for status, after in ((S.ESME_RBINDFAIL, State.OPEN), (S.ESME_ROK, bound)):
        esme, smsc = Session(Role.ESME), Session(Role.SMSC)
        [request] = smsc.receive_data(esme.send(bind(system_id="acme")))
        [answer] = esme.receive_data(smsc.send(resp(request.sequence_number, status)))
        assert answer.matched and esme.state is after and smsc.state is after
    # a bind_resp nobody asked for moves nothing
    esme = Session(Role.ESME)
    [stray] = esme.receive_data(encode_pdu(resp(5)))
    assert not stray.matched and esme.state is State.OPEN


@pytest.mark.parametrize("bind", [BindTransmitter, BindReceiver, BindTransceiver])
def test_unbind_resp_unbinds_only_with_esme_rok(bind):
    esme, smsc = bound_pair(bind)
    [unbind] = smsc.receive_data(esme.send(Unbind()))
    [answer] = esme.receive_data(smsc.send(UnbindResp(unbind.sequence_number, S.ESME_RSYSERR)))
    assert answer.matched and esme.state is bind_state(bind) and smsc.state is bind_state(bind)
    [unbind] = smsc.receive_data(esme.send(Unbind()))
    esme.receive_data(smsc.send(UnbindResp(unbind.sequence_number)))
    assert esme.state is State.UNBOUND and smsc.state is State.UNBOUND


def bind_state(bind) -> State:
    return {BindTransmitter: State.BOUND_TX, BindReceiver: State.BOUND_RX, BindTransceiver: State.BOUND_TRX}[bind]


def test_generic_nack_to_a_bind_leaves_the_session_open_and_free_to_bind_again():
    esme = Session(Role.ESME)
    wire = esme.send(BindTransceiver(system_id="acme"))
    [nack] = esme.receive_data(encode_pdu(GenericNack(decode_pdu(wire).sequence_number, S.ESME_RSYSERR)))
    assert nack.matched and esme.state is State.OPEN
    esme.send(BindTransceiver(system_id="acme"))


def test_refusal_names_the_rule():
    assert refusal(Role.ESME, State.BOUND_TRX, CommandId.DELIVER_SM)[0] == S.ESME_RINVCMDID
    assert refusal(Role.ESME, State.BOUND_RX, CommandId.BIND_RECEIVER) == (S.ESME_RALYBND, "already bound")
    status, detail = refusal(Role.ESME, State.BOUND_RX, CommandId.SUBMIT_SM)
    assert status == S.ESME_RINVBNDSTS and detail == "SubmitSm is not allowed in state bound_rx"


# ---- the receive buffer ----


def test_receive_buffer_holds_bytes_until_what_is_needed_has_arrived():
    buffer = ReceiveBuffer()
    assert buffer.pending == 0
    buffer.keep(b"xxabcd", 2, 10)
    assert buffer.pending == 4
    assert buffer.feed(b"ef") is None and buffer.pending == 6
    assert buffer.feed(b"ghij") == b"abcdefghij" and buffer.pending == 0
    buffer.keep(b"abc", 0, 16)
    buffer.clear()
    assert buffer.pending == 0


STREAM_PDUS = [
    SubmitSm(1, source_addr="Acme", destination_addr="8613800138000", short_message=b"first"),
    EnquireLink(2),
    SubmitSm(3, source_addr="Acme", destination_addr="8613800138001", short_message=b"x" * 200,
             tlvs={0x0424: b"p" * 300}),
    Unbind(4),
]
STREAM = b"".join(encode_pdu(p) for p in STREAM_PDUS)


def bound_smsc() -> Session:
    smsc = Session(Role.SMSC)
    smsc.state = State.BOUND_TRX
    return smsc


def test_a_stream_cut_at_every_byte_boundary_yields_the_same_pdus():
    for cut in range(len(STREAM) + 1):
        smsc = bound_smsc()
        events = smsc.receive_data(STREAM[:cut]) + smsc.receive_data(STREAM[cut:])
        assert events == STREAM_PDUS, cut
        assert smsc._buffer.pending == 0


def test_a_stream_fed_one_byte_at_a_time_yields_the_same_pdus():
    smsc = bound_smsc()
    events = []
    for i in range(len(STREAM)):
        events += smsc.receive_data(STREAM[i : i + 1])
        assert smsc._buffer.pending == i + 1 - sum(len(encode_pdu(p)) for p in events)
    assert events == STREAM_PDUS


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, len(STREAM)), max_size=30))
def test_a_stream_cut_anywhere_yields_the_same_pdus(cuts):
    cuts = sorted(cuts)
    smsc = bound_smsc()
    events = []
    for a, b in zip([0, *cuts], [*cuts, len(STREAM)]):
        events += smsc.receive_data(STREAM[a:b])
    assert events == STREAM_PDUS


def test_a_bad_command_length_in_a_held_tail_is_caught_once_four_bytes_are_there():
    smsc = bound_smsc()
    assert smsc.receive_data(encode_pdu(EnquireLink(1)) + b"\x00\x00") == [EnquireLink(1)]
    [event] = smsc.receive_data(b"\x00\x03")
    assert isinstance(event, PeerError) and event.fatal and smsc.state is State.CLOSED
