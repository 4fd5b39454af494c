"""Sensitive words and neutral signature names."""

import pytest
from hypothesis import given, strategies as st

from smsengine.domain.content import DEFAULT_NEUTRAL_NAMES, SensitiveWords, check_not_neutral, neutral_names
from smsengine.domain.errors import ErrorCode, SmsError


def test_a_sensitive_word_is_found_anywhere_in_any_case():
    words = SensitiveWords(["casino", "发票", "loan now"])
    assert words.find("Win at our CASINO tonight") == "CASINO"
    assert words.find("代开发票，请联系") == "发票"
    assert words.find("Your code is 1234") is None
    with pytest.raises(SmsError) as err:
        words.check("apply for a LOAN NOW")
    assert err.value.code is ErrorCode.SENSITIVE_CONTENT and "LOAN NOW" in err.value.message


def test_no_words_match_nothing():
    assert SensitiveWords([]).find("anything at all") is None
    assert SensitiveWords(["", "  "]).find("anything") is None


@given(st.text(max_size=40), st.text(min_size=1, max_size=8).filter(str.strip))
def test_a_text_containing_a_listed_word_is_always_caught(around, word):
    assert SensitiveWords([word]).find(around + word + around) is not None


@pytest.mark.parametrize("name", ["test", "TEST", "Verification  Code", "验证码", "aabb", "1111", "abab"])
def test_neutral_names_are_refused(name):
    with pytest.raises(SmsError) as err:
        check_not_neutral(name, neutral_names(DEFAULT_NEUTRAL_NAMES))
    assert err.value.code is ErrorCode.SIGNATURE_INVALID


@pytest.mark.parametrize("name", ["smsengine", "Acme Shop", "京东", "顺丰速运", "HP", "3M", "Abba Cafe"])
def test_names_that_identify_a_sender_pass(name):
    check_not_neutral(name, neutral_names(DEFAULT_NEUTRAL_NAMES))
