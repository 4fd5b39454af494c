"""Request signatures (the legacy sig and the whole-request HMAC), time skew and replay protection."""

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsengine.domain.auth import (
    HmacAuthorization,
    ReplayGuard,
    canonical_query,
    canonical_request,
    check_time,
    hmac_signature,
    parse_authorization,
    request_sig,
    verify_hmac,
    verify_sig,
)
from smsengine.domain.errors import ErrorCode, SmsError

README_BODY = b'{"phone_numbers":["+8613800138000"],"template_id":1,"params":["1234","5"],"sign":"smsengine"}'


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


def test_a_non_ascii_sig_is_invalid_not_an_error():
    with pytest.raises(SmsError) as err:
        verify_sig("key", 1, 2, ["+8613800138000"], "é" * 64)
    assert err.value.code == ErrorCode.SIG_INVALID


# -- the whole-request HMAC -------------------------------------------------------------------------------
def test_the_readme_example_canonical_string_and_signature():
    canonical = canonical_request("POST", "/v1/sms/send", "", "demo", 1700000000, "5f2b9c1e", README_BODY)
    assert canonical == (
        "SMSENGINE-HMAC-SHA256\nPOST\n/v1/sms/send\n\ndemo\n1700000000\n5f2b9c1e\n"
        "294e45250934f058b64367c95adccc39ae2ce9b939ab8647dc00dda8dbb8a79e"
    )
    assert hashlib.sha256(README_BODY).hexdigest() == canonical.rsplit("\n", 1)[1]
    expected = hmac.new(b"demo-secret", canonical.encode(), hashlib.sha256).hexdigest()
    assert hmac_signature("demo-secret", canonical) == expected == (
        "da724d02dd5dfe3d6afc9a10184fad319bb369be1a61d64f077700e642a0ff08"
    )
    verify_hmac("demo-secret", canonical, expected.upper())


def test_canonical_query_encodes_all_but_unreserved_then_sorts():
    pairs = [("since", "0"), ("limit", "10"), ("a", "x y"), ("a", "你"), ("empty", ""), ("k~-._", "/&=+"),
             ("a-b", "1")]
    # sorted on the encoded text: "%E4..." before "x%20y", and name "a" before "a-b"
    assert canonical_query(pairs) == "a=%E4%BD%A0&a=x%20y&a-b=1&empty=&k~-._=%2F%26%3D%2B&limit=10&since=0"
    assert canonical_query([]) == ""


@pytest.mark.parametrize("change", ["method", "path", "query", "app", "time", "nonce", "body"])
def test_every_part_of_the_request_is_covered(change):
    parts = dict(method="POST", path="/v1/sms/send", query="", app_id="demo", timestamp=1700000000,
                 nonce="n1", body=README_BODY)
    signature = hmac_signature("demo-secret", canonical_request(**parts))
    altered = {"method": "PUT", "path": "/v1/sms/sendx", "query": "a=1", "app": "demo2", "time": 1700000001,
               "nonce": "n2", "body": README_BODY.replace(b"1234", b"9999")}[change]
    key = {"app": "app_id", "time": "timestamp"}.get(change, change)
    with pytest.raises(SmsError) as err:
        verify_hmac("demo-secret", canonical_request(**(parts | {key: altered})), signature)
    assert err.value.code is ErrorCode.SIG_INVALID


@pytest.mark.parametrize("signature", ["0" * 64, "é" * 64, "xyz", ""])
def test_a_wrong_or_malformed_signature_is_invalid_not_an_error(signature):
    with pytest.raises(SmsError) as err:
        verify_hmac("demo-secret", "canonical", signature)
    assert err.value.code is ErrorCode.SIG_INVALID


def test_authorization_header_is_parsed():
    header = "SMSENGINE-HMAC-SHA256 AppId=my%20app, Timestamp=1700000000, Nonce=a-b.c_d~1, Signature=ABCDEF"
    assert parse_authorization(header) == HmacAuthorization("my app", 1700000000, "a-b.c_d~1", "abcdef")
    # the algorithm name is case-insensitive, spacing around fields is not significant
    lax = "smsengine-hmac-sha256 Nonce=n,Signature=ab ,  AppId=demo,Timestamp=1"
    assert parse_authorization(lax) == HmacAuthorization("demo", 1, "n", "ab")


@pytest.mark.parametrize("header, code", [
    ("Bearer abc", ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=demo, Timestamp=1, Nonce=n", ErrorCode.SIG_MISSING),
    ("SMSENGINE-HMAC-SHA256 AppId=demo, Timestamp=1, Nonce=n, Signature=", ErrorCode.SIG_MISSING),
    ("SMSENGINE-HMAC-SHA256 Timestamp=1, Nonce=n, Signature=ab", ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=demo, Nonce=n, Signature=ab", ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=demo, Timestamp=soon, Nonce=n, Signature=ab", ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=demo, Timestamp=-1, Nonce=n, Signature=ab", ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=demo, Timestamp=1, Nonce=a b, Signature=ab", ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=demo, Timestamp=1, Nonce=" + "n" * 65 + ", Signature=ab",
     ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=demo, AppId=x, Timestamp=1, Nonce=n, Signature=ab", ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=demo, Timestamp=1, Nonce=n, Signature=ab, Extra=1", ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=%FF, Timestamp=1, Nonce=n, Signature=ab", ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=demo, Timestamp=1, Nonce=n, Signature=" + "a" * 600, ErrorCode.REQUEST_MALFORMED),
    ("SMSENGINE-HMAC-SHA256 AppId=d\udce9, Timestamp=1, Nonce=n, Signature=ab", ErrorCode.REQUEST_MALFORMED),
], ids=["other-scheme", "no-signature", "empty-signature", "no-app", "no-time", "time-not-digits",
        "negative-time", "nonce-space", "nonce-too-long", "field-twice", "unknown-field", "app-not-utf8",
        "too-long", "not-ascii"])
def test_malformed_authorization_headers(header, code):
    with pytest.raises(SmsError) as err:
        parse_authorization(header)
    assert err.value.code is code


# -- replays --------------------------------------------------------------------------------------------
def test_replay_rejected_and_memory_reclaimed():
    guard = ReplayGuard(max_skew=300)
    guard.check_and_remember("demo", "1", 1000, now=1000)
    guard.check_and_remember("demo", "2", 1000, now=1000)
    guard.check_and_remember("other", "1", 1000, now=1000)
    guard.check_and_remember("demo", "1", 1001, now=1000)  # another time is another request
    with pytest.raises(SmsError) as err:
        guard.check_and_remember("demo", "1", 1000, now=1001)
    assert err.value.code is ErrorCode.REQUEST_REPLAYED
    assert guard.tracked() == 4
    assert guard.check_and_remember("demo", "1", 5000, now=5000) == 4680  # far later: old buckets dropped
    assert guard.tracked() == 1


def test_loaded_requests_are_refused_and_the_horizon_is_inside_the_window():
    guard = ReplayGuard(max_skew=300)
    guard.remember("demo", "7", 1000)
    with pytest.raises(SmsError):
        guard.check_and_remember("demo", "7", 1000, now=1100)
    assert guard.horizon(1100) <= 1100 - 300
    assert guard.horizon(1100) > 1100 - 300 - 30  # a tenth of the window at most is kept beyond it


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 3), st.integers(0, 40), st.integers(-25, 40)),
                max_size=200))
def test_a_request_inside_the_window_is_accepted_exactly_once(events):
    """Property: with time moving forward, a (app, nonce, time) the time check lets through is
    refused iff it was accepted before, and memory holds only requests of the window and the two
    buckets before it."""
    skew, span = 20, 2
    guard = ReplayGuard(max_skew=skew)
    accepted: set[tuple[str, str, int]] = set()
    now = 1000
    for app, nonce, step, age in events:
        now += step
        request_time = now - age
        if abs(now - request_time) > skew:
            continue  # check_time refuses it before the guard is asked
        key = (app, str(nonce), request_time)
        try:
            guard.check_and_remember(app, str(nonce), request_time, now)
        except SmsError:
            assert key in accepted
        else:
            assert key not in accepted
            accepted.add(key)
        assert guard.tracked() <= len([k for k in accepted if k[2] > now - skew - 2 * span])
