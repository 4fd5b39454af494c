"""The admission rules without sockets: bind deadline and idle limit, failed-bind lockout (property-tested)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.admission import BindLockout, CloseReason, overdue


def test_unbound_connections_get_the_bind_deadline_and_bound_ones_the_idle_limit() -> None:
    assert overdue(False, opened_at=10.0, last_heard=14.9, now=15.0, bind_timeout_s=5.0, idle_timeout_s=120.0) \
        is CloseReason.BIND_TIMEOUT
    assert overdue(False, 10.0, 10.0, 14.9, 5.0, 120.0) is None
    assert overdue(True, 10.0, 100.0, 219.9, 5.0, 120.0) is None  # bound: the bind deadline no longer applies
    assert overdue(True, 10.0, 100.0, 220.0, 5.0, 120.0) is CloseReason.IDLE


def test_the_nth_failure_within_the_window_locks_the_address_for_the_lockout() -> None:
    lockout = BindLockout(max_failures=3, window_s=60.0, lockout_s=300.0)
    assert [lockout.failed("10.0.0.1", t) for t in (0.0, 10.0, 59.0)] == [False, False, True]
    assert lockout.locked("10.0.0.1", 60.0) and lockout.locked("10.0.0.1", 358.9)
    assert not lockout.locked("10.0.0.1", 359.0)
    assert not lockout.locked("10.0.0.2", 60.0)


def test_failures_spread_wider_than_the_window_never_lock() -> None:
    lockout = BindLockout(max_failures=3, window_s=60.0, lockout_s=300.0)
    assert not any(lockout.failed("10.0.0.1", t) for t in (0.0, 31.0, 62.0, 93.0, 124.0))
    assert not lockout.locked("10.0.0.1", 125.0)


@settings(max_examples=300, deadline=None)
@given(
    max_failures=st.integers(1, 6),
    window=st.floats(1.0, 100.0),
    lockout_s=st.floats(0.0, 500.0),
    events=st.lists(st.tuples(st.sampled_from("abc"), st.floats(0.0, 50.0)), max_size=80),
)
def test_locked_exactly_when_enough_recent_failures_say_so(
    max_failures: int, window: float, lockout_s: float, events: list[tuple[str, float]]
) -> None:
    """A reference model: failures since the last lockout began; a lockout starts at the failure that
    makes `max_failures` of them within `window`, and lasts `lockout_s`."""
    lockout = BindLockout(max_failures, window, lockout_s)
    model_failures: dict[str, list[float]] = {}
    model_until: dict[str, float] = {}
    now = 0.0
    for peer, gap in events:
        now += gap
        expected_locked = now < model_until.get(peer, float("-inf"))
        assert lockout.locked(peer, now) == expected_locked
        if expected_locked:
            continue  # the server refuses unchecked: no failure is recorded
        times = model_failures.setdefault(peer, [])
        times.append(now)
        recent = times[-max_failures:]
        starts = len(recent) == max_failures and now - recent[0] <= window
        if starts:
            model_failures[peer] = []
            if lockout_s > 0:
                model_until[peer] = now + lockout_s
        assert lockout.failed(peer, now) == (starts and lockout_s > 0)


@settings(max_examples=100, deadline=None)
@given(capacity=st.integers(1, 20), peers=st.lists(st.integers(0, 200), max_size=300))
def test_memory_stays_within_the_capacity(capacity: int, peers: list[int]) -> None:
    lockout = BindLockout(max_failures=2, window_s=1000.0, lockout_s=1000.0, capacity=capacity)
    for i, peer in enumerate(peers):
        lockout.failed(f"10.0.{peer // 256}.{peer % 256}", float(i))
        assert len(lockout) <= capacity
