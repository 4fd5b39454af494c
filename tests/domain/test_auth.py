"""Request signatures, time skew and replay protection."""

import hashlib

import pytest

from smsengine.domain.auth import ReplayGuard, check_time, request_sig, verify_sig
from smsengine.domain.errors import ErrorCode, SmsError


def test_sig_is_sha256_of_the_documented_string():
    expected = hashlib.sha256(
        b"appkey=demo-secret&random=7&time=1700000000&mobile=+8613800138000,13900139000"
    ).hexdigest()
    assert request_sig("demo-secret", 7, 1700000000, ["+8613800138000", "13900139000"]) == expected
    verify_sig("demo-secret", 7, 1700000000, ["+8613800138000", "13900139000"], expected)
    verify_sig("demo-secret", 7, 1700000000, ["+8613800138000", "13900139000"], expected.upper())


@pytest.mark.parametrize(
    "key, random, mobiles, sig, code",
    [
        ("wrong", 7, ["+8613800138000"], None, ErrorCode.SIG_INVALID),
        ("demo-secret", 8, ["+8613800138000"], None, ErrorCode.SIG_INVALID),
        ("demo-secret", 7, ["13800138000"], None, ErrorCode.SIG_INVALID),  # numbers as given
        ("demo-secret", 7, ["+8613800138000"], "", ErrorCode.SIG_MISSING),
    ],
)
def test_bad_sigs(key, random, mobiles, sig, code):
    good = request_sig("demo-secret", 7, 1700000000, ["+8613800138000"])
    with pytest.raises(SmsError) as err:
        verify_sig(key, random, 1700000000, mobiles, good if sig is None else sig)
    assert err.value.code is code


def test_time_skew():
    check_time(1000, 1299, 300)
    check_time(1000, 701, 300)
    for now in (1301, 699):
        with pytest.raises(SmsError) as err:
            check_time(1000, now, 300)
        assert err.value.code is ErrorCode.REQUEST_TIME_INVALID


def test_replay_rejected_and_memory_reclaimed():
    guard = ReplayGuard(max_skew=300)
    guard.check_and_remember("demo", 1, 1000, now=1000)
    guard.check_and_remember("demo", 2, 1000, now=1000)
    guard.check_and_remember("other", 1, 1000, now=1000)
    with pytest.raises(SmsError) as err:
        guard.check_and_remember("demo", 1, 1000, now=1001)
    assert err.value.code is ErrorCode.REQUEST_REPLAYED
    assert guard.tracked() == 3
    guard.check_and_remember("demo", 1, 5000, now=5000)  # far later: old buckets dropped
    assert guard.tracked() == 1


def test_a_non_ascii_sig_is_invalid_not_an_error():
    with pytest.raises(SmsError) as err:
        verify_sig("key", 1, 2, ["+8613800138000"], "é" * 64)
    assert err.value.code == ErrorCode.SIG_INVALID
