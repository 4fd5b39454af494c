"""The units of dispatch: a message in flight and one segment job on a carrier queue."""

from __future__ import annotations

from smsengine.domain.text import Segmentation
from smsengine.engine.records import MessageRecord


class InFlight:
    """A message between accept and final state: its segmentation (done once, at intake), what
    was sent where, and what came back. The carrier pool writes `carrier`, `wire`, `concat`,
    `parts` and (for a long message, once) `reference` when it prepares the message for its
    binds; the dispatcher owns the rest."""

    __slots__ = (
        "record", "seg", "parts", "carrier", "reference", "wire", "concat", "submitted", "results",
        "final", "submitted_at", "unsent", "due_at", "vendor_tlvs",
    )

    def __init__(self, record: MessageRecord, seg: Segmentation) -> None:
        self.record = record
        self.seg = seg
        self.parts = record.segments  # PDUs to send: 1 when one message_payload carries them all
        self.carrier: str = ""
        self.reference: int | None = None  # concatenation reference, kept across a failover
        self.wire: list[bytes] | None = None  # per part: the submit_sm body after the destination
        self.concat: object | None = None  # the concatenation method `wire` was encoded for
        self.vendor_tlvs = b""  # the vendor TLVs (wire form) every part of `wire` ends with
        self.submitted: dict[int, tuple[str, str]] = {}  # seq → (carrier, carrier message id)
        self.results: dict[int, tuple[str, str]] = {}  # seq → (stat, err)
        self.final = False
        self.submitted_at: float | None = None
        self.unsent = record.segments  # segments reserved against the balance, not yet charged
        # when it became due to send: its deadline runs from here (dispatcher.expire_overdue)
        self.due_at = max(record.created_at, record.scheduled_at or 0.0)


class Job:
    """One PDU to submit: part `seq` of a message; `attempt` counts transient failures and timeouts."""

    __slots__ = ("inflight", "seq", "attempt", "throttled_at")

    def __init__(self, inflight: InFlight, seq: int, attempt: int = 0) -> None:
        self.inflight = inflight
        self.seq = seq
        self.attempt = attempt
        self.throttled_at = 0.0  # monotonic time of the first ESME_RTHROTTLED since it was queued

    @property
    def wanted(self) -> bool:
        """False once the message is final or this part was accepted: nothing left to send."""
        flight = self.inflight
        return not flight.final and self.seq not in flight.submitted
