"""Fuzzing the decoder and the session: garbage in, only typed errors out."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.smpp.pdu_strategies import any_pdu, pdus_of

from smsengine.smpp.codec import PduError, _decode_general, decode_frame, decode_pdu, encode_pdu
from smsengine.smpp.pdu import DeliverSm, DeliverSmResp, Pdu, SubmitSm, SubmitSmResp
from smsengine.smpp.session import PeerError, Response, Role, Session, State

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decodes_or_raises_typed(wire: bytes) -> Pdu | PduError:
    try:
        return decode_pdu(wire)
    except PduError as error:
        assert error.status > 0
        return error


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(wire):
    decodes_or_raises_typed(wire)


@st.composite
def mutated(draw, pdus=any_pdu) -> bytes:
    """A valid PDU with a few bytes flipped, cut or inserted, its command_length fixed up half the time
    so that the damage reaches the body parser instead of stopping at framing."""
    wire = bytearray(encode_pdu(draw(pdus)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        at = draw(st.integers(0, len(wire)))
        if action == "flip" and at < len(wire):
            wire[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del wire[at : at + draw(st.integers(1, 8))]
        else:
            wire[at:at] = draw(st.binary(min_size=1, max_size=8))
    if draw(st.booleans()) and len(wire) >= 4:
        wire[:4] = len(wire).to_bytes(4, "big")
    return bytes(wire)


@FUZZ
@given(mutated())
def test_mutated_pdus(wire):
    result = decodes_or_raises_typed(wire)
    if isinstance(result, Pdu):
        assert decode_pdu(encode_pdu(result)) == result


@FUZZ
@given(mutated(st.sampled_from([SubmitSm, DeliverSm, SubmitSmResp, DeliverSmResp]).flatmap(pdus_of)))
def test_fast_paths_never_accept_what_the_general_decoder_rejects(wire):
    if len(wire) < 16 or int.from_bytes(wire[:4], "big") != len(wire):
        return
    try:
        fast = decode_frame(wire, 0, len(wire))
    except PduError:
        return
    header = int.from_bytes(wire[12:16], "big"), int.from_bytes(wire[8:12], "big")
    assert fast == _decode_general(type(fast), wire, 16, len(wire), *header)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(mutated(), st.binary(max_size=40)), max_size=6), st.sampled_from(list(Role)))
def test_session_survives_garbage(chunks, role):
    session = Session(role)
    for chunk in chunks:
        for event in session.receive_data(chunk):
            assert isinstance(event, (Pdu, Response, PeerError))
            if isinstance(event, PeerError):
                if event.reply:
                    assert decode_pdu(event.reply).sequence_number == (event.error.sequence_number or 0)
                if event.fatal:
                    assert session.state is State.CLOSED
