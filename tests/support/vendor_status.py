"""A simulator behaviour for tests: a vendor-specific command_status (0x401, "try later") on the
first submit of every number, then the profile's normal behaviour."""

from __future__ import annotations

from typing import Any

from carriers.behaviour import SubmitContext, SubmitDecision
from carriers.config import CarrierProfile
from carriers.profile import ProfileBehaviour

VENDOR_TRY_LATER = 0x401


class VendorTryLater(ProfileBehaviour):
    def __init__(self, profile: CarrierProfile, options: dict[str, Any]) -> None:
        super().__init__(profile, options)
        self.seen: set[str] = set()

    def on_submit(self, ctx: SubmitContext) -> SubmitDecision:
        if ctx.destination not in self.seen:
            self.seen.add(ctx.destination)
            return SubmitDecision(VENDOR_TRY_LATER)
        return super().on_submit(ctx)
