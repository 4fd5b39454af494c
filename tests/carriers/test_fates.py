"""Per-number fates: deterministic from (seed, number), shares respected, rules forcing fates."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from carriers.config import FateRule, FateShares
from carriers.fates import Fate, FateTable, plausible_number, unit_hash

numbers = st.from_regex(r"\+?[1-9][0-9]{6,14}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), number=numbers)
def test_same_seed_and_number_give_the_same_fate(seed: int, number: str) -> None:
    shares = FateShares(empty=0.2, powered_off=0.2, blocked=0.1)
    assert FateTable(seed, shares).fate_of(number) is FateTable(seed, shares).fate_of(number)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), key=st.text(max_size=30))
def test_unit_hash_is_in_the_unit_interval(seed: int, key: str) -> None:
    assert 0.0 <= unit_hash(seed, key) < 1.0


def test_shares_are_close_to_configured() -> None:
    table = FateTable(5, FateShares(empty=0.10, powered_off=0.05, blocked=0.02))
    fates = [table.fate_of(f"86138{i:08d}") for i in range(20_000)]
    share = {fate: fates.count(fate) / len(fates) for fate in Fate}
    assert abs(share[Fate.EMPTY] - 0.10) < 0.01
    assert abs(share[Fate.POWERED_OFF] - 0.05) < 0.01
    assert abs(share[Fate.BLOCKED] - 0.02) < 0.005
    assert abs(share[Fate.DELIVERED] - 0.83) < 0.015


def test_different_seeds_give_different_assignments() -> None:
    shares = FateShares(empty=0.5)
    numbers_ = [f"1555{i:07d}" for i in range(200)]
    assert [FateTable(1, shares).fate_of(n) for n in numbers_] != [FateTable(2, shares).fate_of(n) for n in numbers_]


def test_rules_force_fates_before_shares() -> None:
    rules = [
        FateRule(fate="empty", first="8613900000000", last="8613900000999"),
        FateRule(fate="blocked", prefix="8617000"),
        FateRule(fate="powered_off", prefix="44", first="447700900000", last="447700900099"),
    ]
    table = FateTable(1, FateShares(), rules)
    assert table.fate_of("+8613900000500") is Fate.EMPTY
    assert table.fate_of("8613900001000") is Fate.DELIVERED
    assert table.fate_of("861700012345") is Fate.BLOCKED
    assert table.fate_of("447700900042") is Fate.POWERED_OFF
    assert table.fate_of("447700900100") is Fate.DELIVERED


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=20))
def test_only_plausible_numbers_get_a_subscriber_fate(text: str) -> None:
    fate = FateTable(1, FateShares()).fate_of(text) if text else Fate.INVALID_DESTINATION
    assert (fate is Fate.INVALID_DESTINATION) == (not plausible_number(text))
