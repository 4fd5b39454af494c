"""Recipient normalisation and deduplication (SPEC §2)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsengine.domain.errors import ErrorCode, MESSAGES
from smsengine.domain.numbers import (
    Region,
    dedupe,
    normalise,
    normalise_fast,
    region_of,
)


def reference(raw: str, region: str = "CN") -> str | None:
    """What phonenumbers alone says, for strings the strict gate lets through."""
    try:
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+8613800138000", "+8613800138000"),
        ("13800138000", "+8613800138000"),
        ("+14155552671", "+14155552671"),
        ("+447911123456", "+447911123456"),
        ("+61412345678", "+61412345678"),
        ("+390612345678", "+390612345678"),  # Italian leading zero: slow path
        ("+86 138 0013 8000", None),
        ("+86-138-0013-8000", None),
        ("(+86)13800138000", None),
        ("1380013800O", None),
        ("abc", None),
        ("", None),
        ("+", None),
        (" +8613800138000", None),
        ("+8613800138000 ", None),
        ("+86１３８００１３８０００", None),  # full-width digits are not ASCII digits
        ("1380013800", None),  # too short
        ("138001380001", None),  # too long
        ("+86138001380001", None),
        ("+8614000138000", None),  # 140 is not a mainland mobile range
        ("+9991234567890", None),  # no country has +999
        ("+12345", None),
    ],
)
def test_normalise_table(raw: str, expected: str | None) -> None:
    assert normalise(raw) == expected


def test_invalid_maps_to_error_1016() -> None:
    assert ErrorCode.NUMBER_INVALID == 1016
    assert ErrorCode.NUMBER_INVALID in MESSAGES


def test_bare_numbers_use_the_default_region() -> None:
    assert normalise("4155552671", default_region="US") == "+14155552671"
    assert normalise("4155552671", default_region="CN") == "+864155552671"  # a CN fixed line
    assert normalise("07911123456", default_region="GB") == "+447911123456"


def test_region_of() -> None:
    assert region_of("+8613800138000") is Region.MAINLAND
    assert region_of("+85291234567") is Region.INTERNATIONAL
    assert region_of("+14155552671") is Region.INTERNATIONAL


def test_fast_path_covers_the_common_forms() -> None:
    # The fast path is what makes throughput; if it silently stopped accepting, only speed
    # would show it. These must not need phonenumbers' parser.
    for raw in ("+8613800138000", "13800138000", "+14155552671", "+447911123456"):
        assert normalise_fast(raw) is not None, raw


def test_dedupe_mainland_forms_are_one_number() -> None:
    result = dedupe(["+8613800138000", "13800138000", "+86 138 0013 8000", "+14155552671"])
    assert result.numbers == ["+8613800138000", "+14155552671"]
    assert result.duplicates == ["13800138000"]
    assert result.invalid == ["+86 138 0013 8000"]
    assert result.raw_of["+8613800138000"] == "+8613800138000"


# Generated raw entries: mainland mobiles in both forms, international, junk, many repeats.
_mainland_nsn = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
_raw = st.one_of(
    _mainland_nsn,
    _mainland_nsn.map(lambda n: "+86" + n),
    st.sampled_from(["+14155552671", "+447911123456", "+61412345678", "+390612345678"]),
    st.sampled_from(["+86 138 0013 8000", "abc", "", "+", "+9991234567", "123"]),
    st.text(alphabet="+0123456789 -x", max_size=16),
)
_raw_lists = st.lists(st.one_of(_raw, st.sampled_from(["13800138000", "+8613800138000"])),
                      max_size=40)


@settings(max_examples=200, deadline=None)
@given(_raw_lists)
def test_dedupe_accounts_for_every_entry(raws: list[str]) -> None:
    result = dedupe(raws)
    assert len(result.numbers) + len(result.duplicates) + len(result.invalid) == len(raws)
    assert len(set(result.numbers)) == len(result.numbers)


@settings(max_examples=200, deadline=None)
@given(_raw_lists)
def test_dedupe_is_idempotent_and_keeps_first_seen_order(raws: list[str]) -> None:
    result = dedupe(raws)
    assert dedupe(result.numbers).numbers == result.numbers
    first_seen: list[str] = []
    for raw in raws:
        e164 = normalise(raw)
        if e164 is not None and e164 not in first_seen:
            first_seen.append(e164)
    assert result.numbers == first_seen


@settings(max_examples=300, deadline=None)
@given(st.one_of(_mainland_nsn, _mainland_nsn.map(lambda n: "+86" + n),
                 st.from_regex(r"\+?861[0-9]{8,11}", fullmatch=True)))
def test_fast_path_agrees_with_phonenumbers_on_mainland_numbers(raw: str) -> None:
    fast = normalise_fast(raw)
    expected = reference(raw)
    if fast is not None:
        assert fast == expected
    assert normalise(raw) == expected


_calling_codes = st.sampled_from(["1", "7", "33", "39", "44", "49", "61", "81", "86", "91",
                                  "234", "353", "358", "852", "886", "971", "998"])


@settings(max_examples=300, deadline=None)
@given(_calling_codes, st.from_regex(r"[0-9]{4,13}", fullmatch=True), st.booleans())
def test_normalise_agrees_with_phonenumbers_on_digit_strings(
    cc: str, digits: str, plus: bool
) -> None:
    raw = "+" + cc + digits if plus else digits
    assert normalise(raw) == reference(raw)
