"""The one interface through which a simulated carrier decides things: `Behaviour`.

The server owns sockets, sessions, message ids, timers and receipt delivery. Every *decision* —
the submit_sm_resp status, a number's fate and receipt timing, whether a recipient replies, when
a connection is dropped, what a number-status lookup says — is a call on the carrier's Behaviour.

The built-in profile (`carriers.profile.ProfileBehaviour`) implements it from the TOML profile.
To plug your own, name a class in the profile and give it an options table:

    [[carriers]]
    name = "capped"
    behaviour = "carriers.examples.daily_cap:DailyCapBehaviour"
    options = { per_day = 3 }

`carriers.plugins.load_behaviour` builds the class as `cls(profile, options)`; subclassing
ProfileBehaviour and overriding one method keeps everything else of the profile. Times a
behaviour returns are in *simulated* seconds (the server multiplies them by the profile's
`time_scale`), except `response_delay`, which is real seconds on the wire.
"""

from __future__ import annotations

import abc
from typing import Any

import msgspec

from smsengine.domain import gsm7
from smsengine.smpp.pdu import SubmitSm

from carriers.config import CarrierProfile
from carriers.fates import Fate, Outcome


def decode_text(body: bytes, data_coding: int) -> str:
    """The text of a short message as a phone would show it (best effort: undecodable bytes become '?')."""
    if data_coding == 0x08:
        return body.decode("utf-16-be", "replace")
    if data_coding == 0x00:
        try:
            return gsm7.decode(body)
        except (KeyError, IndexError):
            return body.decode("latin-1")
    return body.decode("latin-1")


class SubmitContext:
    """One submit (or one destination of a submit_multi) as the behaviour sees it.

    `body` is the message content without any UDH; `part` is (reference, total, sequence) for a
    segment of a concatenated message (UDH or SAR), None otherwise."""

    __slots__ = ("pdu", "system_id", "destination", "body", "part", "now", "_text")

    def __init__(
        self,
        pdu: SubmitSm,
        system_id: str,
        destination: str,
        body: bytes,
        part: tuple[int, int, int] | None,
        now: float,
    ) -> None:
        self.pdu = pdu
        self.system_id = system_id
        self.destination = destination
        self.body = body
        self.part = part
        self.now = now  # the event loop's clock, seconds
        self._text: str | None = None

    @property
    def source(self) -> str:
        return self.pdu.source_addr

    @property
    def text(self) -> str:
        """Decoded lazily: most behaviours never look at the content."""
        if self._text is None:
            self._text = decode_text(self.body, self.pdu.data_coding)
        return self._text

    @property
    def is_last_part(self) -> bool:
        return self.part is None or self.part[2] == self.part[1]


class SubmitDecision(msgspec.Struct, gc=False):
    """What to answer a submit with. `status` 0 = accepted: then `fate`/`outcome` say how its receipt
    ends and `receipt_delay` (simulated s) when; `response_delay` (real s) delays the submit_sm_resp."""

    status: int
    fate: Fate | None = None
    outcome: Outcome | None = None
    receipt_delay: float = 0.0
    response_delay: float = 0.0


class MoReply:
    """A reply the recipient sends `delay` simulated seconds after the receipt."""

    __slots__ = ("text", "delay")

    def __init__(self, text: str, delay: float) -> None:
        self.text = text
        self.delay = delay


class LinkClick:
    """The recipient opens `url` `delay` simulated seconds after the receipt."""

    __slots__ = ("url", "delay")

    def __init__(self, url: str, delay: float) -> None:
        self.url = url
        self.delay = delay


class NumberStatus:
    __slots__ = ("number", "status", "fate")

    def __init__(self, number: str, status: str, fate: str) -> None:
        self.number = number
        self.status = status
        self.fate = fate


class Behaviour(abc.ABC):
    """A carrier's decisions. Called on the event loop for every PDU: keep the methods cheap and non-blocking."""

    # False promises drops_connection(..., per_second=False) is always False, so the server skips
    # asking on every PDU (a measurable cost at tens of thousands of PDUs a second).
    pdu_faults: bool = True

    def __init__(self, profile: CarrierProfile, options: dict[str, Any]) -> None:
        self.profile = profile
        self.options = options
        # False promises link_click is always None, so the server neither asks on every accepted
        # submit nor keeps an HTTP client for clicks
        self.link_clicks = type(self).link_click is not Behaviour.link_click
        # False promises mo_reply is always None: the server does not ask on every accepted submit
        self.mo_replies = type(self).mo_reply is not Behaviour.mo_reply

    @abc.abstractmethod
    def on_submit(self, ctx: SubmitContext) -> SubmitDecision:
        """The submit_sm_resp status and, when accepted, the message's fate and receipt timing."""

    def mo_reply(self, ctx: SubmitContext, decision: SubmitDecision) -> MoReply | None:
        """Whether the recipient of an accepted message replies (called once per message, on its last part)."""
        return None

    def link_click(self, ctx: SubmitContext, decision: SubmitDecision) -> LinkClick | None:
        """Whether the recipient of an accepted submit (one part) opens a link it carries."""
        return None

    def drops_connection(self, system_id: str, per_second: bool) -> bool:
        """Fault injection: True kills the bind. Asked per received PDU, and once a second per bind."""
        return False

    @abc.abstractmethod
    def number_status(self, number: str) -> NumberStatus:
        """What a number-status lookup (empty-number screening) says about `number`."""
