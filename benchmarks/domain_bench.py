"""Micro benchmarks of the pure SMS rules: segmentation, number normalisation, rate limits."""

from __future__ import annotations

import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchenv import progress, write  # noqa: E402

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


CASES = {"segmentation": bench_segmentation}


def main(selected: list[str]) -> None:
    rng = random.Random(20261122)
    results = {}
    for name, fn in CASES.items():
        if selected and name not in selected:
            continue
        progress(f"running {name} ...")
        results[name] = fn(rng)
    write("domain", {"processes": "single process (pure functions, no I/O)", "results": results})


if __name__ == "__main__":
    main(sys.argv[1:])
