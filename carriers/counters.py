"""Per-carrier counters (binds, submits by outcome, receipts by stat, MO, drops) and their Prometheus view."""

from __future__ import annotations

from collections import Counter
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from smsengine.smpp.constants import status_name


class CarrierCounters:
    """Plain integers bumped on the hot path; Prometheus reads them only when scraped."""

    __slots__ = (
        "binds",
        "bind_failures",
        "unbinds",
        "submits",
        "accepted",
        "throttled",
        "rejected",
        "fates",
        "receipts",
        "receipts_acked",
        "receipts_discarded",
        "mo_sent",
        "drops",
        "generic_nacks",
        "queries",
        "active_binds",
        "stored",
        "connections_refused",
        "bind_timeouts",
        "idle_closes",
        "bind_lockouts",
        "unwritable",
        "clicks_sent",
        "clicks_failed",
        "clicks_dropped",
    )

    def __init__(self) -> None:
        self.binds = 0
        self.bind_failures = 0
        self.unbinds = 0
        self.submits = 0  # every submit_sm and every submit_multi destination received
        self.accepted = 0
        self.throttled = 0  # ESME_RTHROTTLED answers, from the rate cap and the window
        self.rejected: Counter[int] = Counter()  # command_status -> count, every non-zero answer
        self.fates: Counter[str] = Counter()  # fate of accepted submits
        self.receipts: Counter[str] = Counter()  # stat -> receipts written to a bind
        self.receipts_acked = 0
        self.receipts_discarded = 0  # oldest stored receipts dropped when the store was full
        self.mo_sent = 0
        self.drops = 0  # connections killed by fault injection
        self.generic_nacks = 0
        self.queries = 0
        self.active_binds = 0
        self.stored = 0  # deliver_sm waiting for a receiver bind (gauge)
        self.connections_refused = 0  # closed at accept: the listener was at max_connections
        self.bind_timeouts = 0  # closed: not bound within bind_timeout_s
        self.idle_closes = 0  # closed: bound and silent for idle_timeout_s
        self.bind_lockouts = 0  # binds refused unchecked: too many failed binds from that address
        self.unwritable = 0  # receipts / MO dropped: their deliver_sm could not be built (e.g. non-ASCII address)
        self.clicks_sent = 0  # short links opened (GETs answered, whatever the status)
        self.clicks_failed = 0  # GETs of short links not answered (refused, timed out, a URL that does not parse)
        self.clicks_dropped = 0  # clicks not made: pending_max were waiting already

    def snapshot(self) -> dict[str, Any]:
        return {
            "binds": self.binds,
            "bind_failures": self.bind_failures,
            "unbinds": self.unbinds,
            "active_binds": self.active_binds,
            "submits": self.submits,
            "accepted": self.accepted,
            "throttled": self.throttled,
            "rejected": {status_name(code): n for code, n in sorted(self.rejected.items())},
            "fates": dict(sorted(self.fates.items())),
            "receipts": dict(sorted(self.receipts.items())),
            "receipts_acked": self.receipts_acked,
            "receipts_discarded": self.receipts_discarded,
            "stored": self.stored,
            "mo_sent": self.mo_sent,
            "drops": self.drops,
            "generic_nacks": self.generic_nacks,
            "queries": self.queries,
            "connections_refused": self.connections_refused,
            "bind_timeouts": self.bind_timeouts,
            "idle_closes": self.idle_closes,
            "bind_lockouts": self.bind_lockouts,
            "unwritable": self.unwritable,
            "clicks_sent": self.clicks_sent,
            "clicks_failed": self.clicks_failed,
            "clicks_dropped": self.clicks_dropped,
        }


class CountersCollector(Collector):
    """Exports one carrier's counters; register it on a registry of the server's own."""

    def __init__(self, carrier: str, counters: CarrierCounters) -> None:
        self.carrier = carrier
        self.counters = counters

    def collect(self):  # type: ignore[override]
        c, labels = self.counters, [self.carrier]

        def counter(name: str, doc: str, value: int) -> CounterMetricFamily:
            family = CounterMetricFamily(f"carrier_{name}", doc, labels=["carrier"])
            family.add_metric(labels, value)
            return family

        yield counter("binds", "Successful binds", c.binds)
        yield counter("bind_failures", "Refused binds", c.bind_failures)
        yield counter("submits", "Submits received (per destination)", c.submits)
        yield counter("accepted", "Submits accepted", c.accepted)
        yield counter("throttled", "Submits answered ESME_RTHROTTLED", c.throttled)
        yield counter("mo_sent", "Mobile-originated deliver_sm written", c.mo_sent)
        yield counter("drops", "Connections dropped by fault injection", c.drops)
        yield counter("receipts_discarded", "Stored receipts dropped because the store was full", c.receipts_discarded)
        yield counter("connections_refused", "Connections closed at accept: max_connections reached", c.connections_refused)
        yield counter("bind_timeouts", "Connections closed for not binding in time", c.bind_timeouts)
        yield counter("idle_closes", "Bound connections closed for silence", c.idle_closes)
        yield counter("bind_lockouts", "Binds refused: too many failed binds from the address", c.bind_lockouts)
        yield counter("unwritable", "Receipts and MO dropped: their deliver_sm could not be built", c.unwritable)
        yield counter("clicks_sent", "Short links opened (GETs answered)", c.clicks_sent)
        yield counter("clicks_failed", "Short link GETs not answered", c.clicks_failed)
        yield counter("clicks_dropped", "Short link clicks dropped: too many waiting", c.clicks_dropped)
        rejected = CounterMetricFamily("carrier_rejected", "Submits refused, by status", labels=["carrier", "status"])
        for code, n in c.rejected.items():
            rejected.add_metric([self.carrier, status_name(code)], n)
        yield rejected
        receipts = CounterMetricFamily("carrier_receipts", "Receipts written, by stat", labels=["carrier", "stat"])
        for stat, n in c.receipts.items():
            receipts.add_metric([self.carrier, stat], n)
        yield receipts
        fates = CounterMetricFamily("carrier_fates", "Accepted submits, by fate", labels=["carrier", "fate"])
        for fate, n in c.fates.items():
            fates.add_metric([self.carrier, fate], n)
        yield fates
        for name, doc, value in (
            ("active_binds", "Bound connections", c.active_binds),
            ("stored_deliveries", "deliver_sm waiting for a receiver bind", c.stored),
        ):
            gauge = GaugeMetricFamily(f"carrier_{name}", doc, labels=["carrier"])
            gauge.add_metric(labels, value)
            yield gauge


def registry_for(carrier: str, counters: CarrierCounters) -> CollectorRegistry:
    """A registry of this carrier's own, so several simulators in one process do not clash."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CountersCollector(carrier, counters))
    return registry
