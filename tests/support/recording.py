"""A simulator behaviour for tests: the profile's own, keeping every submit_sm it decided on, so a
test can read what the carrier received (fields and TLVs, as decoded from the wire)."""

from __future__ import annotations

from typing import Any

from carriers.behaviour import SubmitContext, SubmitDecision
from carriers.config import CarrierProfile
from carriers.profile import ProfileBehaviour
from smsengine.smpp.pdu import SubmitSm
from smsengine.smpp.vendor_tlvs import VENDOR_TAG_MAX, VENDOR_TAG_MIN


class RecordingBehaviour(ProfileBehaviour):
    def __init__(self, profile: CarrierProfile, options: dict[str, Any]) -> None:
        super().__init__(profile, options)
        self.submits: list[SubmitSm] = []

    def on_submit(self, ctx: SubmitContext) -> SubmitDecision:
        self.submits.append(ctx.pdu)
        return super().on_submit(ctx)


def vendor_tlvs(pdu: SubmitSm) -> list[tuple[int, bytes]]:
    """The vendor-specific TLVs of a submit_sm as (tag, value octets), in wire order."""
    return [(tag, value) for tag, value in pdu.tlvs.items() if VENDOR_TAG_MIN <= tag <= VENDOR_TAG_MAX]
