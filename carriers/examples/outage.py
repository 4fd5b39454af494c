"""Example plugin: a carrier that goes dark for a while — every bind dropped, new ones too — then recovers.

    [[carriers]]
    name = "primary"
    behaviour = "carriers.examples.outage:OutageBehaviour"
    options = { start_s = 30.0, duration_s = 60.0 }

The outage begins `start_s` simulated seconds after the first submit this carrier receives (so it
falls at the same point of the traffic whenever the traffic starts) and lasts `duration_s`; both
are multiplied by the profile's `time_scale` like every other delay. Meanwhile every PDU kills
its connection — a bind_transceiver as well — and the once-a-second check drops the binds that
are quiet, so no ESME stays bound. Receipts that fall due meanwhile wait in the receipt store and
go out on the first bind after. Everything else is the carrier's normal profile.
"""

from __future__ import annotations

import asyncio
from typing import Any

from carriers.behaviour import SubmitContext, SubmitDecision
from carriers.config import CarrierConfigError, CarrierProfile
from carriers.profile import ProfileBehaviour


class OutageBehaviour(ProfileBehaviour):
    def __init__(self, profile: CarrierProfile, options: dict[str, Any]) -> None:
        super().__init__(profile, options)
        try:
            start, duration = float(options.get("start_s", 30.0)), float(options.get("duration_s", 60.0))
        except (TypeError, ValueError) as exc:
            raise CarrierConfigError(f"carriers[{profile.name}].options: start_s and duration_s are seconds ({exc})")
        if start < 0 or duration < 0:
            raise CarrierConfigError(f"carriers[{profile.name}].options: start_s and duration_s must be >= 0")
        self.start_after = start * profile.time_scale
        self.duration = duration * profile.time_scale
        self.first_submit: float | None = None  # the event loop's clock, like SubmitContext.now

    def on_submit(self, ctx: SubmitContext) -> SubmitDecision:
        if self.first_submit is None:
            self.first_submit = ctx.now
        return super().on_submit(ctx)

    def dark(self) -> bool:
        """Inside the outage now (asked on the event loop, whose clock SubmitContext.now reads)."""
        if self.first_submit is None:
            return False
        since = asyncio.get_running_loop().time() - self.first_submit
        return self.start_after <= since < self.start_after + self.duration

    def drops_connection(self, system_id: str, per_second: bool) -> bool:
        return self.dark() or super().drops_connection(system_id, per_second)
