"""Console sessions and the throughput sampler: pure objects with an injected clock."""

from __future__ import annotations

from smsengine.console.sessions import Sessions
from smsengine.console.throughput import MINUTES, RecentFinals


def test_a_session_ends_after_idle_time_and_use_renews_it():
    sessions = Sessions(idle_s=100.0, max_sessions=10)
    s = sessions.open("demo", False, now=0.0)
    assert sessions.get(s.token, 90.0) is s  # used at 90: renewed
    assert sessions.get(s.token, 180.0) is s
    assert sessions.get(s.token, 280.1) is None  # idle for 100.1 s
    assert len(sessions) == 0


def test_tokens_are_unguessable_and_distinct_and_csrf_differs_from_the_cookie():
    sessions = Sessions(idle_s=100.0, max_sessions=1000)
    opened = [sessions.open("demo", False, 0.0) for _ in range(200)]
    assert len({s.token for s in opened}) == 200
    assert all(len(s.token) >= 40 and s.csrf != s.token for s in opened)
    assert sessions.get("not-a-token", 1.0) is None and sessions.get(None, 1.0) is None


def test_beyond_max_sessions_the_least_recently_used_is_signed_out():
    sessions = Sessions(idle_s=1000.0, max_sessions=2)
    a = sessions.open("a", False, 0.0)
    b = sessions.open("b", False, 1.0)
    sessions.get(a.token, 2.0)  # a is now the most recently used
    c = sessions.open("", True, 3.0)
    assert sessions.get(b.token, 4.0) is None
    assert sessions.get(a.token, 4.0) is a and sessions.get(c.token, 4.0) is c


def test_signing_out_and_bounded_flashes():
    sessions = Sessions(idle_s=1000.0, max_sessions=5)
    s = sessions.open("demo", False, 0.0)
    for i in range(50):
        s.flash("ok", str(i))
    assert len(s.take_flashes()) == 10 and s.take_flashes() == []
    sessions.close(s.token)
    assert sessions.get(s.token, 1.0) is None


def test_finals_per_minute_come_from_counter_deltas_per_account():
    counters: dict[tuple[str, str], int] = {("a", "delivered"): 5}
    finals = RecentFinals(lambda: counters)
    counters[("a", "delivered")] = 8
    counters[("b", "failed")] = 2
    finals.sample(60 * 100 + 10)
    counters[("a", "delivered")] = 10
    finals.sample(60 * 101 + 5)
    series = finals.series(None, 60 * 101 + 30)
    assert len(series) == MINUTES and series[-1]["minute"] == 60 * 101
    assert (series[-2]["delivered"], series[-2]["failed"], series[-1]["delivered"]) == (3, 2, 2)
    only_a = finals.series("a", 60 * 101 + 30)
    assert (only_a[-2]["failed"], only_a[-2]["delivered"]) == (0, 3)
    # an hour later the old minutes are gone
    assert sum(m["delivered"] for m in finals.series(None, 60 * 170)) == 0


def test_one_holder_cannot_sign_everybody_else_out():
    from smsengine.console.sessions import MAX_PER_HOLDER

    sessions = Sessions(idle_s=1000.0, max_sessions=MAX_PER_HOLDER + 10)
    operator = sessions.open("", True, 0.0)
    other = sessions.open("b", False, 0.0)
    first = [sessions.open("a", False, 1.0 + i) for i in range(MAX_PER_HOLDER)]
    for i in range(500):  # one key signing in again and again
        sessions.open("a", False, 100.0 + i)
    assert sessions.get(operator.token, 700.0) is operator and sessions.get(other.token, 700.0) is other
    assert all(sessions.get(s.token, 700.0) is None for s in first)  # its own oldest went
    assert len(sessions) == MAX_PER_HOLDER + 2
