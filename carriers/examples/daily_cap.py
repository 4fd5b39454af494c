"""Example plugin: a carrier that blocks a number after `per_day` messages in one (simulated) day.

    [[carriers]]
    name = "capped"
    behaviour = "carriers.examples.daily_cap:DailyCapBehaviour"
    options = { per_day = 3, mode = "receipt" }

mode "receipt" (default): over-cap messages are accepted, then fail with UNDELIV err 011 (like a
carrier blocklist: the engine's send succeeds, the receipt fails). mode "reject": they are refused
at submit with ESME_RSUBMITFAIL. Everything else is the carrier's normal profile.
"""

from __future__ import annotations

from typing import Any

from smsengine.smpp.constants import CommandStatus

from carriers.behaviour import SubmitContext, SubmitDecision
from carriers.config import CarrierProfile
from carriers.fates import OUTCOMES, Fate
from carriers.profile import ProfileBehaviour

_DAY_S = 86400.0


class DailyCapBehaviour(ProfileBehaviour):
    def __init__(self, profile: CarrierProfile, options: dict[str, Any]) -> None:
        super().__init__(profile, options)
        self.per_day = int(options.get("per_day", 10))
        self.reject = options.get("mode", "receipt") == "reject"
        self._day = -1
        self._counts: dict[str, int] = {}

    def on_submit(self, ctx: SubmitContext) -> SubmitDecision:
        decision = super().on_submit(ctx)
        if decision.status or not ctx.is_last_part:
            return decision  # count whole messages, and only those the carrier took
        # The day is measured on the simulated clock, so time_scale shortens it like every other delay.
        day = int(ctx.now / (_DAY_S * self.profile.time_scale)) if self.profile.time_scale else 0
        if day != self._day:
            self._day, self._counts = day, {}  # a new day: yesterday's counts are dropped, memory stays bounded
        count = self._counts.get(ctx.destination, 0) + 1
        self._counts[ctx.destination] = count
        if count <= self.per_day:
            return decision
        if self.reject:
            return SubmitDecision(CommandStatus.ESME_RSUBMITFAIL)
        decision.fate, decision.outcome = Fate.BLOCKED, OUTCOMES[Fate.BLOCKED]
        return decision
