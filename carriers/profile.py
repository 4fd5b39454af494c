"""The built-in Behaviour: a carrier as described by its TOML profile (rate cap, faults, fates, delays, MO)."""

from __future__ import annotations

import random
from typing import Any

from smsengine.smpp.constants import CommandStatus

from carriers.behaviour import Behaviour, LinkClick, MoReply, NumberStatus, SubmitContext, SubmitDecision
from carriers.clicks import find_link
from carriers.config import CarrierProfile
from carriers.fates import EXPIRED, NUMBER_STATUS, OUTCOMES, Fate, FateTable, unit_hash
from carriers.latency import latency_sampler
from carriers.mo import ReplyMix
from carriers.throttle import TokenBucket

_S = CommandStatus
THROTTLED = SubmitDecision(_S.ESME_RTHROTTLED)
QUEUE_FULL = SubmitDecision(_S.ESME_RMSGQFUL)
SYSTEM_ERROR = SubmitDecision(_S.ESME_RSYSERR)
INVALID_DESTINATION = SubmitDecision(_S.ESME_RINVDSTADR, Fate.INVALID_DESTINATION)


class ProfileBehaviour(Behaviour):
    """Decisions drawn from the profile. Fates, the powered-off hold and who replies hash (seed, number),
    so they replay exactly; delays and fault injection use one RNG seeded from the profile."""

    def __init__(self, profile: CarrierProfile, options: dict[str, Any]) -> None:
        super().__init__(profile, options)
        self.rng = random.Random(profile.seed)
        self.fates = FateTable(profile.seed, profile.fates, profile.rules)
        self.latency = latency_sampler(profile.latency, self.rng)
        self.bucket: TokenBucket | None = None
        if profile.throughput_per_s > 0:
            burst = profile.throughput_burst or max(1.0, profile.throughput_per_s / 10)
            self.bucket = TokenBucket(profile.throughput_per_s, burst)
        self.sensitive_words = tuple(word.lower() for word in profile.sensitive_words)
        self.marketing_service_types = frozenset(profile.marketing.service_types)
        self.marketing_prefixes = tuple(profile.marketing.source_prefixes)
        self.replies = ReplyMix(profile.mo.mix) if profile.mo.share > 0 else None
        # A subclass that overrides drops_connection keeps being asked on every PDU.
        self.pdu_faults = profile.drop_per_pdu > 0 or type(self).drops_connection is not ProfileBehaviour.drops_connection
        self.link_clicks = profile.clicks.share > 0 or type(self).link_click is not ProfileBehaviour.link_click
        self.mo_replies = self.replies is not None or type(self).mo_reply is not ProfileBehaviour.mo_reply

    # ---- submit ----

    def on_submit(self, ctx: SubmitContext) -> SubmitDecision:
        profile = self.profile
        if self.bucket is not None and not self.bucket.take(ctx.now):
            return THROTTLED
        if profile.queue_full_rate and self.rng.random() < profile.queue_full_rate:
            return QUEUE_FULL
        if profile.system_error_rate and self.rng.random() < profile.system_error_rate:
            return SYSTEM_ERROR
        fate = self.fates.fate_of(ctx.destination)
        if fate is Fate.INVALID_DESTINATION:
            return INVALID_DESTINATION
        if self.sensitive_words and self.is_sensitive(ctx.text):
            fate = Fate.SENSITIVE
        outcome = OUTCOMES[fate]
        delays = profile.delays
        if fate is Fate.POWERED_OFF:
            low, high = delays.powered_off
            hold = low + (high - low) * unit_hash(profile.seed, "hold:" + ctx.destination)
            if hold > delays.validity:
                hold, outcome = delays.validity, EXPIRED
            delay = hold
        elif fate is Fate.POOR_RECEPTION:
            delay = self.rng.uniform(*delays.poor_reception)
        else:
            low, high = delays.marketing if self.is_marketing(ctx) else delays.regular
            delay = low if low == high else self.rng.uniform(low, high)
        return SubmitDecision(0, fate, outcome, delay, self.latency() if self.latency is not None else 0.0)

    def is_marketing(self, ctx: SubmitContext) -> bool:
        pdu = ctx.pdu
        if pdu.service_type and pdu.service_type in self.marketing_service_types:
            return True
        return bool(self.marketing_prefixes) and pdu.source_addr.startswith(self.marketing_prefixes)

    def is_sensitive(self, text: str) -> bool:
        lowered = text.lower()
        return any(word in lowered for word in self.sensitive_words)

    # ---- replies, faults, lookups ----

    def mo_reply(self, ctx: SubmitContext, decision: SubmitDecision) -> MoReply | None:
        mo = self.profile.mo
        if self.replies is None or decision.outcome is not OUTCOMES[Fate.DELIVERED]:
            return None
        if unit_hash(self.profile.seed, "mo:" + ctx.destination) >= mo.share:
            return None
        return MoReply(self.replies.choose(self.rng), self.rng.uniform(*mo.delay))

    def link_click(self, ctx: SubmitContext, decision: SubmitDecision) -> LinkClick | None:
        """A delivered message's link is opened by `clicks.share` of (number, link) pairs, after a
        delay within `clicks.delay`; both hash (seed, number, link), so runs replay."""
        clicks = self.profile.clicks
        outcome = decision.outcome
        if clicks.share <= 0 or outcome is None or not outcome.delivered:
            return None
        url = find_link(ctx.text)
        if url is None:
            return None
        seed, key = self.profile.seed, f"{ctx.destination} {url}"
        if unit_hash(seed, "click:" + key) >= clicks.share:
            return None
        low, high = clicks.delay
        return LinkClick(url, low + (high - low) * unit_hash(seed, "click-delay:" + key))

    def drops_connection(self, system_id: str, per_second: bool) -> bool:
        rate = self.profile.drop_per_s if per_second else self.profile.drop_per_pdu
        return rate > 0 and self.rng.random() < rate

    def number_status(self, number: str) -> NumberStatus:
        fate = self.fates.fate_of(number)
        return NumberStatus(number, NUMBER_STATUS[fate], fate.value)
