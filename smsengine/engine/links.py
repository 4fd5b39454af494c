"""The two seams between the dispatcher and the carrier pools: what a pool reports
(`LinkEvents`, implemented by the dispatcher) and what the dispatcher drives (`Link`, implemented
by a pool). Neither side imports the other's module; the Engine (engine/services.py) wires them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from smsengine.engine.jobs import InFlight, Job


class LinkEvents(Protocol):
    """What happens on a carrier's binds, as the dispatcher needs to know it. Message ids arrive
    already normalised to correlation keys; throttling arrives only once a part exceeded its budget
    (the pool pauses and resends by itself until then)."""

    def submitted(self, carrier: str, job: Job, message_id: str, key: str) -> None:
        """The carrier accepted the PDU (submit_sm_resp OK); `key` is the id's correlation key."""

    def refused(self, carrier: str, job: Job, status: int, transient: bool) -> None:
        """The carrier answered with an error: transient ones are worth a retry."""

    def unanswered(self, carrier: str, job: Job, reason: str) -> None:
        """No usable answer in time (timeout, malformed response): counts as an attempt."""

    def stranded(self, carrier: str, jobs: list[Job]) -> None:
        """Jobs this carrier cannot carry now (its binds dropped): route them again."""

    def throttled_too_long(self, carrier: str, job: Job, waited: float) -> None:
        """The carrier kept throttling this part past its budget (`throttle_budget_s`)."""

    def receipt(self, carrier: str, key: str, destination: str, stat: str, err: str) -> bool:
        """A delivery receipt for the segment whose correlation key is `key`, sent to the number
        whose last digits are `destination` ("" when the receipt names none). False when it is
        parked: its segment is not registered yet, so nothing about it was written."""

    def reply(self, carrier: str, phone: str, text: str, complete: bool) -> asyncio.Future | None:
        """A mobile-originated message, reassembled when it came in parts (`complete` False: some
        parts never came; this is what did). None when it is recorded now; else a future done once
        it is (its sender is being looked up): its deliver_sm is answered after that."""


class Link(Protocol):
    """A carrier as the dispatcher drives it."""

    name: str
    up: bool  # some bind can submit
    max_retries: int
    retry_backoff_s: float
    supports_query_sm: bool

    def can_take(self, flight: InFlight) -> bool:
        """Whether this carrier can carry the message as it is already split: once parts went
        to carriers of one concatenation method, the rest must follow on the same method."""

    def prepare(self, flight: InFlight, cache: dict | None = None) -> None:
        """Encode `flight` for this carrier (sets its wire form, parts and carrier)."""

    def submit_many(self, jobs: Iterable[Job], front: bool = False) -> None:
        """Queue jobs (at the front for retries) and fill the send windows."""

    def resp_key(self, message_id: str) -> str:
        """The correlation key of an id as this carrier writes it in submit_sm_resp."""

    def discard_final(self) -> None:
        """Drop queued jobs of messages that ended meanwhile (their deadline passed)."""

    async def query_state(self, message_id: str) -> tuple[str, str] | None:
        """(stat, err) of a submitted message via query_sm, or None when unknown."""
