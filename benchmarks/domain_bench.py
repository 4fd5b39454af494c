"""Micro benchmarks of the pure SMS rules: segmentation, number normalisation, rate limits."""

from __future__ import annotations

import json
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchenv import RESULTS, progress, write  # noqa: E402

from smsengine.domain import numbers  # noqa: E402
from smsengine.domain.limits import RateLimiter  # noqa: E402
from smsengine.domain.text import Scheme, compose, segment  # noqa: E402

TARGETS = {"segmentation": 200_000, "normalisation": 200_000, "limiter": 1_000_000}


def typical_texts(n: int, rng: random.Random) -> list[tuple[str, Scheme]]:
    """1–3 part messages, a mix of Chinese domestic and GSM/UCS-2 international traffic."""
    out = []
    for _ in range(n):
        k = rng.random()
        code = rng.randint(1000, 999999)
        if k < 0.35:
            body, scheme = f"您的验证码是{code}，5分钟内有效。请勿泄露给他人。", Scheme.DOMESTIC
        elif k < 0.50:
            body, scheme = "尊敬的客户，您的订单已发货，请注意查收。" * rng.randint(2, 9), Scheme.DOMESTIC
        elif k < 0.80:
            body, scheme = f"Your verification code is {code}, valid for 5 minutes.", Scheme.GSM
        elif k < 0.92:
            body, scheme = "Hello from the team, your parcel is on its way! " * rng.randint(2, 9), Scheme.GSM
        else:
            body, scheme = f"Votre code est {code} — à bientôt ✓", Scheme.GSM
        signature = "smsengine" if scheme is Scheme.DOMESTIC else "Acme"
        out.append((compose(body, signature, scheme), scheme))
    return out


def rate(fn, items, rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        fn(items)
    return len(items) * rounds / (time.perf_counter() - start)


def bench_segmentation(rng: random.Random) -> dict:
    texts = typical_texts(5_000, rng)

    def run(items):
        for text, scheme in items:
            segment(text, scheme)

    run(texts)  # warm up
    rates = [rate(run, texts, 20) for _ in range(3)]
    segs = [segment(t, s).segments for t, s in texts]
    result = {
        "messages_per_s": round(max(rates)),
        "runs": [round(r) for r in rates],
        "mean_segments": round(sum(segs) / len(segs), 3),
        "segment_histogram": {str(k): segs.count(k) for k in sorted(set(segs))},
        "target": TARGETS["segmentation"],
    }
    progress(f"segmentation: {result['messages_per_s']:,} messages/s (target {TARGETS['segmentation']:,})")
    return result


def well_formed_numbers(n: int, rng: random.Random) -> list[str]:
    """Mainland mobiles (with and without +86) and international numbers, all valid."""
    def cn() -> str:
        return "+86" + rng.choice(["138", "139", "150", "186", "177", "199", "135"]) + "%08d" % rng.randrange(10**8)

    def bare() -> str:
        return rng.choice(["138", "139", "150", "186"]) + "%08d" % rng.randrange(10**8)

    def us() -> str:
        return "+1" + rng.choice(["415", "212", "646", "310"]) + rng.choice("2345678") + "%06d" % rng.randrange(10**6)

    def gb() -> str:
        return "+447911" + "%06d" % rng.randrange(10**6)

    makers = [cn, cn, cn, bare, us, gb]
    return [rng.choice(makers)() for _ in range(n)]


def bench_normalisation(rng: random.Random) -> dict:
    # keep only valid numbers (random digits can hit unallocated ranges); this first pass
    # also builds each country's validity regex, so the timed pass sees steady state
    data = [raw for raw in well_formed_numbers(330_000, rng) if numbers.normalise(raw)][:300_000]
    numbers._normalise_slow.cache_clear()
    normalise = numbers.normalise
    start = time.perf_counter()
    out = [normalise(raw) for raw in data]
    rate_one = len(data) / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(0, len(data), 200):
        numbers.dedupe(data[i : i + 200])
    rate_dedupe = len(data) / (time.perf_counter() - start)
    result = {
        "numbers_per_s": round(rate_one),
        "dedupe_200_numbers_per_s": round(rate_dedupe),
        "distinct_numbers": len(data),
        "invalid": out.count(None),
        "slow_path_calls": numbers._normalise_slow.cache_info().misses,
        "target": TARGETS["normalisation"],
    }
    progress(f"normalisation: {result['numbers_per_s']:,} numbers/s, dedupe {result['dedupe_200_numbers_per_s']:,}/s")
    return result


def bench_limiter(rng: random.Random) -> dict:
    n = 1_000_000
    items = [("+86138%08d" % i, hash("code %d" % (i % 1000))) for i in range(n)]
    batches = [items[i : i + 200] for i in range(0, n, 200)]
    t0 = 1_700_000_000.0
    limiter = RateLimiter()
    start = time.perf_counter()
    for j, batch in enumerate(batches):
        limiter.reserve("acct", batch, t0 + j * 0.0001, False)
    admit_rate = n / (time.perf_counter() - start)
    start = time.perf_counter()
    for j, batch in enumerate(batches):
        limiter.reserve("acct", batch, t0 + 1 + j * 0.0001, False)
    refuse_rate = n / (time.perf_counter() - start)
    del limiter
    limiter = RateLimiter()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for batch in batches:
        limiter.reserve("acct", batch, t0, False)
    per_number = (tracemalloc.get_traced_memory()[0] - base) / n
    tracemalloc.stop()
    result = {
        "checks_per_s_distinct_numbers": round(admit_rate),
        "checks_per_s_all_refused": round(refuse_rate),
        "batch_size": 200,
        "tracked_numbers": n,
        "bytes_per_tracked_number": round(per_number, 1),
        "target_checks_per_s": TARGETS["limiter"],
        "target_bytes_per_number": 200,
    }
    progress(
        f"limiter: {result['checks_per_s_distinct_numbers']:,} checks/s (1M distinct numbers), "
        f"{result['checks_per_s_all_refused']:,}/s refused, {result['bytes_per_tracked_number']} B/number"
    )
    return result


CASES = {"segmentation": bench_segmentation, "normalisation": bench_normalisation, "limiter": bench_limiter}


def main(selected: list[str]) -> None:
    rng = random.Random(20261122)
    results: dict = {}
    previous = RESULTS / "domain.json"
    if selected and previous.exists():  # a partial run keeps the other cases' last figures
        results = json.loads(previous.read_text()).get("results", {})
    for name, fn in CASES.items():
        if selected and name not in selected:
            continue
        progress(f"running {name} ...")
        results[name] = fn(rng)
    write("domain", {"processes": "single process (pure functions, no I/O)", "results": results})


if __name__ == "__main__":
    main(sys.argv[1:])
