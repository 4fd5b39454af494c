"""What one run came to: every planned recipient put in exactly one final state, the reasons
mapped from the engine's status, code and remark (and the number's fate), the cost reconciled
(segments charged = segments the store recorded = segments the simulators accepted), latencies,
and the time series the report plots. The checks that must hold are listed with their figures.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import msgspec

from smsengine.domain.errors import ErrorCode
from smsengine.lab.runner import Observation

# the final states a recipient can end in, in the order the report lists them
REASONS = (
    "delivered",
    "empty",
    "powered off",
    "out of service",
    "inbox full",
    "blocked",
    "rejected",
    "expired",
    "throttled-then-failed",
    "carrier failure",
    "unsubscribed",
    "rate-limited",
    "screened out",
    "duplicate",
    "refused",
    "not final",
)
# reasons decided by the number's fate alone, whatever the engine settings (determinism checks these)
FATE_DECIDED = {"empty": "empty", "out of service": "out_of_service", "inbox full": "inbox_full",
                "blocked": "blocked"}
_RECEIPT_ERR = {"000": "delivered", "001": "empty", "011": "blocked", "013": "out of service",
                "020": "inbox full", "027": "powered off", "069": "rejected"}
_RATE_LIMITS = {ErrorCode.SOURCE_RATE_LIMITED, ErrorCode.ACCOUNT_DAILY_LIMIT, ErrorCode.SAME_CONTENT_LIMIT,
                ErrorCode.HOURLY_LIMIT, ErrorCode.DAILY_LIMIT, ErrorCode.INTERNATIONAL_DAILY_LIMIT}
_REMARK = re.compile(r"^(?P<stat>[A-Z]+) err:(?P<err>\w+)")
_FINAL = ("delivered", "failed", "expired", "cancelled")
CDF_POINTS = 200
PERCENTILES = (50, 90, 99)


def intake_reason(code: int) -> str:
    if code == ErrorCode.UNSUBSCRIBED:
        return "unsubscribed"
    if code in _RATE_LIMITS:
        return "rate-limited"
    if code == ErrorCode.EMPTY_NUMBER:
        return "screened out"
    return "refused"


def message_reason(status: str, code: int, remark: str, fate: str) -> str:
    """The final state of a stored message, in the report's words."""
    if status == "delivered":
        return "delivered"
    if status not in _FINAL:
        return "not final"
    match = _REMARK.match(remark)
    if match:  # the carrier's receipt decided
        if match["stat"] == "EXPIRED":
            return "powered off" if match["err"] == "027" or fate == "powered_off" else "expired"
        if match["stat"].startswith("REJECT"):
            return "rejected"
        return _RECEIPT_ERR.get(match["err"], "carrier failure")
    if code == ErrorCode.CARRIER_EXPIRED:
        return "powered off" if fate == "powered_off" else "expired"
    if code == ErrorCode.CARRIER_THROTTLED:
        return "throttled-then-failed"
    if code == ErrorCode.CARRIER_REJECTED:
        return "rejected"
    return "carrier failure"


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p99/max of sorted `values` in milliseconds."""
    if not values:
        return {**{f"p{p}": None for p in PERCENTILES}, "max": None}
    n = len(values)
    out: dict[str, float | None] = {f"p{p}": round(values[min(n - 1, int(p / 100 * n))] * 1000, 1)
                                    for p in PERCENTILES}
    out["max"] = round(values[-1] * 1000, 1)
    return out


def cdf(values: list[float]) -> list[tuple[float, float]]:
    """At most CDF_POINTS (milliseconds, fraction) points of sorted `values`."""
    n = len(values)
    if not n:
        return []
    step = max(1, n // CDF_POINTS)
    points = [(round(values[i] * 1000, 2), round((i + 1) / n, 4)) for i in range(0, n, step)]
    if points[-1][1] < 1.0:
        points.append((round(values[-1] * 1000, 2), 1.0))
    return points


def binned(times: list[float], span: float, width: float) -> list[tuple[float, float]]:
    """Events per second in bins of `width` seconds from 0 to `span`: (bin middle, rate)."""
    bins = max(1, math.ceil(span / width))
    counts = [0] * bins
    for t in times:
        counts[min(bins - 1, max(0, int(t / width)))] += 1
    return [(round((i + 0.5) * width, 3), round(c / width, 2)) for i, c in enumerate(counts)]


def _rates(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Per-second rates between successive (t, cumulative) points."""
    return [(round(t1, 3), round(max(0.0, v1 - v0) / (t1 - t0), 2))
            for (t0, v0), (t1, v1) in zip(points, points[1:]) if t1 > t0]


def fate_shares(observation: Observation) -> dict[str, Any]:
    """Configured share of each fate against what the simulators say of the numbers sent to, with
    the binomial z-score: (observed - expected) / sqrt(p (1 - p) / n)."""
    configured = {k: v for k, v in observation.scenario.population.fates.items() if v}
    configured["delivered"] = max(0.0, 1.0 - sum(configured.values()))
    fates = Counter(observation.fates.values())
    n = sum(fates.values())
    out: dict[str, Any] = {"numbers": n, "fates": {}}
    for fate in sorted(set(configured) | set(fates)):
        p = configured.get(fate, 0.0)
        seen = fates.get(fate, 0)
        sd = math.sqrt(p * (1 - p) / n) if n and 0 < p < 1 else 0.0
        share = seen / n if n else 0.0
        z = (share - p) / sd if sd else (0.0 if share == p else math.inf)
        out["fates"][fate] = {"configured": round(p, 6), "observed": round(share, 6), "numbers": seen,
                              "z": round(z, 2) if math.isfinite(z) else None}
    return out


def account(observation: Observation) -> dict[str, Any]:
    """Every figure of one variant run, with the checks of its accounting."""
    obs = observation
    scenario = obs.scenario
    rows = {int(r["message_id"]): r for r in obs.messages}
    reasons: Counter[str] = Counter()
    by_code: Counter[str] = Counter()
    accepted_ids: list[int] = []
    outcomes: list[dict[str, Any]] = []  # one per planned recipient that reached the engine's rules
    for request, answer in zip(obs.requests, obs.answers, strict=True):
        screened = [p for p in request.phones if obs.screened.get(p) == "empty"]
        reasons["screened out"] += len(screened)
        offered = len(request.phones) - len(screened)
        if answer.http != 200:
            if offered:
                reasons["refused"] += offered
                by_code[str(answer.code)] += offered
            continue
        reasons["duplicate"] += offered - len(answer.results)
        for phone, code, message_id, _ in answer.results:
            if code:
                reason = intake_reason(code)
                reasons[reason] += 1
                by_code[str(code)] += 1
                outcomes.append({"phone": phone, "reason": reason})
                continue
            accepted_ids.append(message_id)
    # the stored messages: each accepted id once, in its final state
    charged_segments_of: dict[int, int] = {}
    submit_latency, receipt_latency, final_latency = [], [], []
    delivered_segments = 0
    carriers_used: Counter[str] = Counter()
    for mid in accepted_ids:
        row = rows.get(mid)
        if row is None:
            reasons["not final"] += 1
            continue
        fate = obs.fates.get(row["phone"], "")
        reason = message_reason(row["status"], int(row["code"] or 0), row["remark"], fate)
        reasons[reason] += 1
        outcomes.append({"phone": row["phone"], "reason": reason, "message_id": mid})
        created = float(row["created_at"])
        submitted = float(row["submitted_at"]) if row["submitted_at"] else None
        final = float(row["final_at"]) if row["final_at"] else None
        segments = int(row["segments"])
        charged_segments_of[mid] = segments
        if reason == "delivered":
            delivered_segments += segments
        if row["carrier"]:
            carriers_used[row["carrier"]] += 1
        if submitted is not None:
            submit_latency.append(submitted - created)
            if final is not None and _REMARK.match(row["remark"]):
                receipt_latency.append(final - submitted)
        if final is not None:
            final_latency.append(final - created)
    planned = sum(len(r.phones) for r in obs.requests)
    counted = sum(reasons.values())
    export_ids = [int(r["message_id"]) for r in obs.messages]
    charged = obs.balance_start - obs.balance_end
    recorded = len(obs.segments)
    at_carriers = sum(int(c.get("accepted", 0)) for c in obs.counters.values())
    # submits a carrier accepted whose answer the engine never heard (the bind dropped with the
    # submit_sm_resp unsent): not recorded, not charged, and sent again (README "Delivery guarantees")
    recorded_ids = {(s[2], s[7]) for s in obs.segments}
    unheard = [(c, mid, dest) for c, mid, dest in obs.carrier_submits if (c, mid) not in recorded_ids]
    logged = {(c, mid) for c, mid, _ in obs.carrier_submits}
    phones_recorded = {rows[s[0]]["phone"].lstrip("+") for s in obs.segments if s[0] in rows}
    not_final = [r for r in obs.messages if r["status"] not in _FINAL]
    checks = [
        _check("every planned recipient counted once", counted == planned, f"{counted} counted, {planned} planned"),
        _check("every accepted message stored once, nothing else stored",
               sorted(export_ids) == sorted(accepted_ids) and len(set(export_ids)) == len(export_ids),
               f"{len(accepted_ids)} accepted, {len(export_ids)} exported, {len(set(export_ids))} distinct"),
        _check("every stored message final", not not_final and obs.complete,
               f"{len(not_final)} not final" + ("" if obs.complete else f"; deadline {scenario.deadline_s:g} s reached")),
        _check("segments charged = segments recorded by the engine", charged == recorded,
               f"{charged} charged, {recorded} recorded"),
        _check("every segment recorded was accepted by its carrier (submit logs)",
               all((s[2], s[7]) in logged for s in obs.segments),
               f"{sum(1 for s in obs.segments if (s[2], s[7]) in logged)} of {recorded} in the carriers' logs"),
        _check("segments the simulators accepted = charged + answers lost with a dropped bind",
               at_carriers == len(obs.carrier_submits) == charged + len(unheard)
               and all(dest in phones_recorded for _, _, dest in unheard),
               f"{at_carriers} accepted by carriers, {charged} charged, {len(unheard)} unanswered (resent)"),
    ]
    for values in (submit_latency, receipt_latency, final_latency):
        values.sort()
    t0 = obs.started_at
    span = max(obs.finished_s, max((s[3] - t0 for s in obs.segments), default=0.0)) or 1.0
    width = max(0.25, span / 80)
    throughput = {carrier: binned([s[3] - t0 for s in obs.segments if s[2] == carrier], span, width)
                  for carrier in scenario.carriers}
    samples = obs.samples
    last = samples[-1] if samples else None
    throttled_engine = {c: int(v.get("throttled", 0)) for c, v in (last.carriers if last else {}).items()}
    reason_counts = {r: reasons[r] for r in REASONS if reasons[r]}
    accepted = len(accepted_ids)
    delivered = reasons["delivered"]
    return {
        "variant": scenario.variant,
        "description": scenario.variant_description,
        "settings": msgspec.to_builtins(scenario),
        "summary": {
            "planned": planned,
            "accepted": accepted,
            "delivered": delivered,
            "delivery_rate": round(delivered / planned, 4) if planned else 0.0,
            "delivery_rate_of_accepted": round(delivered / accepted, 4) if accepted else 0.0,
            "traffic_s": round(obs.traffic_s, 2),
            "all_final_s": round(obs.finished_s, 2),
            "complete": obs.complete,
            "retries": last.retries if last else 0,
            "failovers": last.failovers if last else 0,
            "throttled": sum(throttled_engine.values()),
            "rate_limited": reasons["rate-limited"],
            "unsubscribed": reasons["unsubscribed"],
            "screened_out": reasons["screened out"],
        },
        "final_states": reason_counts,
        "intake_codes": dict(sorted(by_code.items())),
        "latency_ms": {
            "accept_to_submit": percentiles(submit_latency),
            "submit_to_receipt": percentiles(receipt_latency),
            "accept_to_final": percentiles(final_latency),
        },
        "cost": {
            "segments_charged": charged,
            "segments_recorded": recorded,
            "segments_accepted_by_carriers": at_carriers,
            "accepted_unanswered_resent": len(unheard),
            "segments_delivered": delivered_segments,
            "charged_undelivered": charged - delivered_segments,
            "by_carrier": {c: sum(1 for s in obs.segments if s[2] == c) for c in scenario.carriers},
        },
        "carriers": {
            name: {
                "messages": carriers_used.get(name, 0),
                "throttled_answers": int(obs.counters.get(name, {}).get("throttled", 0)),
                "binds": int(obs.counters.get(name, {}).get("binds", 0)),
                "drops": int(obs.counters.get(name, {}).get("drops", 0)),
                "replies_sent": int(obs.counters.get(name, {}).get("mo_sent", 0)),
            } for name in scenario.carriers
        },
        "fates": fate_shares(obs),
        "accounting": {"ok": all(c["ok"] for c in checks), "checks": checks},
        "series": {
            "throughput_per_carrier": throughput,
            "accepted": binned([float(r["created_at"]) - t0 for r in obs.messages], span, width),
            "final": binned([float(r["final_at"]) - t0 for r in obs.messages if r["final_at"]], span, width),
            "retries": _rates([(s.t, s.retries) for s in samples]),
            "failovers": _rates([(s.t, s.failovers) for s in samples]),
            "throttled": _rates([(s.t, sum(v.get("throttled", 0) for v in s.carriers.values())) for s in samples]),
            "open": [(s.t, s.open) for s in samples],
            "binds": {c: [(s.t, s.carriers.get(c, {}).get("binds", 0)) for s in samples] for c in scenario.carriers},
            "queue": {c: [(s.t, s.carriers.get(c, {}).get("queue", 0)) for s in samples] for c in scenario.carriers},
        },
        "cdf_ms": {"accept_to_submit": cdf(submit_latency), "submit_to_receipt": cdf(receipt_latency),
                   "accept_to_final": cdf(final_latency)},
        # per recipient and per number: for tests and tools, left out of report.json (REPORT_ONLY)
        "outcomes": outcomes,
        "number_fates": dict(obs.fates),
    }


# figures of `account` that stay out of report.json: one entry per recipient or number
PER_RECIPIENT = ("outcomes", "number_fates")


def _check(name: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"check": name, "ok": bool(ok), "detail": detail}

