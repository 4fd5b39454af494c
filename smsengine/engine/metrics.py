"""Prometheus metrics: counters read from the engine at scrape time (nothing on the hot path),
latency histograms filled from batches the dispatcher collects."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bisect import bisect_left

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from smsengine.engine.lifecycle import cancel_tasks

if TYPE_CHECKING:
    from smsengine.engine.daemon import Engine

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)


class _EngineCollector:
    def __init__(self, metrics: EngineMetrics) -> None:
        self.metrics = metrics

    def collect(self):
        engine = self.metrics.engine
        d = engine.dispatcher
        yield CounterMetricFamily("smsengine_requests", "send requests received", value=self.metrics.requests)
        finals = CounterMetricFamily("smsengine_messages_final", "messages reaching a final state", labels=["status"])
        for status, n in sorted(d.finals.items()):
            finals.add_metric([str(status)], n)
        yield finals
        yield GaugeMetricFamily("smsengine_messages_open", "messages accepted and not final", value=d.open_count())
        yield CounterMetricFamily("smsengine_segments_submitted", "segments accepted by carriers",
                                  value=d.segments_submitted)
        yield CounterMetricFamily("smsengine_submit_retries", "segment resends after transient errors",
                                  value=d.retries)
        yield CounterMetricFamily("smsengine_failovers", "segments moved to the route's next carrier",
                                  value=d.failovers)
        rejected = CounterMetricFamily("smsengine_recipients_rejected", "recipients refused at intake",
                                       labels=["code"])
        for code, n in sorted(engine.intake.rejections.items()):
            rejected.add_metric([str(int(code))], n)
        yield rejected
        errors = CounterMetricFamily("smsengine_carrier_errors", "submit_sm_resp error statuses",
                                     labels=["status"])
        for status, n in sorted(d.submit_errors.items()):
            errors.add_metric([f"{status:#x}"], n)
        yield errors
        queue = GaugeMetricFamily("smsengine_carrier_queue_depth", "segments waiting per carrier", labels=["carrier"])
        window = GaugeMetricFamily("smsengine_carrier_window_used", "PDUs awaiting a response", labels=["carrier"])
        binds = GaugeMetricFamily("smsengine_carrier_binds", "binds up", labels=["carrier"])
        throttled = CounterMetricFamily("smsengine_carrier_throttled", "ESME_RTHROTTLED answers", labels=["carrier"])
        receipts = CounterMetricFamily("smsengine_carrier_receipts", "delivery receipts received", labels=["carrier"])
        for name, link in d.links.items():
            queue.add_metric([name], len(link.queue))
            window.add_metric([name], link.window_used())
            binds.add_metric([name], sum(1 for b in link.binds if b.bound))
            throttled.add_metric([name], link.throttled_count)
            receipts.add_metric([name], link.receipts)
        yield from (queue, window, binds, throttled, receipts)
        yield CounterMetricFamily("smsengine_store_commits", "group commits", value=engine.store.commits)
        yield CounterMetricFamily("smsengine_unsubscribes", "numbers unsubscribed by reply", value=d.unsubscribes)
        yield CounterMetricFamily("smsengine_replies_unattributed", "replies from numbers no account sent to",
                                  value=d.unattributed_replies)
        yield CounterMetricFamily("smsengine_limit_alarms", "accounts over their alarm threshold",
                                  value=self.metrics.alarms)


class BatchHistogram:
    """A Prometheus histogram fed in batches: bisect into bucket counts, no lock per value."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.bounds = list(buckets)
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0

    def observe_many(self, values: list[float]) -> None:
        counts = self.counts
        bounds = self.bounds
        for v in values:
            counts[bisect_left(bounds, v)] += 1
        self.total += sum(values)

    def collect(self):
        family = HistogramMetricFamily(self.name, self.documentation)
        cumulative = 0
        buckets = []
        for bound, n in zip([*self.bounds, float("inf")], self.counts):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else repr(float(bound)), cumulative))
        family.add_metric([], buckets, self.total)
        yield family


class EngineMetrics:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.registry = CollectorRegistry()
        self.requests = 0
        self.alarms = 0
        self.accept_to_submit = BatchHistogram(
            "smsengine_accept_to_submit_seconds", "accept → first segment accepted by a carrier", _BUCKETS)
        self.accept_to_final = BatchHistogram("smsengine_accept_to_final_seconds", "accept → final state", _BUCKETS)
        self.registry.register(self.accept_to_submit)
        self.registry.register(self.accept_to_final)
        self.registry.register(_EngineCollector(self))
        self._task: asyncio.Task | None = None

    def drain(self) -> None:
        d = self.engine.dispatcher
        submit, d.latency_submit = d.latency_submit, []
        final, d.latency_final = d.latency_final, []
        self.accept_to_submit.observe_many(submit)
        self.accept_to_final.observe_many(final)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.drain()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="metrics-drain")

    async def stop(self) -> None:
        await cancel_tasks(self._task)

    def render(self) -> tuple[bytes, str]:
        self.drain()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
