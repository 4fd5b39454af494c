"""The in-memory rate limiter (SPEC §4): each rule, rollback, expiry, bounds under any timing."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsengine.domain.errors import ErrorCode
from smsengine.domain.limits import LimitPolicy, LocalCalendar, RateLimiter, SourceRateLimit

A = "+8613800138000"
B = "+8613900139000"
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
# The same-content window rounds to ticks of W/240 s and may hold a send up to 2 ticks longer.
SLACK = 2 * 30.0 / 240


def codes(limiter: RateLimiter, items, now: float, *, account: str = "acct",
          international: bool = False) -> list[int]:
    return limiter.reserve(account, items, now, international).codes


def utc(y: int, mo: int, d: int, h: int, mi: int, s: int) -> float:
    return float(calendar.timegm((y, mo, d, h, mi, s)))


def test_defaults_are_the_platform_defaults() -> None:
    policy = LimitPolicy()
    assert (policy.same_content_max, policy.same_content_window) == (1, 30.0)
    assert policy.daily_max == 10
    assert policy.hourly_max is None
    assert policy.international_daily_max == 1000


@pytest.mark.parametrize(
    ("second_at", "content", "expected"),
    [
        (T0, 1, ErrorCode.SAME_CONTENT_LIMIT),
        (T0 + 10, 1, ErrorCode.SAME_CONTENT_LIMIT),
        (T0 + 29.9, 1, ErrorCode.SAME_CONTENT_LIMIT),
        (T0 + 30 + SLACK, 1, ErrorCode.OK),
        (T0 + 45, 1, ErrorCode.OK),
        (T0 + 1, 2, ErrorCode.OK),  # different content
    ],
)
def test_same_content_window(second_at: float, content: int, expected: ErrorCode) -> None:
    limiter = RateLimiter()
    assert codes(limiter, [(A, 1)], T0) == [ErrorCode.OK]
    assert codes(limiter, [(A, content)], second_at) == [expected]


def test_same_content_window_with_a_higher_max() -> None:
    limiter = RateLimiter(default=LimitPolicy(same_content_max=2))
    assert codes(limiter, [(A, 1), (A, 1), (A, 1)], T0) == [0, 0, ErrorCode.SAME_CONTENT_LIMIT]
    assert codes(limiter, [(A, 1)], T0 + 20) == [ErrorCode.SAME_CONTENT_LIMIT]
    assert codes(limiter, [(A, 1), (A, 1), (A, 1)], T0 + 31) == [0, 0, ErrorCode.SAME_CONTENT_LIMIT]


def test_daily_limit_per_number() -> None:
    limiter = RateLimiter()
    got = [codes(limiter, [(A, k), (B, k)], T0 + k) for k in range(11)]
    assert got == [[0, 0]] * 10 + [[ErrorCode.DAILY_LIMIT, ErrorCode.DAILY_LIMIT]]
    assert codes(limiter, [(B, 99), ("+8613700137000", 99)], T0 + 20) == [ErrorCode.DAILY_LIMIT, 0]


def test_hourly_limit_is_off_by_default_and_per_local_hour_when_set() -> None:
    limiter = RateLimiter(default=LimitPolicy(hourly_max=3, utc_offset_minutes=330))
    hour_start = utc(2024, 3, 1, 10, 30, 0)  # 16:00 in UTC+5:30
    got = [codes(limiter, [(A, k)], hour_start + k)[0] for k in range(4)]
    assert got == [0, 0, 0, ErrorCode.HOURLY_LIMIT]
    assert codes(limiter, [(A, 9)], hour_start - 1) == [ErrorCode.HOURLY_LIMIT]  # clock step back
    assert codes(limiter, [(A, 9)], hour_start + 3600) == [ErrorCode.OK]


def test_international_daily_limit_per_account() -> None:
    limiter = RateLimiter(default=LimitPolicy(international_daily_max=2))
    intl = [("+14155552671", 1), ("+447911123456", 1), ("+61412345678", 1)]
    got = limiter.reserve("acct", intl, T0, international=True)
    assert got.codes == [0, 0, ErrorCode.INTERNATIONAL_DAILY_LIMIT]
    assert got.admitted == 2
    assert codes(limiter, [(A, 1)], T0) == [ErrorCode.OK]  # domestic traffic is not counted
    assert codes(limiter, intl[2:], T0, account="other", international=True) == [ErrorCode.OK]


def test_allow_listed_numbers_bypass_every_limit() -> None:
    policy = LimitPolicy(daily_max=1, hourly_max=1, international_daily_max=0,
                         allow_list=frozenset({A}))
    limiter = RateLimiter(default=policy)
    for k in range(5):
        assert codes(limiter, [(A, 1), (B, k)], T0 + k) == [
            ErrorCode.OK, ErrorCode.OK if k == 0 else ErrorCode.HOURLY_LIMIT]
    assert codes(limiter, [(A, 1)], T0, international=True) == [ErrorCode.OK]


def test_per_account_policies() -> None:
    limiter = RateLimiter(policies={"strict": LimitPolicy(daily_max=1)})
    assert codes(limiter, [(A, 1), (A, 2)], T0, account="strict") == [0, ErrorCode.DAILY_LIMIT]
    assert codes(limiter, [(A, 1), (A, 2)], T0, account="normal") == [0, 0]
    limiter.set_policy("normal", LimitPolicy(daily_max=2))
    assert codes(limiter, [(A, 3)], T0 + 1, account="normal") == [ErrorCode.DAILY_LIMIT]


def test_release_restores_capacity() -> None:
    limiter = RateLimiter(default=LimitPolicy(daily_max=1, international_daily_max=1))
    first = limiter.reserve("acct", [("+14155552671", 7), ("+447911123456", 7)], T0, True)
    assert first.codes == [0, ErrorCode.INTERNATIONAL_DAILY_LIMIT]
    assert limiter.release(first, [0, 1]) == 1  # the refused item consumed nothing
    assert limiter.release(first, [0]) == 0  # a second release gives nothing back twice
    again = limiter.reserve("acct", [("+14155552671", 7), ("+447911123456", 7)], T0 + 1, True)
    assert again.codes == [0, ErrorCode.INTERNATIONAL_DAILY_LIMIT]
    assert codes(limiter, [("+14155552671", 8)], T0 + 2) == [ErrorCode.DAILY_LIMIT]


def test_release_of_an_allow_listed_item_gives_back_nothing() -> None:
    limiter = RateLimiter(default=LimitPolicy(daily_max=1, allow_list=frozenset({A})))
    held = limiter.reserve("acct", [(B, 1)], T0, False)
    bypass = limiter.reserve("acct", [(A, 1)], T0, False)
    assert limiter.release(bypass, [0]) == 0
    assert codes(limiter, [(B, 2)], T0 + 1) == [ErrorCode.DAILY_LIMIT]
    assert held.codes == [0]


@pytest.mark.parametrize(
    ("zone", "offset"), [(None, 480), ("Asia/Shanghai", 0)]
)
def test_daily_limit_follows_the_accounts_local_day(zone: str | None, offset: int) -> None:
    limiter = RateLimiter(default=LimitPolicy(daily_max=1, utc_offset_minutes=offset,
                                              timezone=zone))
    assert codes(limiter, [(A, 1)], utc(2024, 5, 1, 15, 59, 58)) == [0]
    assert codes(limiter, [(A, 2)], utc(2024, 5, 1, 15, 59, 59)) == [ErrorCode.DAILY_LIMIT]
    # 16:00:00 UTC is midnight in UTC+8: a new local day
    assert codes(limiter, [(A, 3)], utc(2024, 5, 1, 16, 0, 0)) == [0]


def test_local_calendar_across_a_dst_change() -> None:
    new_york = LocalCalendar(zone="America/New_York")
    # 2024-03-10: clocks go from 02:00 EST to 03:00 EDT; local midnight is 05:00 UTC before,
    # 04:00 UTC after.
    assert new_york.day(utc(2024, 3, 10, 4, 59, 59)) + 1 == new_york.day(utc(2024, 3, 10, 5, 0, 0))
    assert new_york.day(utc(2024, 3, 11, 3, 59, 59)) + 1 == new_york.day(utc(2024, 3, 11, 4, 0, 0))


def test_time_going_backwards_counts_as_the_latest_time() -> None:
    limiter = RateLimiter()
    assert codes(limiter, [(A, 1)], T0 + 100) == [0]
    assert codes(limiter, [(A, 1)], T0 + 50) == [ErrorCode.SAME_CONTENT_LIMIT]
    assert codes(limiter, [(A, 1)], T0) == [ErrorCode.SAME_CONTENT_LIMIT]
    assert codes(limiter, [(A, 1)], T0 + 130 + SLACK) == [0]


def test_alarm_fires_once_when_the_threshold_is_crossed() -> None:
    fired: list[tuple[str, int, int]] = []
    limiter = RateLimiter(default=LimitPolicy(alarm_threshold=3),
                          on_alarm=lambda *event: fired.append(event))
    assert not limiter.reserve("acct", [(A, 1), (B, 1)], T0, False).alarm
    crossing = limiter.reserve("acct", [("+8613700137000", 1), ("+8613600136000", 1)], T0, False)
    assert crossing.alarm
    assert not limiter.reserve("acct", [("+8613500135000", 1)], T0, False).alarm
    assert len(fired) == 1
    account, _day, count = fired[0]
    assert (account, count) == ("acct", 4)
    next_day = limiter.reserve("acct", [(A, 2), (B, 2), ("+8613500135000", 2)], T0 + 86400, False)
    assert next_day.alarm and len(fired) == 2


def test_expired_generations_are_dropped() -> None:
    limiter = RateLimiter(default=LimitPolicy(hourly_max=5))
    items = [("+86138%08d" % i, i) for i in range(200)]
    limiter.reserve("acct", items, T0, False)
    assert limiter.tracked_entries() == 200 * 3  # same content, hourly, daily
    limiter.reserve("acct", [(A, 1)], T0 + 61, False)
    # the 30 s buckets of T0 are gone; daily and hourly counts stay within their day and hour
    assert limiter.tracked_entries() == 1 + 201 + 201
    limiter.reserve("other", items, T0, False)
    limiter.sweep(T0 + 2 * 86400)
    assert limiter.tracked_entries() == 0
    assert limiter.tracked_accounts() == 0


def test_source_rate_limit_token_bucket() -> None:
    source = SourceRateLimit(rate=1.0, burst=3.0)
    got = [source.admit("10.0.0.1", T0) for _ in range(4)]
    assert got == [ErrorCode.OK] * 3 + [ErrorCode.SOURCE_RATE_LIMITED]
    assert source.admit("10.0.0.2", T0) == ErrorCode.OK  # per source
    assert source.admit("10.0.0.1", T0 + 1) == ErrorCode.OK
    assert source.admit("10.0.0.1", T0 + 1) == ErrorCode.SOURCE_RATE_LIMITED
    assert source.admit("10.0.0.1", T0 + 1, cost=0.5) == ErrorCode.SOURCE_RATE_LIMITED
    source.admit("10.0.0.3", T0 + 100)
    assert source.tracked_sources() == 1  # idle, refilled buckets are forgotten


# --- properties ---------------------------------------------------------------------------

_numbers = st.sampled_from([A, B])
# Mostly gaps shorter than the windows under test, sometimes hours, so both the 30 s buckets
# and the day boundaries get crossed.
_gaps = st.one_of(
    st.floats(0, 40, allow_nan=False),
    st.sampled_from([0.0, 0.125, 29.5, 30.0, 3600.0, 28_800.0]),
)


@st.composite
def _events(draw, shuffled: bool):
    gaps = draw(st.lists(_gaps, max_size=60))
    times, now = [], 0.0
    for gap in gaps:
        now += gap
        times.append(now)
    if shuffled:
        times = draw(st.permutations(times))
    return [(t, draw(_numbers), draw(st.integers(0, 1))) for t in times]


def _run(policy: LimitPolicy, events):
    """Admitted (effective time, number, content) triples, effective time per the clock rule."""
    limiter = RateLimiter(default=policy)
    admitted = []
    latest = float("-inf")
    for offset, number, content in events:
        now = T0 + offset
        latest = max(latest, now)
        if limiter.reserve("acct", [(number, content)], now, False).codes == [0]:
            admitted.append((latest, number, content))
    return admitted


def _check_bounds(policy: LimitPolicy, admitted) -> None:
    window = policy.same_content_window
    for i, (t, number, content) in enumerate(admitted):
        in_window = [a for a in admitted[i:] if a[1:] == (number, content) and a[0] - t < window]
        assert len(in_window) <= policy.same_content_max
    per_day: dict[tuple[str, int], int] = {}
    for t, number, _ in admitted:
        key = (number, int((t + policy.utc_offset_minutes * 60) // 86400))
        per_day[key] = per_day.get(key, 0) + 1
        assert per_day[key] <= policy.daily_max


_policies = st.builds(
    LimitPolicy,
    same_content_max=st.integers(1, 3),
    same_content_window=st.sampled_from([30.0, 45.0, 7.0]),
    daily_max=st.integers(1, 6),
    utc_offset_minutes=st.sampled_from([0, 480, -300, 345]),
)


@settings(max_examples=150, deadline=None)
@given(_policies, _events(shuffled=False))
def test_limits_hold_for_nondecreasing_times(policy: LimitPolicy, events) -> None:
    _check_bounds(policy, _run(policy, events))


@settings(max_examples=150, deadline=None)
@given(_policies, _events(shuffled=True))
def test_limits_hold_for_any_order_of_times(policy: LimitPolicy, events) -> None:
    _check_bounds(policy, _run(policy, events))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 3, allow_nan=False), st.integers(0, 2),
                          st.integers(0, 1)), max_size=40))
def test_release_then_reserve_is_like_never_reserved(steps) -> None:
    # Reserving and releasing a batch must leave the limiter answering exactly as before.
    plain, churned = RateLimiter(default=LimitPolicy(daily_max=3)), RateLimiter(
        default=LimitPolicy(daily_max=3))
    now = T0
    for dt, number, content in steps:
        now += dt * 10
        items = [("+8613800138%03d" % number, content)]
        probe = [("+8613800138%03d" % n, c) for n in range(3) for c in range(2)]
        held = churned.reserve("acct", probe, now, False)
        churned.release(held, range(len(probe)))
        assert codes(churned, items, now) == codes(plain, items, now)


@settings(max_examples=150, deadline=None)
@given(st.floats(0.1, 10), st.floats(1, 20),
       st.lists(st.tuples(st.floats(0, 5, allow_nan=False), st.floats(0.1, 5)), max_size=50))
def test_token_bucket_never_exceeds_burst_plus_rate(rate: float, burst: float, requests) -> None:
    source = SourceRateLimit(rate=rate, burst=burst)
    now = T0
    accepted: list[tuple[float, float]] = []
    for gap, cost in requests:
        now += gap
        if source.admit("1.2.3.4", now, cost) == ErrorCode.OK:
            accepted.append((now, cost))
    for i, (start, _) in enumerate(accepted):
        for j in range(i, len(accepted)):
            end = accepted[j][0]
            total = sum(cost for _, cost in accepted[i:j + 1])
            assert total <= burst + rate * (end - start) + 1e-6
