"""Tests for signature name rules, formatting, review lifecycle and use checks (SPEC §1, §3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.review import ReviewStatus
from smsengine.domain.signatures import (
    approve_signature,
    check_signature_quota,
    check_signature_use,
    format_signature,
    new_signature,
    reject_signature,
    rename_signature,
    validate_signature_name,
)
from smsengine.domain.templates import TemplateRegion


def code_of(call, *args, **kwargs) -> ErrorCode:
    with pytest.raises(SmsError) as info:
        call(*args, **kwargs)
    return info.value.code


@pytest.mark.parametrize("name", ["腾讯云", "Acme", "Acme Bank", "阿里", "ABCDEFGHIJKL", "A1"])
def test_valid_names(name: str) -> None:
    assert validate_signature_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "A",  # too short
        "ABCDEFGHIJKLM",  # 13 characters
        "【Acme】",
        "Ac【me",
        "Acme]",
        "[Acme",
        "〖Acme〗",
        "Ac{1}",
        " Acme",  # edge whitespace is not trimmed silently
        "Acme ",
        "Ac\nme",
        "1234",  # no letter
        "!!",
    ],
)
def test_invalid_names(name: str) -> None:
    assert code_of(validate_signature_name, name) is ErrorCode.SIGNATURE_INVALID


def test_a_nul_is_invalid_and_said_where() -> None:
    with pytest.raises(SmsError) as err:
        validate_signature_name("Ac\x00me")
    assert err.value.code is ErrorCode.SIGNATURE_INVALID
    assert err.value.detail == "a NUL character (U+0000) at character 3, which no message may hold"


def test_name_length_bounds_are_configurable() -> None:
    assert validate_signature_name("A", min_length=1) == "A"
    assert code_of(validate_signature_name, "Acme", max_length=3) is ErrorCode.SIGNATURE_INVALID


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=16))
def test_validation_raises_only_signature_invalid_and_formats_one_frame(name: str) -> None:
    try:
        validate_signature_name(name)
    except SmsError as error:
        assert error.code is ErrorCode.SIGNATURE_INVALID
    else:
        framed = format_signature(name)
        assert framed.count("【") == 1 and framed.count("】") == 1
        assert framed == "【" + name + "】"


def test_format_signature() -> None:
    assert format_signature("腾讯云") == "【腾讯云】"


def test_use_requires_approval_and_mainland_requires_a_signature() -> None:
    pending = new_signature(1, "app-1", "Acme")
    approved = approve_signature(pending)
    rejected = reject_signature(pending, "not your brand")
    for region in TemplateRegion:
        assert check_signature_use(approved, region) is None
        assert code_of(check_signature_use, pending, region) is ErrorCode.SIGNATURE_NOT_APPROVED
        assert code_of(check_signature_use, rejected, region) is ErrorCode.SIGNATURE_NOT_APPROVED
    assert check_signature_use(None, TemplateRegion.INTERNATIONAL) is None
    assert code_of(check_signature_use, None, TemplateRegion.MAINLAND) is ErrorCode.SIGNATURE_NOT_APPROVED


def test_lifecycle() -> None:
    pending = new_signature(1, "app-1", "Acme")
    assert pending.status is ReviewStatus.PENDING
    assert code_of(new_signature, 2, "app-1", "【x】") is ErrorCode.SIGNATURE_INVALID
    approved = approve_signature(pending)
    assert approved.status is ReviewStatus.APPROVED
    assert code_of(rename_signature, approved, "Acme2") is ErrorCode.TEMPLATE_IMMUTABLE
    assert code_of(reject_signature, approved) is ErrorCode.TEMPLATE_IMMUTABLE
    rejected = reject_signature(pending, "not your brand")
    assert rejected.remark == "not your brand"
    assert code_of(approve_signature, rejected) is ErrorCode.NOT_FOUND
    renamed = rename_signature(rejected, "Acme Ltd")
    assert (renamed.name, renamed.status, renamed.remark) == ("Acme Ltd", ReviewStatus.PENDING, "")
    assert code_of(rename_signature, rejected, "A") is ErrorCode.SIGNATURE_INVALID


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 500), st.integers(1, 500))
def test_signature_quota(existing: int, cap: int) -> None:
    if existing < cap:
        assert check_signature_quota(existing, cap) is None
    else:
        assert code_of(check_signature_quota, existing, cap) is ErrorCode.SIGNATURE_LIMIT


def test_signature_quota_default_is_50() -> None:
    check_signature_quota(49)
    assert code_of(check_signature_quota, 50) is ErrorCode.SIGNATURE_LIMIT
