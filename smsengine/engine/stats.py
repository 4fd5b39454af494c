"""Counters the engine's parts keep on their hot paths and metrics reads at scrape time."""

from __future__ import annotations

from collections.abc import Sized

import msgspec


class DispatchStats:
    """Messages and segments through the dispatcher. Latencies are collected in lists and taken
    in batches by the metrics (one bisect per value at scrape time, nothing per message here)."""

    __slots__ = ("segments_submitted", "finals", "finals_by_app", "submit_errors", "retries", "failovers", "expired", "held",
                 "adopted", "_inflight", "_scheduled", "_latency_submit", "_latency_final")

    def __init__(self, inflight: Sized, scheduled: Sized = ()) -> None:
        # the dispatcher's open messages, due and scheduled: counted when read, not kept
        self._inflight = inflight
        self._scheduled = scheduled
        self.expired = 0  # messages ended by their deadline
        self.held = 0  # recovered messages held for receipts before their unrecorded parts are sent
        self.adopted = 0  # parts found accepted before a crash by their receipt (not sent again)
        self.segments_submitted = 0
        self.finals: dict[str, int] = {}  # status → messages
        self.finals_by_app: dict[tuple[str, str], int] = {}  # (app id, status) → messages
        self.submit_errors: dict[int, int] = {}  # command_status → answers
        self.retries = 0
        self.failovers = 0
        self._latency_submit: list[float] = []
        self._latency_final: list[float] = []

    def submit_latency(self, seconds: float) -> None:
        self._latency_submit.append(seconds)

    def final_latency(self, seconds: float) -> None:
        self._latency_final.append(seconds)

    def take_latencies(self) -> tuple[list[float], list[float]]:
        """accept → first submit, accept → final, collected since the last call."""
        submit, self._latency_submit = self._latency_submit, []
        final, self._latency_final = self._latency_final, []
        return submit, final

    @property
    def open(self) -> int:
        """Messages accepted and not final."""
        return len(self._inflight) + len(self._scheduled)

    @property
    def finals_total(self) -> int:
        return sum(self.finals.values())


class IntakeStats:
    __slots__ = ("requests", "rejections", "alarms", "busy")

    def __init__(self) -> None:
        self.requests = 0
        self.busy = 0  # requests refused because too many messages were open (1052)
        self.rejections: dict[int, int] = {}  # error code → recipients refused
        self.alarms = 0  # accounts crossing their daily alarm threshold


class ReplyStats:
    __slots__ = ("stored", "unattributed", "unsubscribes", "incomplete")

    def __init__(self) -> None:
        self.incomplete = 0  # long replies stored with only the parts that came
        self.stored = 0
        self.unattributed = 0
        self.unsubscribes = 0


class LinkStats:
    """One carrier's binds and traffic."""

    __slots__ = ("throttled", "handler_errors", "bind_failures", "reconnects", "receipts", "replies")

    def __init__(self) -> None:
        self.throttled = 0
        self.handler_errors = 0
        self.bind_failures = 0
        self.reconnects = 0
        self.receipts = 0
        self.replies = 0

    def counters(self) -> tuple[int, int, int, int, int, int]:
        return (self.throttled, self.handler_errors, self.bind_failures, self.reconnects, self.receipts, self.replies)

    def load(self, counters: tuple[int, int, int, int, int, int]) -> None:
        """Take the counters of a carrier that runs in the carrier process."""
        (self.throttled, self.handler_errors, self.bind_failures, self.reconnects, self.receipts,
         self.replies) = counters


class BindState(msgspec.Struct, array_like=True, gc=False):
    """One bind as the console shows it."""

    index: int
    mode: str
    bound: bool
    window_used: int
    paused_s: float
    enquire_pending: bool
    idle_s: float


class CarrierState(msgspec.Struct, array_like=True, gc=False):
    """A carrier's gauges and counters, as metrics and the console read them."""

    carrier: int
    up: bool
    binds_up: int
    window_used: int
    queued: int
    binds: list[BindState] = []
    # LinkStats: throttled, handler_errors, bind_failures, reconnects, receipts, replies
    counters: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)
