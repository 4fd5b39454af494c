"""Receipt correlation, including receipts that beat their submit_sm_resp."""

from hypothesis import given, settings, strategies as st

from smsengine.engine.correlator import ReceiptCorrelator


def test_normal_order():
    c = ReceiptCorrelator()
    assert c.register("ideal", "abc", (1, 1), now=0) is None
    assert c.match("ideal", "abc", "", "R", now=1) == (1, 1)
    assert c.pending() == 0
    assert c.match("ideal", "abc", "", "R", now=2) is None  # a duplicate receipt is parked, not matched twice


def test_receipt_before_resp_is_parked_then_delivered():
    c = ReceiptCorrelator()
    assert c.match("ideal", "x1", "", "early", now=0) is None
    assert c.parked() == 1
    assert c.register("ideal", "x1", (5, 1), now=0.01) == "early"
    assert c.parked() == 0 and c.pending() == 0 and c.matched_early == 1


def test_carriers_do_not_collide():
    c = ReceiptCorrelator()
    c.register("a", "1", "from-a", now=0)
    c.register("b", "1", "from-b", now=0)
    assert c.match("b", "1", "", "r", now=0) == "from-b"
    assert c.match("a", "1", "", "r", now=0) == "from-a"


def test_old_entries_expire_in_bulk():
    c = ReceiptCorrelator(max_age=240, park_age=40)
    for i in range(100):
        c.register("a", str(i), i, now=0)
        c.match("b", str(i), "", "r", now=0)
    assert c.pending() == 100 and c.parked() == 100
    c.register("a", "late", 1, now=10_000)
    c.match("b", "late", "", "r", now=10_000)
    assert c.pending() == 1 and c.parked() == 1


@settings(max_examples=200, deadline=None)
@given(st.permutations(list(range(30))), st.lists(st.booleans(), min_size=30, max_size=30))
def test_every_receipt_matches_exactly_once_in_any_order(order, receipt_first):
    c = ReceiptCorrelator()
    matched = []
    for i in order:
        if receipt_first[i]:
            assert c.match("k", f"id{i}", "", f"r{i}", now=1) is None
            assert c.register("k", f"id{i}", i, now=1) == f"r{i}"
            matched.append(i)
        else:
            assert c.register("k", f"id{i}", i, now=1) is None
            matched.append(c.match("k", f"id{i}", "", f"r{i}", now=1))
    assert sorted(matched) == list(range(30))
    assert c.pending() == 0 and c.parked() == 0


def _phone(value):
    return value[0]


def test_a_receipt_naming_another_number_is_parked_and_waits_for_its_own():
    c = ReceiptCorrelator(_phone)
    c.register("a", "7", ("+8613800000001", 1), now=0)
    assert c.match("a", "7", "00000002", "r2", now=1) is None  # the id again, another number
    assert c.mismatched == 1 and c.parked() == 1 and c.pending() == 1
    assert c.register("a", "7", ("+8613800000003", 1), now=2) is None  # not the parked one's number
    assert c.superseded == 1
    assert c.register("a", "7", ("+8613800000002", 1), now=3) == "r2"


def test_forget_drops_only_its_own_registration():
    c = ReceiptCorrelator(_phone)
    old, new = ("+8613800000001", 1), ("+8613800000001", 2)
    c.register("a", "7", old, now=0)
    c.register("a", "7", new, now=1)
    c.forget("a", "7", old)  # the old message's deadline passed: the newer registration stays
    assert c.match("a", "7", "", "r", now=2) == new
    c.register("a", "8", old, now=3)
    c.forget("a", "8", old)
    assert c.pending() == 0


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=50), st.integers(min_value=0, max_value=200))
def test_parked_receipts_never_exceed_their_bound(bound, flood):
    c = ReceiptCorrelator(max_parked=bound)
    for i in range(flood):
        c.match("a", f"x{i}", "", "r", now=0)
    assert c.parked() == min(bound, flood) and c.parked_dropped == max(0, flood - bound)
    if flood:  # the newest survive
        assert c.register("a", f"x{flood - 1}", 1, now=0) == "r"
