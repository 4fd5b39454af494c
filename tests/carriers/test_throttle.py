"""The carrier-wide token bucket: never more than burst + rate * elapsed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.throttle import TokenBucket


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(1, 10_000),
    burst=st.floats(1, 500),
    gaps=st.lists(st.floats(0, 0.05), min_size=1, max_size=300),
)
def test_taken_tokens_never_exceed_the_budget(rate: float, burst: float, gaps: list[float]) -> None:
    bucket = TokenBucket(rate, burst, now=0.0)
    now = 0.0
    taken = 0
    for gap in gaps:
        now += gap
        taken += bucket.take(now)
    assert taken <= burst + rate * now + 1e-6


def test_full_bucket_gives_its_burst_then_refills_at_rate() -> None:
    bucket = TokenBucket(100.0, 10.0, now=0.0)
    assert sum(bucket.take(0.0) for _ in range(50)) == 10
    assert sum(bucket.take(0.5) for _ in range(100)) == 10  # 50 earned, capped at the burst
    assert sum(bucket.take(0.55) for _ in range(100)) == 5
