"""The built-in behaviour's decisions without sockets: message type delays, sensitive words, replies."""

from __future__ import annotations

from carriers.behaviour import MoReply, SubmitContext
from carriers.config import Delays, Marketing, MoReplies
from carriers.fates import Fate
from carriers.profile import ProfileBehaviour
from smsengine.smpp.pdu import SubmitSm
from tests.carriers.carrier_harness import make_profile


def context(**fields: object) -> SubmitContext:
    pdu = SubmitSm(destination_addr="8613800138000", **fields)  # type: ignore[arg-type]
    return SubmitContext(pdu, "smsengine", pdu.destination_addr, pdu.short_message, None, 0.0)


def test_marketing_is_told_by_service_type_or_source_prefix() -> None:
    profile = make_profile(
        delays=Delays(regular=(2.0, 2.0), marketing=(120.0, 120.0)),
        marketing=Marketing(service_types=["MKT"], source_prefixes=["1069"]),
    )
    behaviour = ProfileBehaviour(profile, {})
    assert behaviour.on_submit(context(source_addr="smsengine")).receipt_delay == 2.0
    assert behaviour.on_submit(context(service_type="MKT")).receipt_delay == 120.0
    assert behaviour.on_submit(context(source_addr="10690001")).receipt_delay == 120.0


def test_sensitive_words_are_found_in_decoded_ucs2_text() -> None:
    behaviour = ProfileBehaviour(make_profile(sensitive_words=["彩票"]), {})
    decision = behaviour.on_submit(context(short_message="中奖彩票".encode("utf-16-be"), data_coding=8))
    assert decision.fate is Fate.SENSITIVE and decision.outcome.stat == "REJECTD"  # type: ignore[union-attr]
    assert behaviour.on_submit(context(short_message=b"hello")).fate is Fate.DELIVERED


def test_the_same_recipients_reply_on_every_run() -> None:
    profile = make_profile(mo=MoReplies(share=0.3))
    repliers = []
    for _ in range(2):
        behaviour = ProfileBehaviour(profile, {})
        numbers = [f"86138{i:08d}" for i in range(500)]
        repliers.append(
            [n for n in numbers if behaviour.mo_reply(ctx := context_for(n), behaviour.on_submit(ctx)) is not None]
        )
    assert repliers[0] == repliers[1]
    assert 100 < len(repliers[0]) < 200


def context_for(number: str) -> SubmitContext:
    pdu = SubmitSm(destination_addr=number)
    return SubmitContext(pdu, "smsengine", number, b"", None, 0.0)


class AlwaysReplies(ProfileBehaviour):
    def mo_reply(self, ctx, decision):  # type: ignore[no-untyped-def]
        return MoReply("OK", 0.0)


def test_the_server_is_told_whether_to_ask_for_replies() -> None:
    # mo_replies False: the server skips mo_reply on every accepted submit, so it must be False only
    # when mo_reply could never answer
    assert not ProfileBehaviour(make_profile(), {}).mo_replies
    assert ProfileBehaviour(make_profile(mo=MoReplies(share=0.1)), {}).mo_replies
    plugin = AlwaysReplies(make_profile(), {})
    assert plugin.mo_replies and plugin.mo_reply(context(), plugin.on_submit(context())) is not None
