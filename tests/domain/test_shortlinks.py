"""Short link rules: codes are fixed-length base62, targets absolute printable http(s), user agents
bounded and encodable, clicks bucketed by UTC hour."""

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsengine.domain.errors import ErrorCode, SmsError
from smsengine.domain.shortlinks import (
    ALPHABET,
    CODE_LENGTH,
    HOUR,
    MAX_USER_AGENT,
    STATS_HOURS,
    check_target,
    hour_of,
    is_code,
    new_code,
    short_url,
    stats_since,
    user_agent,
)


def test_a_new_code_is_fixed_length_base62_and_url_safe():
    codes = {new_code() for _ in range(1000)}
    assert len(codes) == 1000  # 62**7 codes: a repeat in a thousand would be a broken source
    for code in codes:
        assert len(code) == CODE_LENGTH and is_code(code)
        assert set(code) <= set(ALPHABET) and code.isascii() and code.isalnum()


@given(st.text(max_size=12))
def test_is_code_takes_exactly_the_codes(text):
    expected = len(text) == CODE_LENGTH and all(c in ALPHABET for c in text)
    assert is_code(text) is expected


def test_is_code_refuses_near_misses():
    assert is_code("abcDEF1")
    for text in ("abcDEF", "abcDEF12", "abc-EF1", "abcDEF١", "abc DEF", ""):  # ١: another script's digit
        assert not is_code(text), text


@pytest.mark.parametrize("url", [
    "http://example.com", "https://shop.example.cn/p/1?utm=sms#top", "https://127.0.0.1:8443/x",
    "http://[::1]:8080/", "HTTPS://EXAMPLE.COM/", "http://ex.com/" + "a" * 2000,
])
def test_targets_that_may_be_redirected_to(url):
    assert check_target(url) == url


@pytest.mark.parametrize("url", [
    "", "example.com", "/relative/path", "ftp://example.com/file", "javascript:alert(1)", "http://",
    "http:///path", "http://ex.com/a b", "http://ex.com/\r\nSet-Cookie: x=1", "http://ex.com/\t",
    "https://例子.cn/", "http://ex.com:99999/", "http://[::1/", "http://ex.com/" + "a" * 2040,
])
def test_targets_refused_with_1004(url):
    with pytest.raises(SmsError) as err:
        check_target(url)
    assert err.value.code is ErrorCode.REQUEST_MALFORMED


@given(st.text(max_size=600))
def test_user_agent_is_bounded_and_always_encodable(header):
    kept = user_agent(header)
    assert len(kept) == min(len(header), MAX_USER_AGENT)
    msgspec.json.encode(kept)  # what the store's batch insert does with it: must not raise
    if not any(0xD800 <= ord(c) <= 0xDFFF for c in header[:MAX_USER_AGENT]):
        assert kept == header[:MAX_USER_AGENT]  # valid text is kept as it came


def test_a_header_that_was_not_utf8_keeps_a_question_mark():
    assert user_agent("Mozilla/5.0 \udcff\udcfe") == "Mozilla/5.0 ??"


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_a_click_falls_in_the_utc_hour_that_starts_at_its_bucket(at):
    hour = hour_of(at)
    assert hour % HOUR == 0 and hour <= at < hour + HOUR


@given(st.floats(min_value=1e6, max_value=4e9, allow_nan=False))
def test_stats_cover_the_current_hour_and_the_ones_before_for_seven_days(now):
    since = stats_since(now)
    assert since % HOUR == 0
    assert (hour_of(now) - since) // HOUR + 1 == STATS_HOURS == 7 * 24
    assert now - since < 7 * 86400


def test_the_short_url_is_the_base_then_s_then_the_code():
    assert short_url("http://127.0.0.1:8080", "abcDEF1") == "http://127.0.0.1:8080/s/abcDEF1"
    assert short_url("https://t.example.cn/go/", "abcDEF1") == "https://t.example.cn/go/s/abcDEF1"
